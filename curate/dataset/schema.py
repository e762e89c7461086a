"""Schemas loaded from ``schemas/*.json`` (the single source of truth): the row schema and the predictions schema.

Nothing here restates a field: the Arrow schema, units and descriptions are all derived from the JSON file.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import pyarrow as pa

from curate.dataset.resources import packaged_file

SCHEMA_FILE_NAME = "configuration.v1.json"
SCHEMA_VERSION_KEY = b"curate.schema_version"
SCHEMA_NAME_KEY = b"curate.schema_name"

_PRIMITIVES: dict[str, pa.DataType] = {
    "string": pa.string(),
    "float64": pa.float64(),
    "float32": pa.float32(),
    "int64": pa.int64(),
    "int32": pa.int32(),
    "int8": pa.int8(),
    "bool": pa.bool_(),
}


@dataclass(frozen=True)
class FieldSpec:
    """One column of the schema as declared in the JSON file."""

    name: str
    arrow_type: pa.DataType
    nullable: bool
    unit: str | None
    description: str
    optimade: str | None


@dataclass(frozen=True)
class RowSchema:
    """The loaded schema: name, version, field specs and the Arrow schema with metadata."""

    name: str
    version: str
    conventions: dict[str, str]
    fields: tuple[FieldSpec, ...]
    arrow: pa.Schema

    def field(self, name: str) -> FieldSpec:
        """Return the spec of column ``name``; raises KeyError naming the known columns."""
        for spec in self.fields:
            if spec.name == name:
                return spec
        raise KeyError(f"no column {name!r} in schema {self.name} {self.version}; known: {self.names}")

    @property
    def names(self) -> list[str]:
        return [spec.name for spec in self.fields]

    def units(self) -> dict[str, str]:
        """Column name -> unit, for columns that carry one."""
        return {spec.name: spec.unit for spec in self.fields if spec.unit}

    def manifest_header(self) -> dict[str, Any]:
        """What every manifest of data in this schema records about it: name and version, units, conventions."""
        return {
            "schema": {"name": self.name, "version": self.version},
            "units": self.units(),
            "conventions": self.conventions,
        }


def _arrow_type(declared: Any) -> pa.DataType:
    if isinstance(declared, str):
        return _PRIMITIVES[declared]
    if "list" in declared:
        item = _arrow_type(declared["list"])
        size = declared.get("size")
        return pa.list_(item, size) if size else pa.list_(item)
    if "struct" in declared:
        return pa.struct([pa.field(f["name"], _arrow_type(f["type"])) for f in declared["struct"]])
    raise ValueError(f"unsupported type declaration in schema: {declared!r}")


def row_schema() -> RowSchema:
    """The configuration schema (one row per structure) with units in Arrow field metadata."""
    return load_schema(SCHEMA_FILE_NAME)


@lru_cache(maxsize=4)
def load_schema(file_name: str) -> RowSchema:
    """Load and cache the schema ``schemas/<file_name>``, units and descriptions in Arrow field metadata."""
    raw = json.loads(packaged_file("schemas", file_name).read_text())
    specs = []
    arrow_fields = []
    for f in raw["fields"]:
        spec = FieldSpec(
            name=f["name"],
            arrow_type=_arrow_type(f["type"]),
            nullable=bool(f["nullable"]),
            unit=f.get("unit"),
            description=f.get("description", ""),
            optimade=f.get("optimade"),
        )
        specs.append(spec)
        metadata = {b"description": spec.description.encode()}
        if spec.unit:
            metadata[b"unit"] = spec.unit.encode()
        arrow_fields.append(pa.field(spec.name, spec.arrow_type, nullable=spec.nullable, metadata=metadata))
    schema_metadata = {
        SCHEMA_NAME_KEY: raw["name"].encode(),
        SCHEMA_VERSION_KEY: raw["version"].encode(),
        b"curate.units": json.dumps({s.name: s.unit for s in specs if s.unit}).encode(),
        b"curate.conventions": json.dumps(raw.get("conventions", {})).encode(),
    }
    return RowSchema(
        name=raw["name"],
        version=raw["version"],
        conventions=dict(raw.get("conventions", {})),
        fields=tuple(specs),
        arrow=pa.schema(arrow_fields, metadata=schema_metadata),
    )
