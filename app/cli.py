"""The `corridor` command line: parse, extract, check (and later build, report, serve)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click
import numpy as np

from app.cli_catalog import COMMANDS, _actor, _shown, actor_option, url_option
from app.errors import CorridorError

EXIT_USAGE = 2


def _dump(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False)


def current_store():
    """The storage's current catalog (CORRIDOR_DATABASE_URL; a new storage is built from the files first)."""
    from app.edits import ensure_catalog
    from app.storage import open_storage

    return ensure_catalog(open_storage()).store()


def current_index():
    return current_store().zone_index()


class CorridorGroup(click.Group):
    """Turns every CorridorError into one clear line on stderr and exit code 2, never a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except CorridorError as e:
            click.echo(f"error: {e}", err=True)
            sys.exit(EXIT_USAGE)


@click.group(cls=CorridorGroup)
@click.version_option(package_name="corridor")
def main() -> None:
    """corridor: zone catalog of China's science-and-innovation corridors (科创走廊)."""


@main.command("parse")
@click.argument("text", required=False)
@click.option("--json", "as_json", is_flag=True, help="print JSON (default: a readable summary)")
@click.option("--jsonl", "jsonl", type=click.Path(dir_okay=False, allow_dash=True),
              help="parse a file of JSON lines, each with a 'text' field; one result per line, same order")  # fmt: skip
def parse_cmd(text: str | None, as_json: bool, jsonl: str | None) -> None:
    """Parse 四至 boundary TEXT into sides, features, parts and areas."""
    from app.parser import parse

    if jsonl:
        _parse_jsonl(jsonl)
        return
    if text is None:
        if sys.stdin.isatty():
            raise click.UsageError("give TEXT, --jsonl FILE, or pipe text on standard input")
        text = sys.stdin.read()
    result = parse(text).to_dict()
    if as_json:
        click.echo(_dump(result))
    else:
        click.echo(format_parse(result))


def _parse_jsonl(path: str) -> None:
    from app.parser import parse
    from app.text import decode_bytes

    data = sys.stdin.buffer.read() if path == "-" else Path(path).read_bytes()
    lines = decode_bytes(data, what=path).splitlines()
    failures = 0
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
            if not isinstance(obj, dict) or not isinstance(obj.get("text"), str):
                raise CorridorError("each line must be a JSON object with a string field 'text'")
            out = parse(obj["text"]).to_dict()
            if "id" in obj:
                out = {"id": obj["id"], **out}
        except (json.JSONDecodeError, CorridorError) as e:
            failures += 1
            out = {"line": n, "error": str(e)}
        click.echo(_dump(out))
    if failures:
        click.echo(f"{failures} of {len(lines)} lines could not be parsed", err=True)


def format_parse(r: dict[str, Any]) -> str:
    names = {"east": "东", "south": "南", "west": "西", "north": "北", "southeast": "东南",
             "southwest": "西南", "northeast": "东北", "northwest": "西北"}  # fmt: skip
    out = [f"zone: {r['zone'] or '-'}   area: {r['area_km2'] if r['area_km2'] is not None else '-'} km²"]
    if r.get("reason"):
        out.append(f"  ({r['reason']})")
    for i, p in enumerate(r["parts"], 1):
        area = f"  {p['area_km2']} km²" if p["area_km2"] is not None else ""
        out.append(f"part {i}: {p['name'] or '-'}{area}")
        for side, feats in p["sides"].items():
            desc = " — ".join(
                f["name"] + f"[{f['kind']}]" + (f"{f['qualifiers']}" if f["qualifiers"] else "")
                for f in feats
            )
            out.append(f"  {names[side]} {side:<9} {desc or '(none)'}")
        for o in p["other"]:
            out.append(f"  other: {o}")
    return "\n".join(out)


@main.command("check")
@click.option("--catalog", "catalog_dir", type=click.Path(file_okay=False, exists=True),
              help="folder of catalog *.yaml files (default: the project's boundaries/)")  # fmt: skip
@click.option("--format", "fmt", type=click.Choice(["text", "json", "md"]), default="text", show_default=True)
def check_cmd(catalog_dir: str | None, fmt: str) -> None:
    """Validate the catalog and print the consistency report."""
    from app.catalog import load_catalog
    from app.check import check, format_markdown, format_text

    report = check(load_catalog(catalog_dir))
    if fmt == "json":
        click.echo(_dump(report.to_dict()))
    elif fmt == "md":
        click.echo(format_markdown(report))
    else:
        click.echo(format_text(report))


