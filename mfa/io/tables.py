"""CSV outputs: ``summary.csv`` (cumulative and milestone values of the declared
system's summary variables) and any table a run writes."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import xarray as xr

from ..units import is_rate, magnitude_and_unit, udunits, ureg
from . import atomic_path

MILESTONES = (2030, 2040, 2050)


TOTAL = "total"
"""The ``region`` of the rows that sum every region (written when there are several)."""


def with_total(da: xr.DataArray) -> xr.DataArray:
    """``da`` with one more ``region``, :data:`TOTAL`, the sum of all regions."""
    if da.sizes.get("region", 1) < 2:
        return da
    total = da.sum("region").expand_dims(region=[TOTAL])
    return xr.concat([da.assign_coords(region=da["region"].astype(str)), total], "region")


def summary(results: xr.Dataset, report_start: int) -> pd.DataFrame:
    """Per scenario, region, variable and element (or bound): the cumulative total from
    ``report_start`` (flows only) and the values of the milestone years, with the unit.
    With several regions, rows of region ``total`` give their sum."""
    from .. import definition

    frames = []
    for name in definition.load().summary:
        # sums and selections on plain numbers: on a pint array each costs milliseconds (mfa.units.dequantify)
        values, unit = magnitude_and_unit(results[name], name)
        values = with_total(values.sum([d for d in definition.load().summed_dims if d in values.dims]))
        is_flow = unit is not None and is_rate(unit)
        detail_dims = [d for d in values.dims if d not in ("scenario", "region", "year")]
        values = values.reset_coords(drop=True)
        columns = {}
        if is_flow:
            columns[f"cumulative_{report_start}_{int(values['year'].max())}"] = values.sel(year=slice(report_start, None)).sum("year")
        columns.update({f"value_{y}": values.sel(year=y, drop=True) for y in MILESTONES if y in values["year"]})
        # one frame from one Dataset: a frame of Series aligns their indexes (most of the time)
        table = xr.Dataset(columns).to_dataframe(dim_order=[d for d in values.dims if d != "year"]).reset_index()
        table["detail"] = table[detail_dims[0]] if detail_dims else ""
        table = table.drop(columns=detail_dims)
        table.insert(0, "variable", name)
        table["unit"] = udunits(unit) if unit is not None else "1"
        table["cumulative_unit"] = udunits(unit * ureg.year) if is_flow else ""
        frames.append(table)
    out = pd.concat(frames, ignore_index=True)
    first = ["scenario", "region", "variable", "detail", "unit"]
    return out[first + [c for c in out.columns if c not in first]]


def write_csv(df: pd.DataFrame, path: Path) -> Path:
    with atomic_path(path) as tmp:
        df.to_csv(tmp, index=False, float_format="%.6g")
    return Path(path)
