"""The analyst's table of a build: stated vs computed areas, grade, county check, unresolved features."""

from __future__ import annotations

import io
from pathlib import Path

import geopandas as gpd
import pandas as pd

from app.spatial_checks import CountyCheck

COLUMNS = {
    "id": "zone", "name": "name", "level": "level", "stated_area_km2": "stated km²", "area_km2": "computed km²",
    "area_geodesic_km2": "geodesic km²", "ratio": "ratio", "grade": "grade", "method": "method",
    "county_check": "county check", "unresolved": "unresolved features", "closures": "closures",
}  # fmt: skip


def report_table(zones: gpd.GeoDataFrame, county: list[CountyCheck]) -> pd.DataFrame:
    checks = {c.zone_id: c for c in county}
    df = pd.DataFrame(zones.drop(columns="geometry"))
    df["county_check"] = [_county_text(checks.get(z)) for z in df["id"]]
    return df[list(COLUMNS)].rename(columns=COLUMNS)


def _county_text(c: CountyCheck | None) -> str:
    if c is None:
        return ""
    if c.share_outside_stated is None:
        return f"in {c.computed} (not stated)"
    verdict = "ok" if c.share_outside_stated <= 0.05 else f"{c.share_outside_stated:.0%} outside {c.stated}"
    return f"{verdict}; in {c.computed}"


def render(table: pd.DataFrame, fmt: str) -> str | bytes:
    if fmt == "csv":
        return table.to_csv(index=False)
    if fmt == "xlsx":
        buf = io.BytesIO()
        with pd.ExcelWriter(buf, engine="openpyxl") as xw:
            table.to_excel(xw, sheet_name="zones", index=False)
        return buf.getvalue()
    return _markdown(table)


def _markdown(table: pd.DataFrame) -> str:
    def cell(v: object) -> str:
        if v is None or (isinstance(v, float) and pd.isna(v)):
            return ""
        if isinstance(v, float):
            return f"{v:.2f}" if abs(v) >= 10 else f"{v:.3g}"
        return str(v).replace("|", "\\|")

    head = "| " + " | ".join(table.columns) + " |"
    sep = (
        "|"
        + "|".join("---:" if pd.api.types.is_numeric_dtype(table[c]) else "---" for c in table.columns)
        + "|"
    )
    rows = ["| " + " | ".join(cell(v) for v in r) + " |" for r in table.itertuples(index=False)]
    return "\n".join([head, sep, *rows])


def write(table: pd.DataFrame, fmt: str, out: Path | None) -> str | None:
    data = render(table, fmt)
    if out is None:
        return data if isinstance(data, str) else None
    if isinstance(data, bytes):
        out.write_bytes(data)
    else:
        out.write_text(data, encoding="utf-8")
    return None