@main.command("extract")
@click.argument("plan", type=click.Path(dir_okay=False, exists=True))
@click.option(
    "-o", "--out", type=click.Path(dir_okay=False), help="write the draft catalog here (default: stdout)"
)
@click.option(
    "--id", "corridor_id", default=None, help="ASCII id for the corridor root (default: from the file name)"
)
def extract_cmd(plan: str, out: str | None, corridor_id: str | None) -> None:
    """Find every zone, area and 四至 clause in a whole plan document; write a draft catalog file."""
    from app.extract import extract_document, to_yaml
    from app.text import decode_bytes

    path = Path(plan)
    draft = extract_document(decode_bytes(path.read_bytes(), what=path.name), file_name=path.name,
                             corridor_id=corridor_id)  # fmt: skip
    text = to_yaml(draft)
    if out:
        Path(out).write_text(text, encoding="utf-8")
        n_b = sum(1 for z in draft["zones"] if z.get("boundary"))
        click.echo(f"wrote {out}: {len(draft['zones'])} zones, {n_b} with a 四至", err=True)
    else:
        click.echo(text)


@main.command("build")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default="build", show_default=True,
              help="folder for the exports zones.gpkg and zones.geojson")  # fmt: skip
@click.option("--catalog", "catalog_dir", type=click.Path(file_okay=False, exists=True),
              help="folder of catalog *.yaml files (default: the project's boundaries/)")  # fmt: skip
@click.option("--force", is_flag=True, help="import even when edits were committed since the last import")
@url_option
@actor_option
@click.option("-m", "--message", default="", help="why: goes into the build history")
def build_cmd(out_dir: str, catalog_dir: str | None, force: bool, url: str | None, actor: str | None,
              message: str) -> None:  # fmt: skip
    """Build every zone from boundaries/ and geodata/ into the storage (one atomic commit) and export it."""
    from app.build import write_outputs
    from app.edits import import_files
    from app.storage import open_storage

    db = open_storage(url)
    if not db.initialized():
        db.init()
    out = import_files(db, catalog_dir, actor=_actor(actor), message=message, force=force)
    zones = out.store.result.zones
    grades = zones["grade"].value_counts().to_dict()
    summary = ", ".join(f"{k}: {grades.get(k, 0)}" for k in ("A", "B", "C", "none"))
    click.echo(f"built {len(zones)} zones in {out.run.seconds:.1f} s ({summary}); {_shown(db)} at version "
               f"{out.run.version} (run {out.run.id}, {len(out.run.history)} zones changed)")  # fmt: skip
    for path in write_outputs(zones, Path(out_dir)):
        click.echo(f"wrote {path}")


@main.command("report")
@click.option("--format", "fmt", type=click.Choice(["md", "csv", "xlsx"]), default="md", show_default=True)
@click.option("-o", "--out", type=click.Path(dir_okay=False), help="write to this file (required for xlsx)")
def report_cmd(fmt: str, out: str | None) -> None:
    """The analyst's table: stated vs computed km², ratio, grade, county check, unresolved features."""
    from app.report import report_table, write
    from app.spatial_checks import county_checks

    if fmt == "xlsx" and not out:
        raise click.UsageError("--format xlsx needs -o FILE.xlsx")
    res = current_store().result
    table = report_table(res.zones, county_checks(res.catalog, res.built))
    text = write(table, fmt, Path(out) if out else None)
    if text is not None:
        click.echo(text)
    else:
        click.echo(f"wrote {out}", err=True)


@main.command("build-zone")
@click.option("--gazetteer", "gazetteer_file", required=True, type=click.Path(dir_okay=False, exists=True))
@click.option(
    "--name-field", default=None, help="attribute holding feature names (default: name:zh, name, 名称 …)"
)
@click.option("--layer", default=None, help="layer of a multi-layer file")
@click.option(
    "--crs", "assume_crs", default=None, help="CRS of a file that does not declare one (e.g. EPSG:4549)"
)
@click.option("--text", required=True, help="the 四至 text")
@click.option("--out", type=click.Path(dir_okay=False), help="GeoJSON file to write (default: stdout)")
def build_zone_cmd(gazetteer_file: str, name_field: str | None, layer: str | None, assume_crs: str | None,
                   text: str, out: str | None) -> None:  # fmt: skip
    """Build one zone from 四至 TEXT against any gazetteer file; GeoJSON FeatureCollection, one Feature a part."""
    from app.gazetteer import Gazetteer
    from app.gazetteer_io import read_layer
    from app.single import build_text

    gaz = Gazetteer(read_layer(gazetteer_file, name_field=name_field, layer=layer, assume_crs=assume_crs))
    fc = build_text(text, gaz)
    data = json.dumps(fc, ensure_ascii=False)
    if out:
        Path(out).write_text(data, encoding="utf-8")
        click.echo(f"wrote {out}: {len(fc['features'])} parts", err=True)
    else:
        click.echo(data)


