"""The storage schema, written once in logical types and rendered as SQLite (GeoPackage) or PostGIS DDL."""

from __future__ import annotations

from dataclasses import dataclass, field

GRADES = ("A", "B", "C", "none")
METHODS = ("boundary", "union of children", "none")


@dataclass(frozen=True)
class Column:
    name: str
    type: str  # text | int | real | json | time | serial | geom:<GeometryType>
    null: bool = True
    check: str = ""  # SQL over this column, e.g. "grade IN ('A','B')"
    references: str = ""  # "table(column)"; deferred, so a whole table can be rewritten in one transaction


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]
    description: str
    indexes: tuple[tuple[str, ...], ...] = field(default=())

    @property
    def geometry(self) -> Column | None:
        return next((c for c in self.columns if c.type.startswith("geom:")), None)

    def names(self) -> list[str]:
        return [c.name for c in self.columns]


def _in(col: str, values: tuple[str, ...]) -> str:
    return f"{col} IN ({', '.join(repr(v) for v in values)})"


T, N, R, J = "text", "int", "real", "json"

STATE = Table(
    "catalog_state",
    (
        Column("id", N, False, "id = 1"),
        Column("version", T),
        Column("run_id", N),
        Column("updated_at", "time"),
    ),
    ("id",),
    "the one row naming the current catalog version and the build run that wrote it",
)
CORRIDORS = Table(
    "corridors",
    (Column("id", T, False), Column("file", T, False), Column("position", N, False), Column("body", J, False)),
    ("id",),
    "one row per catalog file: the corridor, its documents and notes (zones are in zone_specs)",
)
ZONE_SPECS = Table(
    "zone_specs",
    (
        Column("id", T, False),
        Column("corridor", T, False, references="corridors(id)"),
        Column("position", N, False),
        Column("version", N, False, "version >= 1"),
        Column("body", J, False),
    ),
    ("id",),
    "each zone as written: name, level, parent, counties, stated area and the verbatim 四至 with its source",
)
ZONES = Table(
    "zones",
    (
        Column("id", T, False, references="zone_specs(id)"),
        Column("name", T, False),
        Column("level", T, False),
        Column("parent_id", T, references="zones(id)"),
        Column("corridor", T, False),
        Column("county_adcode", T),
        Column("stated_area_km2", R, check="stated_area_km2 > 0"),
        Column("area_km2", R, check="area_km2 >= 0"),
        Column("area_geodesic_km2", R, check="area_geodesic_km2 >= 0"),
        Column("ratio", R),
        Column("grade", T, False, _in("grade", GRADES)),
        Column("method", T, False, _in("method", METHODS)),
        Column("unresolved", T),
        Column("closures", T),
        Column("geometry_sources", T),
        Column("accuracy_m", R),
        Column("boundary_text", T),
        Column("source", T),
        Column("geom", "geom:GEOMETRY"),
    ),
    ("id",),
    "built zones: polygon (EPSG:4326), areas in EPSG:4549 and geodesic, grade, method",
    (("parent_id",), ("corridor",)),
)
ZONE_PARTS = Table(
    "zone_parts",
    (
        Column("zone_id", T, False, references="zones(id)"),
        Column("part", N, False, "part >= 1"),
        Column("area_km2", R, False),
        Column("geom", "geom:POLYGON", False),
    ),
    ("zone_id", "part"),
    "each polygon of each built zone, for spatial joins",
)
PLATFORMS = Table(
    "platforms",
    (
        Column("id", T, False),
        Column("name", T, False),
        Column("kind", T, False),
        Column("declared_zone", T, references="zone_specs(id)"),
        Column("corridor", T),
        Column("precision_m", R, check="precision_m > 0"),
        Column("location_source", T),
        Column("conflicts", T),
        Column("position", N, False),
        Column("version", N, False, "version >= 1"),
        Column("body", J, False),
        Column("geom", "geom:POINT"),
    ),
    ("id",),
    "platforms (研究院, 实验室, 产业园 …) as written, with a WGS-84 point when one is known",
)
FEATURES = Table(
    "gazetteer_features",
    (
        Column("id", T, False),
        Column("name", T, False),
        Column("aliases", J, False),
        Column("kind", T, False),
        Column("county_adcode", T),
        Column("source", T, False),
        Column("accuracy_m", R),
        Column("note", T),
        Column("position", N, False),
        Column("version", N, False, "version >= 1"),
        Column("geom", "geom:GEOMETRY", False),
    ),
    ("id",),
    "named boundary features (roads, rivers, railways, ridges, landmarks) with source and accuracy",
    (("name",),),
)
COUNTIES = Table(
    "counties",
    (Column("id", T, False), Column("name", T, False), Column("city", T), Column("geom", "geom:GEOMETRY", False)),
    ("id",),
    "county-level divisions (adcode), WGS-84",
)
BUILD_RUNS = Table(
    "build_runs",
    (
        Column("id", "serial", False),
        Column("started_at", "time", False),
        Column("finished_at", "time", False),
        Column("actor", T, False),
        Column("action", T, False, _in("action", ("import", "edit", "rebuild"))),
        Column("message", T),
        Column("changes", J, False),
        Column("zones_rebuilt", J, False),
        Column("previous_version", T),
        Column("version", T, False),
        Column("seconds", R),
    ),
    ("id",),
    "every committed build: who, when, what changed, which zones were rebuilt",
)
ZONE_HISTORY = Table(
    "zone_history",
    (
        Column("run_id", N, False, references="build_runs(id)"),
        Column("zone_id", T, False),
        Column("change", T, False, _in("change", ("added", "changed", "removed"))),
        Column("area_before_km2", R),
        Column("area_after_km2", R),
        Column("area_delta_km2", R),
        Column("changed_km2", R, check="changed_km2 >= 0"),
        Column("centroid_shift_m", R),
        Column("grade_before", T),
        Column("grade_after", T),
        Column("boundary_before", T),
        Column("boundary_after", T),
        Column("geom", "geom:GEOMETRY"),
    ),
    ("run_id", "zone_id"),
    "how each zone a build changed moved: areas before and after, the area that changed hands, the new polygon",
    (("zone_id",),),
)

# written in this order, deleted in reverse (foreign keys)
CATALOG_TABLES = (CORRIDORS, ZONE_SPECS, ZONES, ZONE_PARTS, PLATFORMS, FEATURES, COUNTIES)
TABLES = (STATE, *CATALOG_TABLES, BUILD_RUNS, ZONE_HISTORY)
SCHEMA_VERSION = 1
