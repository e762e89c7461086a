"""The import and export format registries: names match the CLI's Literal choices, each name builds its own
implementation on demand, unknown names are refused with the known ones listed."""

from __future__ import annotations

import pytest

import curate.exporters
import curate.sources
from curate.exporters import EXPORT_FORMATS, get_exporter
from curate.registry import LazyRegistry
from curate.sources import IMPORT_FORMATS, get_importer


def test_import_formats_build_the_importer_of_that_name() -> None:
    assert curate.sources._IMPORTERS.names == IMPORT_FORMATS
    for name in IMPORT_FORMATS:
        assert get_importer(name).name == name


def test_export_formats_build_the_exporter_of_that_name() -> None:
    assert curate.exporters._EXPORTERS.names == EXPORT_FORMATS
    for name in EXPORT_FORMATS:
        assert get_exporter(name).name == name


def test_unknown_names_list_the_known_ones() -> None:
    with pytest.raises(
        KeyError, match=r"unknown import format 'xyz'; known: mp-tasks, mptrj, matpes, mlearn, vasp, ase"
    ):
        get_importer("xyz")
    with pytest.raises(KeyError, match=r"unknown export format 'csv'; known: extxyz"):
        get_exporter("csv")


def test_targets_are_module_colon_attribute_and_imported_only_when_built() -> None:
    with pytest.raises(ValueError, match="target must be 'module:attribute'"):
        LazyRegistry("thing", {"a": "collections.OrderedDict"})
    registry: LazyRegistry[object] = LazyRegistry("thing", {"dict": "collections:OrderedDict", "gone": "no_such_mod:X"})
    assert registry.names == ("dict", "gone")
    assert registry.create("dict") == {}
    with pytest.raises(ModuleNotFoundError):
        registry.create("gone")
