"""Task selection from material documents and the resume checkpoint."""

from __future__ import annotations

import json
from pathlib import Path

from curate.materials_project.checkpoint import CHECKPOINT_NAME, Checkpoint
from curate.materials_project.selection import parse_calc_type, plan_tasks

MATERIAL = {
    "material_id": "mp-19017",
    "calc_types": {
        "mp-1": "GGA Structure Optimization",
        "mp-2": "GGA+U Static",
        "mp-3": "r2SCAN Structure Optimization",
        "mp-4": "r2SCAN Static",
        "mp-5": "GGA NSCF Line",
        "mp-6": "GGA+U Structure Optimization",
        "mp-7": "PBEsol Structure Optimization",
    },
    "deprecated_tasks": ["mp-6"],
}


def test_calc_types_parse_to_family_and_kind():
    assert parse_calc_type("GGA+U Structure Optimization") == ("gga", "relaxation")
    assert parse_calc_type("r2SCAN+U Static") == ("r2scan", "static")
    assert parse_calc_type("GGA NSCF Uniform") is None and parse_calc_type("PBEsol Static") is None


def test_plan_filters_functional_kind_and_deprecated():
    both, deprecated = plan_tasks([MATERIAL], functional="both", what="both")
    assert [t.task_id for t in both] == ["mp-1", "mp-2", "mp-3", "mp-4"] and deprecated == 1
    assert {t.material_id for t in both} == {"mp-19017"}
    gga_relax, _ = plan_tasks([MATERIAL], functional="gga", what="relaxation-frames")
    assert [t.task_id for t in gga_relax] == ["mp-1"]
    r2scan_static, deprecated = plan_tasks([MATERIAL], functional="r2scan", what="statics")
    assert [t.task_id for t in r2scan_static] == ["mp-4"] and deprecated == 0


def test_checkpoint_resumes_only_the_same_query(tmp_path: Path):
    query = {"query": {"chemsys": ("Li-O",)}, "frame_policy": {"energy": 0.002}}
    checkpoint = Checkpoint.load(tmp_path, query)
    checkpoint.mark_done(["mp-2", "mp-1"])
    (tmp_path / f".{CHECKPOINT_NAME}.dead.tmp").write_text("{")  # a rewrite killed half-way
    stored = json.loads((tmp_path / CHECKPOINT_NAME).read_text())
    assert stored["done_task_ids"] == ["mp-1", "mp-2"] and stored["query"]["query"]["chemsys"] == ["Li-O"]
    assert Checkpoint.load(tmp_path, query).done_task_ids == {"mp-1", "mp-2"}
    assert not list(tmp_path.glob("*.tmp")) and not list(tmp_path.glob(".*.tmp"))
    other = {**query, "frame_policy": {"energy": 0.0}}
    assert Checkpoint.load(tmp_path, other).done_task_ids == set()