@main.group("gazetteer")
def gazetteer_group() -> None:
    """The gazetteer of named boundary features."""


@gazetteer_group.command("import")
@click.argument("file", type=click.Path(dir_okay=False, exists=True))
@click.option(
    "--name-field", default=None, help="attribute holding feature names (default: name:zh, name, 名称 …)"
)
@click.option(
    "--layer", default=None, help="layer of a multi-layer file (for OSM PBF: highways, railways, waterways)"
)
@click.option("--crs", "assume_crs", default=None, help="CRS of a file that does not declare one")
@click.option("--source", default=None, help="source label stored with each feature (default: the file name)")
@click.option("--accuracy", "accuracy_m", type=float, default=None, help="positional accuracy in metres")
@click.option("--into", "into", type=click.Path(file_okay=False), default=None,
              help="folder of imported layers (default: geodata/gazetteer/imported)")  # fmt: skip
def gazetteer_import_cmd(file: str, name_field: str | None, layer: str | None, assume_crs: str | None,
                         source: str | None, accuracy_m: float | None, into: str | None) -> None:  # fmt: skip
    """Import a road/river/rail layer (GeoPackage, GeoJSON, Shapefile, OSM PBF); it takes precedence over sketches."""
    from app.gazetteer import IMPORTED_DIR
    from app.gazetteer_io import read_layer

    df = read_layer(file, name_field=name_field, layer=layer, assume_crs=assume_crs, source=source,
                    accuracy_m=accuracy_m)  # fmt: skip
    folder = Path(into) if into else IMPORTED_DIR
    folder.mkdir(parents=True, exist_ok=True)
    stem = Path(file).name.split(".")[0]
    target = folder / f"{stem}.geojson"
    out = df.copy()
    out["aliases"] = out["aliases"].map(lambda a: json.dumps(list(a), ensure_ascii=False))
    tmp = folder / f".{stem}.geojson.tmp"
    out.to_file(tmp, driver="GeoJSON", engine="pyogrio")
    tmp.replace(target)
    kinds = out["kind"].value_counts().to_dict()
    click.echo(f"imported {len(out)} named features into {target} ({kinds})")


@main.command("assign")
@click.argument("points", type=click.Path(dir_okay=False), required=False)
@click.option("--lon", default=None, help="longitude (x) column (default: lon, lng, longitude, x, 经度)")
@click.option("--lat", default=None, help="latitude (y) column (default: lat, latitude, y, 纬度)")
@click.option("--crs", default="wgs84", show_default=True,
              help="input coordinates: wgs84, cgcs2000, gcj02 (Amap, Tencent), bd09 (Baidu), or EPSG:n")  # fmt: skip
@click.option("-o", "--out", default=None,
              help="output file (.csv, .geojson, .geojsonl, .parquet, .gpkg); with --table, the output table")  # fmt: skip
@click.option("--table", default=None, help="a point table in the PostGIS database: assign it in SQL")
@click.option("--id-column", default=None, help="with --table: the key column copied to the output")
@click.option("--geom-column", default=None, help="with --table: the point column (default: the only one)")
@click.option("--srid", type=int, default=None, help="with --table: SRID of a column that declares none")
@click.option("--chunk", type=int, default=None, help="rows per chunk (default 500000)")
@click.option("--engine", type=click.Choice(["local", "dask"]), default="local", show_default=True)
@click.option("--scheduler", default=None, help="Dask scheduler address (default: a local cluster)")
@click.option("--no-progress", is_flag=True, help="no progress bar")
def assign_cmd(points: str | None, lon: str | None, lat: str | None, crs: str, out: str | None, table: str | None,
               id_column: str | None, geom_column: str | None, srid: int | None, chunk: int | None, engine: str,
               scheduler: str | None, no_progress: bool) -> None:  # fmt: skip
    """Assign every point of a file (CSV, GeoJSON, GeoParquet, GeoPackage) or a PostGIS table to zones."""
    from app.assign import assign_file, to_lonlat_wgs84

    if (points is None) == (table is None):
        raise click.UsageError("give a POINTS file or --table (a point table in the PostGIS database)")
    if table is not None:
        from app.sql_assign import assign_table
        from app.storage import open_storage

        st = assign_table(open_storage(), table, out=out, id_column=id_column, geom_column=geom_column, srid=srid)
        click.echo(f"{st.rows} rows: {st.in_zone} in a zone; wrote table {st.table} in {st.seconds:.2f} s", err=True)
        return
    if out is None:
        raise click.UsageError("give -o/--out FILE")

    to_lonlat_wgs84(np.zeros(1), np.zeros(1), crs)  # a wrong datum name fails before any work
    if engine == "dask":
        from app.assign_dask import assign_dask

        stats = assign_dask(points, out, lon=lon, lat=lat, crs=crs, scheduler=scheduler)
    else:
        stats = assign_file(current_index(), points, out, lon=lon, lat=lat, crs=crs, chunk=chunk,
                            progress=not no_progress)  # fmt: skip
    click.echo(
        f"{stats.rows} rows: {stats.in_zone} in a zone, {stats.outside} outside every zone, "
        f"{stats.invalid} not assignable (see assign_error); wrote {out}",
        err=True,
    )


