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
    out = out or f"{table.rpartition('.')[2]}_zones"
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
        # scratch tables in a schema of their own (temporary tables cannot use parallel workers); the schema is
        # dropped before the commit, and a failure rolls it back with everything else
        cur.execute("SELECT current_schema(), current_setting('search_path'), pg_backend_pid()")
        home, path, pid = cur.fetchone()
        scratch = f"corridor_assign_{pid}"
        table = table if "." in table else f"{home}.{table}"
        out = out if "." in out else f"{home}.{out}"
        cur.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(scratch)))
        cur.execute(sql.SQL("SET LOCAL search_path TO {}, ").format(sql.Identifier(scratch)) + sql.SQL(path))
        cur.execute(sql.SQL("""
            CREATE UNLOGGED TABLE zone_depth AS
            WITH RECURSIVE d AS (
              SELECT id, 0 AS depth FROM {Z} WHERE parent_id IS NULL
              UNION ALL SELECT z.id, d.depth + 1 FROM {Z} z JOIN d ON z.parent_id = d.id)
            SELECT * FROM d""").format(Z=Z))  # fmt: skip
        cur.execute(sql.SQL("""
            CREATE UNLOGGED TABLE zone_up AS
            WITH RECURSIVE u AS (
              SELECT id AS atom, id FROM {Z} WHERE method <> 'union of children' AND geom IS NOT NULL
              UNION ALL SELECT u.atom, p.id FROM u JOIN {Z} c ON c.id = u.id JOIN {Z} p ON p.id = c.parent_id
                        WHERE p.method = 'union of children')
            SELECT u.atom, u.id, d.depth FROM u JOIN zone_depth d ON d.id = u.id""").format(Z=Z))  # fmt: skip
        # set-based joins driven by the few zone (and county) polygons over an indexed copy of the points,
        # so PostGIS prepares each polygon once instead of testing every point against raw geometry
        cur.execute(sql.SQL("""
            CREATE UNLOGGED TABLE pts AS
            SELECT row_number() OVER () AS k, {key} AS point_id, {point} AS g FROM {src} p""").format(
            key=key, point=point, src=_ident(table)))  # fmt: skip
        cur.execute("CREATE INDEX ON pts USING gist (g)")
        cur.execute("ANALYZE pts")
        cur.execute(sql.SQL("""
            CREATE UNLOGGED TABLE hits AS
            SELECT p.k, zp.zone_id FROM {P} zp JOIN {Z} z ON z.id = zp.zone_id
            JOIN pts p ON ST_Intersects(zp.geom, p.g) WHERE z.method <> 'union of children'""").format(P=P, Z=Z))  # fmt: skip
        cur.execute(sql.SQL("""
            CREATE UNLOGGED TABLE county_parts AS
            SELECT id, ST_Subdivide(geom, 64) AS geom FROM {C}""").format(C=C))  # fmt: skip
        cur.execute("CREATE INDEX ON county_parts USING gist (geom)")
        cur.execute("ANALYZE county_parts")
        cur.execute("""
            CREATE UNLOGGED TABLE point_county AS
            SELECT DISTINCT ON (p.k) p.k, c.id FROM county_parts c JOIN pts p ON ST_Intersects(c.geom, p.g)
            ORDER BY p.k, c.id""")  # fmt: skip
        cur.execute(sql.SQL("DROP TABLE IF EXISTS {out}").format(out=_ident(out)))
        cur.execute(sql.SQL("""
            CREATE TABLE {out} AS
            SELECT p.point_id, d.zone_id, pa.zone_path, z.corridor, c.id AS county_adcode
            FROM pts p
            LEFT JOIN (SELECT DISTINCT ON (h.k) h.k, h.zone_id FROM hits h
                       JOIN zone_depth d ON d.id = h.zone_id JOIN {Z} z ON z.id = h.zone_id
                       ORDER BY h.k, d.depth DESC, z.area_km2, z.id) d ON d.k = p.k
            LEFT JOIN (SELECT x.k, string_agg(x.id, ';' ORDER BY x.depth, x.id) AS zone_path
                       FROM (SELECT DISTINCT h.k, u.id, u.depth FROM hits h JOIN zone_up u ON u.atom = h.zone_id) x
                       GROUP BY x.k) pa ON pa.k = p.k
            LEFT JOIN {Z} z ON z.id = d.zone_id
            LEFT JOIN point_county c ON c.k = p.k
            ORDER BY p.k""").format(out=_ident(out), Z=Z))  # fmt: skip
        cur.execute(sql.SQL("SELECT count(*), count(zone_id) FROM {out}").format(out=_ident(out)))
        rows, inside = cur.fetchone()
        cur.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(scratch)))
        cur.execute("COMMIT")
    except Exception as e:
        import psycopg

        if isinstance(e, psycopg.Error):
            raise InputError(f"assignment in PostGIS failed: {str(e).strip()}") from e
        raise
    finally:
        conn.close()
    return TableStats(out, int(rows), int(inside), time.perf_counter() - t0)
