"""One place that sets how curate draws: the Agg backend and matplotlib's default style, whatever the process did.

Figures then come out byte-identical in any process (a library imported earlier may have changed matplotlib's
global rcParams), which matters for release folders compared byte by byte.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType
from typing import Any

PNG_METADATA: dict[str, Any] = {"Software": None}  # no library version in the bytes
_PROCESS_KEYS = ("backend", "backend_fallback", "interactive")


@contextmanager
def default_style() -> Iterator[ModuleType]:
    """Context in which pyplot uses Agg and matplotlib's default rcParams; yields ``matplotlib.pyplot``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    defaults = {k: v for k, v in matplotlib.rcParamsDefault.items() if k not in _PROCESS_KEYS}
    with matplotlib.rc_context(defaults):
        yield plt