@main.command("site")
@click.argument("lon", type=float)
@click.argument("lat", type=float)
@click.option("--crs", default="wgs84", show_default=True, help="wgs84, cgcs2000, gcj02, bd09 or EPSG:n")
@click.option("-k", "k", type=int, default=5, show_default=True, help="how many nearest platforms")
@click.option("--json", "as_json", is_flag=True)
def site_cmd(lon: float, lat: float, crs: str, k: int, as_json: bool) -> None:
    """Site check for planners: containing zones, distance to their edges, county, nearest platforms."""
    from app.site import site_report

    store = current_store()
    index = store.zone_index()
    report = site_report(index, lon, lat, crs=crs, k=k, platforms=store.platforms)
    if as_json:
        click.echo(_dump(report))
        return
    click.echo(
        f"point {report['lon']:.6f}, {report['lat']:.6f} (WGS-84)   county {report['county_adcode'] or '-'}"
    )
    if report["zones"]:
        for z in report["zones"]:
            click.echo(f"  in {z['id']:<24} {z['name']:<14} {z['distance_to_edge_m']:>9.0f} m from its edge")
    else:
        near = report["nearest_zone"]
        click.echo(f"  in no zone; nearest {near['id']} {near['name']} at {near['distance_m']:.0f} m")
    for p in report["platforms"]:
        click.echo(f"  platform {p['name']} ({p['kind']}) {p['distance_m']:.0f} m, ±{p['precision_m']:.0f} m")


@main.group("platforms")
def platforms_group() -> None:
    """The platform catalog (geodata/platforms)."""


@platforms_group.command("check")
@click.option("--all", "show_all", is_flag=True, help="list every platform, not only those that differ")
def platforms_check_cmd(show_all: bool) -> None:
    """Platforms whose computed zone differs from the zone the text declares."""
    from collections import Counter

    from app.platforms import check_platforms

    store = current_store()
    rows = check_platforms(store.sources.platforms, store.zone_index(), store.sources.catalog)
    counts = Counter(r.status for r in rows)
    click.echo("platforms: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    for r in rows:
        if show_all or r.status in ("differs", "outside", "uncertain"):
            click.echo(f"  {r.status:<10} {r.platform_id:<36} declared {r.declared_zone or '-':<22} "
                       f"computed {r.computed_zone or '-':<22} ±{r.precision_m or 0:.0f} m")  # fmt: skip


@main.command("serve")
@click.option("--host", default=None, help="address to listen on (default CORRIDOR_HOST or 127.0.0.1)")
@click.option("--port", type=int, default=None, help="port (default CORRIDOR_PORT or 8000)")
def serve_cmd(host: str | None, port: int | None) -> None:
    """Serve the storage's catalog over HTTP (a new storage is built from the repository's files first)."""
    import uvicorn

    from app.api.main import create_app
    from app.api.settings import ServiceSettings

    settings = ServiceSettings()
    app = create_app(settings)
    uvicorn.run(app, host=host or settings.host, port=port or settings.port, log_level="info")


@main.command("map")
@click.option("--corridor", default=None, help="one corridor (quzhou, shaoxing, hangzhou); default all")
@click.option("--gcj02", is_flag=True, help="Amap base map, geometry shifted to GCJ-02")
@click.option("-o", "--out", required=True, type=click.Path(dir_okay=False), help="HTML file to write")
def map_cmd(corridor: str | None, gcj02: bool, out: str) -> None:
    """Write the Folium map of the catalog to an HTML file."""
    from app.maps import save_map

    path = save_map(current_store(), out, corridor=corridor, gcj02_base=gcj02)
    click.echo(f"wrote {path}", err=True)


for _command in COMMANDS:
    main.add_command(_command)

if __name__ == "__main__":
    main()
