"""The `corridor db`, `edit`, `history` and `runs` commands: storage, durable edits, build history."""

from __future__ import annotations

import getpass
import json
import os
import sys
from pathlib import Path
from typing import Any

import click

from app.errors import InputError


def _dump(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, default=str)


def _db(url: str | None):
    from app.storage import open_storage

    return open_storage(url)


def _actor(actor: str | None) -> str:
    if actor:
        return actor
    try:
        return os.environ.get("CORRIDOR_ACTOR") or getpass.getuser()
    except Exception:
        return "unknown"


url_option = click.option(
    "--database-url", "url", default=None, envvar="CORRIDOR_DATABASE_URL",
    help="postgresql://… (PostGIS) or a .gpkg path (default: the embedded var/corridor.gpkg)",
)  # fmt: skip
actor_option = click.option("--actor", default=None, help="your name for the build history (default: login name)")


def _shown(db) -> str:
    from app.storage.dialects import redact

    return f"{db.kind} storage {redact(db.url)}"


def print_run(out) -> None:
    run = out.run
    click.echo(f"run {run.id}: version {run.previous_version or '-'} → {run.version}, "
               f"{len(run.zones_rebuilt)} zone(s) rebuilt in {run.seconds:.1f} s")  # fmt: skip
    for h in run.history[:40]:
        before = "-" if h["area_before_km2"] is None else f"{h['area_before_km2']:.2f}"
        after = "-" if h["area_after_km2"] is None else f"{h['area_after_km2']:.2f}"
        delta = "" if h["area_delta_km2"] is None else f"{h['area_delta_km2']:+.2f}"
        click.echo(f"  {h['change']:<8} {h['zone_id']:<26} {before:>9} → {after:>9} km² {delta:>9}  "
                   f"grade {h['grade_before'] or '-'} → {h['grade_after'] or '-'}")  # fmt: skip
    if len(run.history) > 40:
        click.echo(f"  … and {len(run.history) - 40} more")


# ---------------------------------------------------------------- db
@click.group("db")
def db_group() -> None:
    """The catalog storage: embedded GeoPackage (default) or PostGIS (CORRIDOR_DATABASE_URL)."""


@db_group.command("init")
@url_option
def db_init_cmd(url: str | None) -> None:
    """Create the schema (zones, parts, platforms, gazetteer features, counties, build runs); idempotent."""
    db = _db(url)
    tables = db.init()
    click.echo(f"{_shown(db)}: schema ready ({', '.join(tables)})")


@db_group.command("status")
@url_option
@click.option("--json", "as_json", is_flag=True)
def db_status_cmd(url: str | None, as_json: bool) -> None:
    """The storage, its catalog version and the latest builds."""
    from app.storage.database import summary

    db = _db(url)
    if not db.initialized():
        raise InputError(f"{_shown(db)} has no schema; run `corridor db init`")
    runs = [summary(r) for r in db.runs(5)]
    if as_json:
        click.echo(_dump({"storage": db.kind, "version": db.version(), "runs": runs}))
        return
    click.echo(f"{_shown(db)}: catalog version {db.version() or '(none: run corridor build)'}")
    for r in runs:
        click.echo(f"  run {r['id']:>4} {r['finished_at']} {r['action']:<8} by {r['actor']:<12} "
                   f"{r['zones_rebuilt']:>3} zones  {r['message'] or ''}")  # fmt: skip


@db_group.command("rebuild")
@url_option
@actor_option
@click.option("-m", "--message", default="", help="why")
def db_rebuild_cmd(url: str | None, actor: str | None, message: str) -> None:
    """Rebuild every zone from the stored sources (keeps edits; e.g. after a builder change)."""
    from app.edits import rebuild

    print_run(rebuild(_db(url), actor=_actor(actor), message=message))


# ---------------------------------------------------------------- edit
@click.group("edit")
def edit_group() -> None:
    """Edit the stored catalog: each edit rebuilds the zones it affects and is recorded in the history."""


def _run_edit(url: str | None, e, actor: str | None, message: str) -> None:
    from app.edits import edit

    db = _db(url)
    out = edit(db, e, actor=_actor(actor), message=message)
    print_run(out)


version_option = click.option(
    "--expect-version", "version", type=int, default=None,
    help="the object's version you based the edit on (see `corridor edit show`); differs → refused",
)  # fmt: skip
message_option = click.option("-m", "--message", default="", help="why: goes into the build history")


