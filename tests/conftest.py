"""Shared fixtures: paths to the real DFT files in ../shared/data and a clean offline environment.

Also the marker guard that keeps ``-m "not slow"`` honest (README: it skips the model-loading tests): a test
that builds, loads or runs a CHGNet, MACE or matgl model in this process, itself or through a fixture, fails
unless it is marked ``model``; and a test marked ``model`` fails unless it is also marked ``slow``. Models are
seen through torch's global module hooks (a submodule with parameters registered on, or a forward pass
through, a module with parameters defined in the chgnet, mace or matgl packages), so a model that only a
subprocess or a worker process loads goes unseen: mark such tests by hand.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = (REPO_ROOT.parent / "shared" / "data").resolve()
UMLIP_PACKAGES = frozenset({"chgnet", "mace", "matgl"})


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data`` (real DFT files; see its SOURCES.md)."""
    if not SHARED_DATA.is_dir():
        pytest.fail(f"real test data missing: {SHARED_DATA} (CI clones the project next to shared/)")
    return SHARED_DATA


class _UmlipWatch:
    """Counts modules of the uMLIP packages being built or run, and remembers fixtures that built or ran one."""

    def __init__(self) -> None:
        self.events = 0
        self.fixtures: set[str] = set()
        self.handles: list[Any] = []  # torch RemovableHandle of each global hook

    @staticmethod
    def _is_umlip(module: Any) -> bool:
        return type(module).__module__.partition(".")[0] in UMLIP_PACKAGES

    @staticmethod
    def _has_weights(module: Any) -> bool:
        # CHGNet's CrystalGraphConverter is a module without parameters: building graphs is no model
        return module is not None and next(module.parameters(), None) is not None

    def on_registration(self, module: Any, name: str, submodule: Any) -> None:
        if (self._is_umlip(module) or self._is_umlip(submodule)) and self._has_weights(submodule):
            self.events += 1

    def on_forward(self, module: Any, args: object) -> None:
        if self._is_umlip(module) and self._has_weights(module):
            self.events += 1


_WATCH = _UmlipWatch()
_EVENTS_BEFORE = pytest.StashKey[int]()


def pytest_collection_finish(session: pytest.Session) -> None:
    import torch  # already imported whenever a collected test module uses a model

    hooks = torch.nn.modules.module
    _WATCH.handles = [
        hooks.register_module_module_registration_hook(_WATCH.on_registration),
        hooks.register_module_forward_pre_hook(_WATCH.on_forward),
    ]


def pytest_unconfigure(config: pytest.Config) -> None:
    for handle in _WATCH.handles:
        handle.remove()


@pytest.hookimpl(wrapper=True)
def pytest_fixture_setup(fixturedef: pytest.FixtureDef, request: pytest.FixtureRequest) -> object:
    before = _WATCH.events
    try:
        return (yield)
    finally:
        if _WATCH.events != before:
            _WATCH.fixtures.add(fixturedef.argname)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    item.stash[_EVENTS_BEFORE] = _WATCH.events
    if item.get_closest_marker("model") is not None and item.get_closest_marker("slow") is None:
        pytest.fail(f"{item.nodeid} is marked model but not slow: -m 'not slow' must skip it", pytrace=False)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> pytest.TestReport:
    report: pytest.TestReport = yield
    if report.when == "call" and report.passed and item.get_closest_marker("model") is None:
        fixtures = sorted(_WATCH.fixtures.intersection(getattr(item, "fixturenames", ())))
        if _WATCH.events != item.stash.get(_EVENTS_BEFORE, _WATCH.events) or fixtures:
            through = f" (through fixture {', '.join(fixtures)})" if fixtures else ""
            report.outcome = "failed"
            report.longrepr = (
                f"{item.nodeid} builds, loads or runs a CHGNet/MACE/matgl model{through} but is not marked "
                "@pytest.mark.model and @pytest.mark.slow"
            )
    return report
