"""A small per-process cache for what a worker should build once and reuse across tasks (models, recipes)."""

from __future__ import annotations

import threading
from collections import Counter, OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

V = TypeVar("V")

MAX_ENTRIES = 4  # a worker rarely needs more than a committee's models at once; each can hold GBs

_lock = threading.Lock()
_entries: OrderedDict[Hashable, Any] = OrderedDict()
_builds: Counter[Hashable] = Counter()


def worker_cached(key: Hashable, build: Callable[[], V]) -> V:
    """The value cached in this process under ``key``, built by ``build()`` on first use.

    At most :data:`MAX_ENTRIES` values are kept (least recently used dropped first). The lock makes a Dask
    worker with several threads build a value once, not once per thread.
    """
    with _lock:
        if key in _entries:
            _entries.move_to_end(key)
            return _entries[key]
        value = build()
        _entries[key] = value
        _builds[key] += 1
        while len(_entries) > MAX_ENTRIES:
            _entries.popitem(last=False)
        return value


def builds() -> dict[Hashable, int]:
    """How many times each key was built in this process (1 per key when the cache did its job)."""
    with _lock:
        return dict(_builds)


def clear() -> None:
    """Drop every cached value of this process."""
    with _lock:
        _entries.clear()
