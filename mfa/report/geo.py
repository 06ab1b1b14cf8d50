"""A map of one number per region, drawn from the polygons the run wrote into ``gis.nc``.

``mfa run --boundaries FILE`` stores the regions' polygons in ``gis.nc`` as a CF-1.8
geometry container (:mod:`mfa.io.gis`); without boundaries it holds points and the
report has no map. The polygons are decoded here into GeoJSON and embedded in a plotly
``choropleth`` trace: plotly's geo subplot draws it with d3 from the page itself (no map
tiles, no topojson from the network: the base layers are off).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import xarray as xr

from . import data
from .fonts import region_label

log = logging.getLogger(__name__)

GEOMETRY = "region_geometry"


def region_shapes(path: Path) -> dict | None:
    """The regions' polygons of ``gis.nc`` as a GeoJSON FeatureCollection (feature ``id``:
    the region code); ``None`` when the file is missing or holds points."""
    path = Path(path)
    if not path.exists():
        return None
    with xr.open_dataset(path, decode_times=False) as ds:
        if GEOMETRY not in ds or ds[GEOMETRY].attrs.get("geometry_type") != "polygon":
            return None
        codes = [str(int(c)) for c in np.asarray(ds["region_code"].values)]
        lon, lat = np.asarray(ds["node_lon"].values, dtype=float), np.asarray(ds["node_lat"].values, dtype=float)
        node_count = np.asarray(ds["node_count"].values, dtype=int)
        has_parts = "part_node_count" in ds
        parts = np.asarray(ds["part_node_count"].values, dtype=int) if has_parts else node_count
        holes = np.asarray(ds["interior_ring"].values, dtype=int) if "interior_ring" in ds else np.zeros(len(parts), dtype=int)
    features, node, part = [], 0, 0
    for code, count in zip(codes, node_count):
        polygons: list[list] = []
        used = 0
        while True:  # a region's parts add up to its node count; an empty one has one part of 0 nodes
            n = int(parts[part])
            if n:
                ring = _wound(np.column_stack([lon[node:node + n], lat[node:node + n]]), clockwise=not holes[part])
                if holes[part] and polygons:
                    polygons[-1].append(ring)
                else:
                    polygons.append([ring])
            node, used, part = node + n, used + n, part + 1
            if used >= count:
                break
        if polygons:
            features.append({"type": "Feature", "id": code, "properties": {}, "geometry": {"type": "MultiPolygon", "coordinates": polygons}})
    log.debug("%s: polygons of %d of %d regions", path.name, len(features), len(codes))
    return {"type": "FeatureCollection", "features": features}


def _wound(ring: np.ndarray, clockwise: bool) -> list:
    """``ring`` wound as d3-geo (plotly's geo) wants it: exterior rings clockwise, holes
    anticlockwise. CF and GeoJSON wind the other way; d3 would read such a ring as the
    whole globe but the region, and the map would show nothing."""
    x, y = ring[:, 0], ring[:, 1]
    is_clockwise = float(np.sum((x[1:] - x[:-1]) * (y[1:] + y[:-1]))) > 0
    return (ring if is_clockwise == clockwise else ring[::-1]).round(5).tolist()


def choropleth(ds: xr.Dataset, names, shapes: dict, sel_base: dict, unit_label: str, title: str):
    """One number per region (``sel_base`` without the region) on the regions' polygons."""
    import plotly.graph_objects as go

    codes = [str(c) for c in names["code"]]
    values = [data.evaluate(ds, {**sel_base, "region": code}) for code in codes]
    labels = [region_label(en, zh, for_matplotlib=False) for en, zh in zip(names["name_en"], names["name_zh"])]
    trace = go.Choropleth(geojson=shapes, locations=codes, z=values, text=labels, featureidkey="id", colorscale="Blues",
                          marker_line=dict(color="#8c8c8c", width=0.5), colorbar=dict(title=dict(text=unit_label)),
                          meta={"regions": codes, **data.meta({k: v for k, v in sel_base.items() if k != "region"})},
                          hovertemplate=f"%{{text}}: %{{z:,.4~r}} {unit_label}<extra></extra>")
    fig = go.Figure(trace)
    # base layers off: the geo subplot then needs no topojson, which plotly would fetch
    fig.update_geos(visible=False, fitbounds="locations", projection_type="mercator")
    fig.update_layout(title=dict(text=title, x=0.01), height=560, template="plotly_white", font=dict(size=11),
                      margin=dict(l=10, r=10, t=60, b=10))
    return fig
