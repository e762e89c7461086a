"""Test helpers come from this repository's tests/ even though mace-torch installs a top-level ``tests`` package.

mace-torch's wheel puts its own ``tests/`` (an ``__init__.py`` that sets TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD, a
conftest, its test modules) straight into site-packages. Wherever site-packages comes before this repository on
sys.path (pytest's ``append`` import mode, a plain ``pytest`` run from another folder), ``tests.X`` would name
mace's package. So test modules import their helpers relatively (``from .builders import ...``), and pytest's
``pythonpath = ["."]`` puts the repository root first whatever the import mode.
"""

from __future__ import annotations

import ast
import importlib.metadata
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

from .conftest import REPO_ROOT

TESTS_DIR = REPO_ROOT / "tests"


def _test_sources() -> list[Path]:
    return sorted(TESTS_DIR.rglob("*.py"))


def _absolute_tests_imports(path: Path) -> list[str]:
    """``file:line`` of each ``import tests...`` / ``from tests... import`` in ``path``."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            continue
        if any(name == "tests" or name.startswith("tests.") for name in names):
            found.append(f"{path.relative_to(REPO_ROOT)}:{node.lineno}")
    return found


def _helper_modules() -> set[str]:
    """Absolute names of the modules that test files import relatively (the shared helpers)."""
    helpers = set()
    for path in _test_sources():
        package = ".".join(path.relative_to(REPO_ROOT).parent.parts)
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.ImportFrom) and node.level > 0:
                helpers.add(importlib.util.resolve_name("." * node.level + (node.module or ""), package))
    return helpers


def test_mace_installs_a_competing_top_level_tests_package() -> None:
    """The hazard is real: mace-torch's files include site-packages/tests/__init__.py."""
    files = importlib.metadata.files("mace-torch") or []
    assert "tests/__init__.py" in {f.as_posix() for f in files}


def test_test_modules_import_helpers_relatively() -> None:
    offenders = [where for path in _test_sources() for where in _absolute_tests_imports(path)]
    assert offenders == [], "import test helpers relatively (from .x import ...), not from tests.x: " + ", ".join(
        offenders
    )


def test_helper_modules_are_this_repositorys() -> None:
    helpers = _helper_modules()
    assert {"tests.models.builders", "tests.exporters.roundtrip", "tests.materials_project.fake_mp_server"} <= helpers
    for name in sorted(helpers):
        spec = importlib.util.find_spec(name)
        assert spec is not None and spec.origin is not None, name
        assert Path(spec.origin).resolve().is_relative_to(TESTS_DIR), (name, spec.origin)
    for name, module in list(sys.modules.items()):
        if name == "tests" or name.startswith("tests."):
            assert Path(module.__file__ or "").resolve().is_relative_to(TESTS_DIR), (name, module.__file__)


def test_helpers_resolve_when_site_packages_comes_first(tmp_path: Path) -> None:
    """From another folder, without PYTHONPATH, a bare ``import tests`` finds mace's package; pytest in
    ``append`` import mode (site-packages ahead of the repository) still imports this repository's helpers."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    bare = subprocess.run(
        [sys.executable, "-c", "import importlib.util; print(importlib.util.find_spec('tests').origin)"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert not Path(bare.stdout.strip()).resolve().is_relative_to(TESTS_DIR), bare.stdout
    pytest_args = ["-q", "-p", "no:cacheprovider", "--import-mode=append", "--rootdir", str(REPO_ROOT)]
    pytest_args += ["-c", str(REPO_ROOT / "pyproject.toml")]
    probe = f"{Path(__file__).resolve()}::test_helper_modules_are_this_repositorys"
    run = subprocess.run(
        [sys.executable, "-m", "pytest", *pytest_args, probe],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "1 passed" in run.stdout