def edit_options(command):
    """--expect-version, -m/--message, --actor and --database-url: what every edit command takes."""
    for option in (url_option, actor_option, message_option, version_option):
        command = option(command)
    return command


@edit_group.command("show")
@click.argument("kind", type=click.Choice(["zone", "feature", "platform"]))
@click.argument("object_id")
@url_option
def edit_show_cmd(kind: str, object_id: str, url: str | None) -> None:
    """Print a stored zone, feature or platform with its version, as JSON."""
    from app.edits import ensure_catalog, object_spec

    click.echo(_dump(object_spec(ensure_catalog(_db(url)).store(), kind, object_id)))  # type: ignore[arg-type]


@edit_group.command("zone")
@click.argument("zone_id")
@click.option("--boundary", default=None, help="the new 四至 text (- reads standard input)")
@click.option("--area", default=None, help="the new stated area, as words: 规划面积11.95平方公里")
@edit_options
def edit_zone_cmd(zone_id: str, boundary: str | None, area: str | None, version: int | None, message: str,
                  actor: str | None, url: str | None) -> None:  # fmt: skip
    """Replace a zone's 四至 and/or stated area; the document's words stay as a variant."""
    from app.edits import Edit

    changes: dict[str, Any] = {}
    if boundary is not None:
        changes["boundary"] = sys.stdin.read() if boundary == "-" else boundary
    if area is not None:
        changes["area"] = area
    if not changes:
        raise click.UsageError("give --boundary and/or --area")
    _run_edit(url, Edit("zone", zone_id, changes, version), actor, message)


@edit_group.command("feature")
@click.argument("feature_id")
@click.option("--create", is_flag=True, help="add a new feature (needs --name, --kind, --geometry)")
@click.option("--name", default=None)
@click.option("--aliases", default=None, help="comma-separated other names")
@click.option("--kind", default=None, help="road, river, railway, expressway, ridge, landmark …")
@click.option("--geometry", "geometry_file", type=click.Path(dir_okay=False, allow_dash=True), default=None,
              help="GeoJSON file (geometry, Feature or one-feature FeatureCollection)")  # fmt: skip
@click.option("--crs", type=click.Choice(["wgs84", "cgcs2000", "gcj02", "bd09"]), default="wgs84", show_default=True)
@click.option("--accuracy-m", type=float, default=None, help="estimated position error of the geometry, metres")
@click.option("--source", default=None, help="where the geometry comes from (default: edit by ACTOR)")
@click.option("--note", default=None)
@edit_options
def edit_feature_cmd(feature_id: str, create: bool, name: str | None, aliases: str | None, kind: str | None,
                     geometry_file: str | None, crs: str, accuracy_m: float | None, source: str | None,
                     note: str | None, version: int | None, message: str, actor: str | None,
                     url: str | None) -> None:  # fmt: skip
    """Change (or --create) a gazetteer feature; the zones whose 四至 name it are rebuilt."""
    from app.edits import Edit

    changes: dict[str, Any] = {
        k: v
        for k, v in {"name": name, "kind": kind, "accuracy_m": accuracy_m, "source": source, "note": note}.items()
        if v is not None
    }
    if aliases is not None:
        changes["aliases"] = [a.strip() for a in aliases.split(",") if a.strip()]
    if geometry_file is not None:
        changes["geometry"] = read_geometry(geometry_file)
        changes["crs"] = crs
    if not changes:
        raise click.UsageError("nothing to change")
    _run_edit(url, Edit("feature", feature_id, changes, version, create=create), actor, message)


def read_geometry(path: str) -> dict[str, Any]:
    """The GeoJSON geometry in a file: a geometry, a Feature, or a FeatureCollection of one feature."""
    raw = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    try:
        doc = json.loads(raw)
    except json.JSONDecodeError as e:
        raise InputError(f"{path}: not JSON: {e}") from e
    if isinstance(doc, dict) and doc.get("type") == "FeatureCollection":
        feats = doc.get("features") or []
        if len(feats) != 1:
            raise InputError(f"{path}: a FeatureCollection with {len(feats)} features; give exactly one")
        doc = feats[0]
    if isinstance(doc, dict) and doc.get("type") == "Feature":
        doc = doc.get("geometry")
    if not isinstance(doc, dict) or "type" not in doc:
        raise InputError(f"{path}: no GeoJSON geometry")
    return doc


