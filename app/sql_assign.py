"""Zone assignment of a point table already in PostGIS, run in SQL with the same answers as `ZoneIndex`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from app.errors import InputError
from app.storage import Database

SRIDS = {"wgs84": 4326, "cgcs2000": 4490}


@dataclass
class TableStats:
    table: str
    rows: int
    in_zone: int
    seconds: float


def _ident(name: str) -> Any:
    from psycopg import sql

    parts = name.split(".")
    if not 1 <= len(parts) <= 2 or not all(p.replace("_", "a").isalnum() for p in parts):
        raise InputError(f"table and column names are plain SQL identifiers (schema.table), got {name!r}")
    return sql.Identifier(*parts)


def _geometry_column(cur: Any, table: str, column: str | None) -> tuple[str, int]:
    schema, _, name = table.rpartition(".")
    cur.execute(
        "SELECT f_geometry_column, srid FROM geometry_columns WHERE f_table_name = %s "
        "AND f_table_schema = coalesce(nullif(%s, ''), current_schema()) ORDER BY f_geometry_column",
        (name, schema),
    )
    cols = cur.fetchall()
    if column is not None:
        cols = [c for c in cols if c[0] == column]
    if not cols:
        raise InputError(f"{table}: no geometry column{' ' + column if column else ''} (see geometry_columns)")
    return cols[0][0], int(cols[0][1])


def assign_table(
    db: Database,
    table: str,
    *,
    out: str | None = None,
    id_column: str | None = None,
    geom_column: str | None = None,
    srid: int | None = None,
) -> TableStats:
    """Write OUT (default TABLE_zones): one row per point of TABLE with zone_id, zone_path, corridor, county_adcode.

    The deepest zone holding the point (then the smaller, then the lower id), as the in-memory engine answers;
    points on an edge count as inside. The zones are the storage's current catalog.
    """
    import time

    from psycopg import sql

    if db.kind != "postgis":
        raise InputError("--table runs the assignment inside PostGIS: set CORRIDOR_DATABASE_URL=postgresql://…")
    t0 = time.perf_counter()
    out = out or f"{table}_zones"
    s = db.dialect.schema
    conn = db.dialect.connect()
    try:
        cur = conn.cursor()
        geom, declared = _geometry_column(cur, table, geom_column)
        srid = srid or declared
        if not srid:
            raise InputError(f"{table}.{geom} has no SRID; give --srid (4326 for WGS-84, 4490 for CGCS2000)")
        point = sql.SQL("ST_Transform(ST_SetSRID(p.{g}, {srid}), 4326)").format(g=sql.Identifier(geom),
                                                                              srid=sql.Literal(srid))  # fmt: skip
        key = sql.SQL("p.{}").format(sql.Identifier(id_column)) if id_column else sql.SQL("p.ctid::text")
        Z, P, C = (sql.Identifier(s, n) for n in ("zones", "zone_parts", "counties"))
        cur.execute("BEGIN")
        cur.execute(sql.SQL("""
            CREATE TEMP TABLE zone_depth ON COMMIT DROP AS
            WITH RECURSIVE d AS (
              SELECT id, 0 AS depth FROM {Z} WHERE parent_id IS NULL
              UNION ALL SELECT z.id, d.depth + 1 FROM {Z} z JOIN d ON z.parent_id = d.id)
            SELECT * FROM d""").format(Z=Z))  # fmt: skip
        cur.execute(sql.SQL("""
            CREATE TEMP TABLE zone_up ON COMMIT DROP AS
            WITH RECURSIVE u AS (
              SELECT id AS atom, id FROM {Z} WHERE method <> 'union of children' AND geom IS NOT NULL
              UNION ALL SELECT u.atom, p.id FROM u JOIN {Z} c ON c.id = u.id JOIN {Z} p ON p.id = c.parent_id
                        WHERE p.method = 'union of children')
            SELECT u.atom, u.id, d.depth FROM u JOIN zone_depth d ON d.id = u.id""").format(Z=Z))  # fmt: skip
        cur.execute(sql.SQL("DROP TABLE IF EXISTS {out}").format(out=_ident(out)))
        cur.execute(sql.SQL("""
            CREATE TABLE {out} AS
            SELECT {key} AS point_id, a.zone_id, a.zone_path, z.corridor, c.id AS county_adcode
            FROM {src} p
            CROSS JOIN LATERAL (SELECT {point} AS g) pt
            LEFT JOIN LATERAL (
              SELECT array_agg(DISTINCT zp.zone_id) AS atoms FROM {P} zp JOIN {Z} z ON z.id = zp.zone_id
              WHERE z.method <> 'union of children' AND ST_Intersects(zp.geom, pt.g)) h ON true
            LEFT JOIN LATERAL (
              SELECT
                (SELECT z.id FROM {Z} z JOIN zone_depth d ON d.id = z.id WHERE z.id = ANY(h.atoms)
                 ORDER BY d.depth DESC, z.area_km2, z.id LIMIT 1) AS zone_id,
                (SELECT string_agg(x.id, ';' ORDER BY x.depth, x.id)
                 FROM (SELECT DISTINCT u.id, u.depth FROM zone_up u WHERE u.atom = ANY(h.atoms)) x) AS zone_path
            ) a ON true
            LEFT JOIN {Z} z ON z.id = a.zone_id
            LEFT JOIN LATERAL (SELECT id FROM {C} c WHERE ST_Intersects(c.geom, pt.g) ORDER BY id LIMIT 1) c ON true
            """).format(out=_ident(out), key=key, src=_ident(table), point=point, P=P, Z=Z, C=C))  # fmt: skip
        cur.execute(sql.SQL("SELECT count(*), count(zone_id) FROM {out}").format(out=_ident(out)))
        rows, inside = cur.fetchone()
        cur.execute("COMMIT")
    except Exception as e:
        import psycopg

        if isinstance(e, psycopg.Error):
            raise InputError(f"assignment in PostGIS failed: {str(e).strip()}") from e
        raise
    finally:
        conn.close()
    return TableStats(out, int(rows), int(inside), time.perf_counter() - t0)
