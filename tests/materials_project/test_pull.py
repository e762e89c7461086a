"""``curate pull mp`` against a local MP server (real MPRester) and a local Delta table of real ionic steps."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pyarrow.compute as pc
import pytest
from click.testing import CliRunner

from curate.cli import main
from curate.dataset.store import Dataset
from curate.errors import ConfigurationError
from curate.materials_project.client import RemoteError, RetryPolicy
from curate.materials_project.frames import FramePolicy
from curate.materials_project.pull import PullOptions, PullQuery, pull
from curate.sources.ingest import import_paths

from .conftest import API_KEY, DEPRECATED_TASK, LU_TASK, TASK_FILES, MPWorld
from .fake_mp_server import FakeMP, Fault

ALL = PullQuery(chemsys=("As-O-S", "Si", "Co-La-O", "Lu"))
KEEP_ALL = FramePolicy(0.0, 0.0)
# The four materials: As2SO6 (3 GGA relaxations of 90 + 71 + 24 steps, 2 statics; a third static, mp-efthw, is
# deprecated), Si (1 relaxation of 4 steps, 2 statics), La2CoO4 (1 GGA+U static), Lu (1 r2SCAN relaxation of
# 6 steps): 10 tasks, 194 GGA(+U) frames + 6 r2SCAN frames.


def options(fake: FakeMP, world: MPWorld, policy: FramePolicy = KEEP_ALL, **kw: object) -> PullOptions:
    return PullOptions(
        endpoint=fake.url,
        trajectories_uri=world.trajectory_uri,
        policy=policy,
        retry=RetryPolicy(attempts=4, backoff_s=0.05),
        **kw,  # type: ignore[arg-type]
    )


def imported_ids(shared_data: Path, tmp_path: Path, task_ids: set[str]) -> set[str]:
    """Ids of ``curate import mp-tasks`` (and ``import vasp`` for Lu) of the same documents, for ``task_ids``."""
    import_paths([shared_data / "emmet" / n for n in TASK_FILES], format_name="mp-tasks", out=tmp_path / "imp")
    table = Dataset.open(tmp_path / "imp").read(columns=["id", "task_id"])
    keep = pc.is_in(table.column("task_id"), value_set=__import__("pyarrow").array(sorted(task_ids)))
    ids = set(table.filter(keep).column("id").to_pylist())
    import_paths([shared_data / "vasp" / "r2scan_relax_Lu3"], format_name="vasp", out=tmp_path / "lu")
    return ids | Dataset.open(tmp_path / "lu").ids()


def test_pull_gives_the_same_rows_as_import(fake_mp: FakeMP, mp_world: MPWorld, shared_data: Path, tmp_path: Path):
    report = pull(ALL, tmp_path / "ds", api_key=API_KEY, options=options(fake_mp, mp_world))
    dataset = Dataset.open(tmp_path / "ds")
    columns = ["id", "task_id", "material_id", "pair_id", "functional", "hubbard_u", "energy_field", "magmoms"]
    table = dataset.read(columns=columns)
    pulled_tasks = set(table.column("task_id").to_pylist())
    assert DEPRECATED_TASK not in pulled_tasks and report.deprecated_skipped == 1
    assert report.materials == 4 and report.tasks_planned == 10 and report.quarantined == 0
    expected = imported_ids(shared_data, tmp_path, pulled_tasks - {LU_TASK})
    assert set(table.column("id").to_pylist()) == expected
    assert dataset.num_rows == len(expected) == 194 + 6
    rows = table.to_pylist()
    assert all(r["pair_id"] == r["material_id"] for r in rows)
    assert all(r["energy_field"] == "e_fr_energy" for r in rows)
    functionals = {r["functional"] for r in rows}
    assert functionals == {"PBE", "PBE+U", "r2SCAN"}
    plus_u = [r for r in rows if r["functional"] == "PBE+U"]
    assert len(plus_u) == 1 and {d["element"]: d["u_ev"] for d in plus_u[0]["hubbard_u"]} == {"Co": 3.32}
    assert plus_u[0]["magmoms"][:4] == [-0.008, 0.008, -0.008, 0.008]  # final moments (Bohr magnetons), from MP
    assert sum(r["functional"] == "r2SCAN" for r in rows) == 6
    thermo = dataset.manifest_section("mp_thermo")
    assert set(thermo) == {r["material_id"] for r in rows}
    assert thermo[rows[0]["material_id"]]


def test_filters_select_functional_and_kind(fake_mp: FakeMP, mp_world: MPWorld, tmp_path: Path):
    r2scan = pull(
        PullQuery(chemsys=ALL.chemsys, functional="r2scan"),
        tmp_path / "r2",
        api_key=API_KEY,
        options=options(fake_mp, mp_world),
    )
    assert (r2scan.tasks_planned, r2scan.rows_added) == (1, 6)
    statics = pull(
        PullQuery(chemsys=ALL.chemsys, functional="gga", what="statics"),
        tmp_path / "st",
        api_key=API_KEY,
        options=options(fake_mp, mp_world),
    )
    # As2SO6 statics mp-ddduw and mp-blkoi (mp-efthw deprecated), Si mp-ddzda and mp-czxdy, La2CoO4 mp-cvkdb
    assert (statics.tasks_planned, statics.rows_added) == (5, 5)
    limited = pull(
        PullQuery(elements=("O",), limit=1, what="statics"),
        tmp_path / "lim",
        api_key=API_KEY,
        options=options(fake_mp, mp_world),
    )
    assert limited.materials == 1


def test_frame_policy_keeps_first_last_and_different_frames(fake_mp: FakeMP, mp_world: MPWorld, tmp_path: Path):
    policy = FramePolicy(energy_threshold_ev_per_atom=0.002, force_threshold_ev_per_ang=0.05)
    full = pull(ALL, tmp_path / "all", api_key=API_KEY, options=options(fake_mp, mp_world))
    thin = pull(ALL, tmp_path / "thin", api_key=API_KEY, options=options(fake_mp, mp_world, policy))
    assert thin.rows_added == full.rows_added - thin.frames_dropped_by_policy
    assert 0 < thin.frames_dropped_by_policy < full.rows_added
    kept = Dataset.open(tmp_path / "thin").read(columns=["id", "task_id", "ionic_step", "energy", "nsites", "forces"])
    every = Dataset.open(tmp_path / "all").read(columns=["id", "task_id", "ionic_step"])
    assert set(kept.column("id").to_pylist()) < set(every.column("id").to_pylist())
    by_task: dict[str, list[dict]] = {}
    for row in kept.to_pylist():
        by_task.setdefault(row["task_id"], []).append(row)
    steps_all: dict[str, list[int]] = {}
    for row in every.to_pylist():
        steps_all.setdefault(row["task_id"], []).append(row["ionic_step"])
    for task_id, rows in by_task.items():
        rows.sort(key=lambda r: r["ionic_step"])
        assert rows[0]["ionic_step"] == min(steps_all[task_id]) and rows[-1]["ionic_step"] == max(steps_all[task_id])
        for previous, current in itertools.pairwise(rows[:-1]):  # each kept middle frame differs enough
            de = abs(current["energy"] - previous["energy"]) / current["nsites"]
            df = np.max(np.abs(np.asarray(current["forces"]) - np.asarray(previous["forces"])))
            assert de >= 0.002 or df >= 0.05


def test_transient_faults_are_retried(fake_mp: FakeMP, mp_world: MPWorld, tmp_path: Path):
    clean = pull(ALL, tmp_path / "clean", api_key=API_KEY, options=options(fake_mp, mp_world, batch_tasks=4))
    fake_mp.faults.extend(
        [
            Fault("429", "/materials/core/", retry_after_s=1),
            Fault("500", "/materials/tasks/"),
            Fault("drop", "/materials/tasks/"),
            Fault("garbage", "/materials/tasks/"),
            Fault("500", "/materials/thermo/"),
        ]
    )
    fake_mp.log.clear()
    messages: list[str] = []
    report = pull(
        ALL,
        tmp_path / "faulty",
        api_key=API_KEY,
        options=options(fake_mp, mp_world, batch_tasks=4),
        on_message=messages.append,
    )
    assert fake_mp.faults == []
    statuses = [(path, status) for path, _, status in fake_mp.log if path != "/heartbeat/"]
    assert statuses[:2] == [("/materials/core/", 429), ("/materials/core/", 200)]  # mp-api honours Retry-After
    assert ("/materials/tasks/", 500) in statuses
    assert len(fake_mp.requests_to("/materials/tasks/")) == 3 + 3  # 3 batches of 4 tasks, 3 retries
    assert len(messages) == 4 and "HTTP 500" in messages[0]
    assert report.rows_added == clean.rows_added
    assert Dataset.open(tmp_path / "faulty").content_hash == Dataset.open(tmp_path / "clean").content_hash


def test_persistent_failure_is_one_clear_error(fake_mp: FakeMP, mp_world: MPWorld, tmp_path: Path):
    fake_mp.faults.append(Fault("500", "/materials/tasks/", times=10))
    with pytest.raises(RemoteError, match=r"task documents .*still failing after 4 tries \(HTTP 500\)"):
        pull(ALL, tmp_path / "ds", api_key=API_KEY, options=options(fake_mp, mp_world))
    fake_mp.faults.append(Fault("500", "/materials/tasks/", times=10))
    args = ["pull", "mp", "--chemsys", "Si", "--out", str(tmp_path / "cli"), "--endpoint", fake_mp.url]
    args += ["--trajectories", mp_world.trajectory_uri, "--retries", "2", "--backoff", "0"]
    result = CliRunner().invoke(main, args, env={"MP_API_KEY": API_KEY})
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert result.stderr.splitlines()[-1].startswith("curate: error: task documents mp-")
    assert result.stderr.splitlines()[-1].endswith("still failing after 2 tries (HTTP 500)")


def test_malformed_document_is_quarantined(fake_mp: FakeMP, mp_world: MPWorld, tmp_path: Path):
    bad = next(d for d in fake_mp.tasks if d["task_id"] == "mp-ddzda")  # the Si static
    bad["input"] = "not a calculation input"
    report = pull(ALL, tmp_path / "ds", api_key=API_KEY, options=options(fake_mp, mp_world))
    assert report.quarantined == 1 and report.rows_added == 200 - 1
    [record] = Dataset.open(tmp_path / "ds").quarantine_records()
    assert record["record"].endswith("task mp-ddzda") and record["field"] == "input"
    assert "INCAR" in record["reason"]


def test_cli_bad_key_is_one_line(fake_mp: FakeMP, mp_world: MPWorld, tmp_path: Path):
    wrong = "z" * 32
    args = ["pull", "mp", "--chemsys", "Si", "--out", str(tmp_path / "ds"), "--endpoint", fake_mp.url]
    args += ["--trajectories", mp_world.trajectory_uri, "--retries", "1"]
    result = CliRunner().invoke(main, args, env={"MP_API_KEY": wrong})
    assert result.exit_code == 2
    assert "rejected the API key (HTTP 401)" in result.output and "Traceback" not in result.output
    assert wrong not in result.output and not (tmp_path / "ds").exists()
    short = CliRunner().invoke(main, args, env={"MP_API_KEY": "tooshort"})
    assert short.exit_code == 2 and "must be 32 characters, the one given has 8" in short.output
    assert "tooshort" not in short.output
    missing = CliRunner().invoke(main, args, env={"MP_API_KEY": ""})
    assert missing.exit_code == 2 and "no Materials Project API key" in missing.output


def test_cli_dry_run_counts(fake_mp: FakeMP, mp_world: MPWorld, tmp_path: Path):
    args = ["pull", "mp", "--chemsys", "As-O-S,Si", "--chemsys", "Co-La-O", "--chemsys", "Lu", "--dry-run"]
    args += ["--out", str(tmp_path / "ds"), "--endpoint", fake_mp.url, "--trajectories", mp_world.trajectory_uri]
    result = CliRunner().invoke(main, args, env={"MP_API_KEY": API_KEY})
    assert result.exit_code == 0, result.output
    counts = dict(line.split("\t") for line in result.stdout.splitlines())
    assert counts == {
        "materials": "4",
        "tasks": "10",
        "deprecated_skipped": "1",
        "tasks_gga_relaxation": "4",
        "tasks_gga_static": "5",
        "tasks_r2scan_relaxation": "1",
        "ionic_steps": "200",
    }
    assert not (tmp_path / "ds").exists()


def test_cli_pull_writes_no_key_anywhere(fake_mp: FakeMP, mp_world: MPWorld, tmp_path: Path):
    out = tmp_path / "ds"
    args = ["pull", "mp", "--chemsys", "As-O-S,Si,Co-La-O,Lu", "--out", str(out), "--endpoint", fake_mp.url]
    args += ["--trajectories", mp_world.trajectory_uri, "--api-key", API_KEY, "--backoff", "0.05"]
    fake_mp.faults.append(Fault("500", "/materials/tasks/"))  # a retry warning goes to the log too
    result = CliRunner().invoke(main, args, env={"MP_API_KEY": API_KEY})
    assert result.exit_code == 0, result.output
    assert "72 rows added" in result.stdout and "128 frames dropped by the frame policy" in result.stdout
    assert "retry 1/4" in result.stderr
    written = [p for p in out.rglob("*") if p.is_file()]
    assert {p.name for p in written} >= {"manifest.json", "README.md", "pull-mp.checkpoint.json"}
    assert any(p.suffix == ".parquet" for p in written)
    hits = [p for p in written if API_KEY.encode() in p.read_bytes()]
    assert hits == [] and API_KEY not in result.output
    assert all(params.get("x-api-key") is None for params in fake_mp.requests_to("/materials/"))  # header only


def test_no_filter_is_refused(tmp_path: Path):
    with pytest.raises(ConfigurationError, match="at least one of chemsys, elements, material_ids"):
        pull(PullQuery(), tmp_path / "ds", api_key=API_KEY, options=PullOptions())


def test_pair_report_of_a_pulled_dataset(fake_mp: FakeMP, mp_world: MPWorld, tmp_path: Path):
    pull(ALL, tmp_path / "ds", api_key=API_KEY, options=options(fake_mp, mp_world))
    result = CliRunner().invoke(main, ["pair-report", str(tmp_path / "ds")])
    assert result.exit_code == 0, result.output
    lines = dict(line.split("\t", 1) for line in result.stdout.splitlines())
    # no material here has both functionals (the only r2SCAN task is Lu's): 3 GGA(+U) and 1 r2SCAN unpaired
    assert (lines["pairs"], lines["unpaired_gga"], lines["unpaired_r2scan"]) == ("0", "3", "1")
    assert lines["PBE"].startswith("193\t") and lines["PBE+U"].startswith("1\t") and lines["r2SCAN"].startswith("6\t")
    section = Dataset.open(tmp_path / "ds").manifest_section("reference_energies")
    lu = section["functionals"]["r2SCAN"]["energies_ev_per_atom"]["Lu"]
    assert lu == pytest.approx(min(r["energy"] / r["nsites"] for r in _r2scan_rows(tmp_path / "ds")), abs=0.05)


def _r2scan_rows(path: Path) -> list[dict]:
    table = Dataset.open(path).read(columns=["functional", "energy", "nsites"])
    return [r for r in table.to_pylist() if r["functional"] == "r2SCAN"]