@edit_group.command("platform")
@click.argument("platform_id")
@click.option("--lon", type=float, default=None)
@click.option("--lat", type=float, default=None)
@click.option("--datum", type=click.Choice(["wgs84", "cgcs2000", "gcj02", "bd09"]), default="wgs84", show_default=True)
@click.option("--precision-m", type=float, default=None, help="how far the point may be from the platform, metres")
@click.option("--location-source", default=None, help="where the location comes from")
@click.option("--no-location", is_flag=True, help="remove the location")
@click.option("--declared-zone", default=None, help="the zone the documents place it in")
@edit_options
def edit_platform_cmd(platform_id: str, lon: float | None, lat: float | None, datum: str, precision_m: float | None,
                      location_source: str | None, no_location: bool, declared_zone: str | None,
                      version: int | None, message: str, actor: str | None, url: str | None) -> None:  # fmt: skip
    """Set or remove a platform's location, or change its declared zone."""
    from app.edits import Edit

    changes: dict[str, Any] = {}
    if no_location:
        changes["location"] = None
    elif lon is not None or lat is not None:
        if lon is None or lat is None or precision_m is None:
            raise click.UsageError("a location needs --lon, --lat and --precision-m")
        changes["location"] = {"lon": lon, "lat": lat, "datum": datum, "precision_m": precision_m,
                               "source": location_source or f"edit by {_actor(actor)}"}  # fmt: skip
    if declared_zone is not None:
        changes["declared_zone"] = declared_zone or None
    if not changes:
        raise click.UsageError("nothing to change")
    _run_edit(url, Edit("platform", platform_id, changes, version), actor, message)


# ---------------------------------------------------------------- history
@click.command("history")
@click.argument("zone_id")
@url_option
@click.option("--json", "as_json", is_flag=True)
@click.option("--map", "map_file", type=click.Path(dir_okay=False), default=None,
              help="also write a map of the zone's polygon at each version (HTML)")  # fmt: skip
def history_cmd(zone_id: str, url: str | None, as_json: bool, map_file: str | None) -> None:
    """How a zone changed from build to build: who, when, why, area before → after, area that moved."""
    db = _db(url)
    rows = db.history(zone_id)
    if map_file:
        from app.maps import history_map

        snap = db.load()
        zones = snap.sources.catalog.zones if snap else {}
        Path(map_file).parent.mkdir(parents=True, exist_ok=True)
        history_map(zone_id, rows, zones[zone_id].name if zone_id in zones else "").save(map_file)
        click.echo(f"wrote {map_file}", err=True)
    if as_json:
        click.echo(_dump([{k: v for k, v in h.items() if k != "geom"} for h in rows]))
        return
    if not rows:
        raise InputError(f"no history for zone {zone_id!r}")
    for h in rows:
        r = h["run"]
        before = "-" if h["area_before_km2"] is None else f"{h['area_before_km2']:.2f}"
        after = "-" if h["area_after_km2"] is None else f"{h['area_after_km2']:.2f}"
        click.echo(f"run {r['id']:>4} {r['finished_at']} {r['action']:<7} by {r['actor']:<10} {before:>9} → {after:>9} km²"
                   f" ({h['area_delta_km2'] or 0:+.2f}; {h['changed_km2'] or 0:.2f} km² moved, centroid "
                   f"{h['centroid_shift_m'] or 0:.0f} m)  {r['message'] or ''}")  # fmt: skip


@click.command("runs")
@url_option
@click.option("--limit", type=int, default=20, show_default=True)
def runs_cmd(url: str | None, limit: int) -> None:
    """The latest builds, newest first."""
    from app.storage.database import summary

    for r in map(summary, _db(url).runs(limit)):
        ch = ", ".join(f"{k} {sum(v.values())}" for k, v in r["changes"].items() if sum(v.values()))
        click.echo(f"run {r['id']:>4} {r['finished_at']} {r['action']:<7} by {r['actor']:<10} "
                   f"{r['zones_rebuilt']:>3} zones rebuilt; changed: {ch or 'nothing'}  {r['message'] or ''}")  # fmt: skip


COMMANDS = (db_group, edit_group, history_cmd, runs_cmd)
