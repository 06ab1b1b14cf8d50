"""mfa.units: every unit string the package writes parses with cf_units (UDUNITS-2) and
means what the pint unit means; dequantify writes units attributes and plain data."""

from __future__ import annotations

import cf_units
import numpy as np
import pint
import pytest
import xarray as xr

from mfa import lifetimes, stock
from mfa.units import dequantify, is_quantified, quantify, udunits, ureg

# The units the model uses (flows per year, stocks, intensities, counts).
MODEL_UNITS = [
    "t/yr",
    "t",
    "kg",
    "kg/yr",
    "Mt",
    "Mt/yr",
    "Gg",
    "kWh",
    "kWh/yr",
    "GWh/yr",
    "MWh",
    "kWh/vehicle",
    "kg/kWh",
    "vehicle",
    "vehicle/yr",
    "kg/L",
    "km/yr",
    "L/km",
    "km/vehicle/yr",
    "yr",
    "dimensionless",
    "person",
    "vehicle/person",
    "t/person",
    "kg/vehicle",
]

COUNT_DIMS = ("[vehicle]", "[person]")

# pint's year is the Julian year (365.25 d); UDUNITS's "yr" is the tropical year
# (365.242198781 d): they differ by 2.1e-5 (see test_year_means_the_same_in_pint_and_udunits).
# The equivalence check allows that much, which is still far below any prefix or unit mix-up.
YEAR_RTOL = 3e-5


def without_counts(unit: pint.Unit) -> pint.Unit:
    """``unit`` with vehicle/person (and their aliases) dropped."""
    out = ureg.dimensionless
    for name, power in unit._units.items():
        part = ureg.Unit(name)
        if any(d in part.dimensionality for d in COUNT_DIMS):
            continue
        out = out * part**power
    return out


def pint_si(unit: pint.Unit) -> tuple[float, str]:
    """1 ``unit`` in SI base units: (factor, UDUNITS string of the base units)."""
    base = ureg.Quantity(1.0, unit).to_base_units()
    return float(base.magnitude), (format(base.units, "cf") or "1") if base.units != ureg.dimensionless else "1"


def cf_factor(cf_string: str, si_string: str) -> float:
    return float(cf_units.Unit(cf_string).convert(1.0, cf_units.Unit(si_string)))


@pytest.mark.parametrize("unit", MODEL_UNITS)
def test_udunits_parses_with_cf_units(unit):
    written = udunits(unit)
    parsed = cf_units.Unit(written)  # raises ValueError on anything UDUNITS rejects
    assert not parsed.is_unknown() and not parsed.is_no_unit()
    assert "Wh" not in written  # UDUNITS rejects kWh
    assert "veh" not in written and "person" not in written


@pytest.mark.parametrize("unit", MODEL_UNITS)
def test_udunits_is_equivalent_to_the_pint_unit_without_counts(unit):
    pint_unit = ureg.Unit(unit)
    factor, si = pint_si(without_counts(pint_unit))
    written = cf_units.Unit(udunits(unit))
    assert written.is_convertible(cf_units.Unit(si)), (unit, udunits(unit), si)
    rtol = YEAR_RTOL if "[time]" in pint_unit.dimensionality else 1e-12
    assert cf_factor(udunits(unit), si) == pytest.approx(factor, rel=rtol)


@pytest.mark.parametrize("unit", [u for u in MODEL_UNITS if "[time]" not in ureg.Unit(u).dimensionality])
def test_udunits_is_exact_without_time(unit):
    factor, si = pint_si(without_counts(ureg.Unit(unit)))
    assert cf_factor(udunits(unit), si) == pytest.approx(factor, rel=1e-12)


@pytest.mark.parametrize(
    "unit, expected",
    [
        ("kWh/yr", "kW h yr-1"),
        ("GWh/yr", "GW h yr-1"),
        ("kWh/vehicle", "kW h"),
        ("kg/kWh", "kg kW-1 h-1"),
        ("vehicle", "1"),
        ("vehicle/yr", "yr-1"),
        ("person", "1"),
        ("dimensionless", "1"),
        ("t/yr", "t yr-1"),
        ("t", "t"),
    ],
)
def test_udunits_strings(unit, expected):
    assert udunits(unit) == expected
    assert udunits(ureg.Unit(unit)) == expected
    assert udunits(ureg.Quantity(2.0, unit)) == expected


def test_never_writes_the_udunits_traps():
    for unit in MODEL_UNITS:
        tokens = udunits(unit).split()
        assert "a" not in tokens and not any(t.startswith("a-") for t in tokens)  # are, not annum
        assert "kt" not in tokens  # knot


def test_kilotonne_is_written_as_a_mass():
    written = udunits("kilotonne")
    assert cf_factor(written, "kg") == pytest.approx(1e6)


def test_year_means_the_same_in_pint_and_udunits():
    factor, si = pint_si(ureg.Unit("yr"))
    assert cf_factor(udunits("yr"), si) == pytest.approx(factor, rel=1e-12)


# --- units of model results ---------------------------------------------------------------

YEARS = np.arange(2020, 2026)


def _series(values, unit):
    return xr.DataArray(np.asarray(values, float), dims="year", coords={"year": YEARS}).pint.quantify(
        unit, unit_registry=ureg
    )


@pytest.mark.parametrize(
    "flow_unit, stock_unit",
    [("t/yr", "t"), ("kWh/yr", "kW h"), ("GWh/yr", "GW h"), ("vehicle/yr", "1"), ("kg/yr", "kg")],
)
def test_model_results_write_parseable_units(flow_unit, stock_unit):
    inflow = _series([1.0, 2.0, 3.0, 2.0, 1.0, 1.0], flow_unit)
    ds = stock.inflow_driven(inflow, lifetimes.Normal(3.0, 1.0), by_cohort=True)
    stocks = stock.stock_driven(ds["stock"], lifetimes.Normal(3.0, 1.0), by_cohort=True)
    for result in (ds, stocks):
        out = dequantify(result)
        for name, var in out.data_vars.items():
            assert not is_quantified(var), name
            cf_units.Unit(var.attrs["units"])
            expected = stock_unit if name in ("stock", "stock_by_cohort", "cumulative_outflow") else udunits(flow_unit)
            assert var.attrs["units"] == expected, name
        assert out.attrs == result.attrs


# --- dequantify ---------------------------------------------------------------------------


def test_dequantify_dataset_writes_units_attrs_and_plain_data():
    flow = _series([1.0, 2.0, 3.0, 4.0, 5.0, 6.0], "kWh/yr").assign_attrs(long_name="battery capacity")
    count = _series([10, 20, 30, 40, 50, 60], "vehicle").assign_attrs(long_name="vehicles in use")
    plain = xr.DataArray(np.arange(6.0), dims="year", coords={"year": YEARS}, attrs={"note": "plain"})
    ds = xr.Dataset({"flow": flow, "count": count, "plain": plain}, attrs={"title": "t", "max_abs_balance_error": 0.0})
    out = dequantify(ds)
    assert out["flow"].attrs == {"long_name": "battery capacity", "units": "kW h yr-1"}
    assert out["count"].attrs == {"long_name": "vehicles in use", "units": "1"}
    assert out["plain"].attrs == {"note": "plain"}
    assert out.attrs == ds.attrs
    for name in out.data_vars:
        assert isinstance(out[name].data, np.ndarray), name
        assert not is_quantified(out[name]), name
    np.testing.assert_array_equal(out["flow"].values, [1, 2, 3, 4, 5, 6])
    np.testing.assert_array_equal(out["count"].values, [10, 20, 30, 40, 50, 60])
    xr.testing.assert_identical(out["plain"], plain.rename("plain"))
    # The input is left as it was.
    assert is_quantified(ds["flow"]) and "units" not in ds["flow"].attrs
    # Every units attribute parses.
    for name in ("flow", "count"):
        cf_units.Unit(out[name].attrs["units"])


def test_dequantify_dataarray_and_back():
    flow = _series([1.0, 2.0, 3.0, 4.0, 5.0, 6.0], "kWh/yr")
    out = dequantify(flow)
    assert out.attrs["units"] == "kW h yr-1"
    assert isinstance(out.data, np.ndarray)
    back = quantify(out)  # read back as kW * h / yr: the same unit, spelled differently
    assert back.data.dimensionality == flow.data.dimensionality
    np.testing.assert_allclose(back.pint.to("kWh/yr").data.magnitude, flow.data.magnitude, rtol=1e-14)
    plain = xr.DataArray([1.0])
    assert dequantify(plain) is plain


def test_quantify_converts_and_keeps():
    da = _series([1000.0] * 6, "kg")
    np.testing.assert_allclose(quantify(da, "t").data.magnitude, 1.0)
    assert quantify(da) is da
    attrs = xr.DataArray([2.0], dims="x", attrs={"units": "t yr-1"})
    assert quantify(attrs).data.units == ureg.Unit("t/yr")
    assert quantify(xr.DataArray([2.0], dims="x"), "vehicle").data.units == ureg.vehicle


def test_counts_do_not_add_to_masses():
    with pytest.raises(pint.DimensionalityError):
        ureg.Quantity(1, "vehicle") + ureg.Quantity(1, "t")
    assert ureg.Unit("veh") == ureg.Unit("vehicle")


def _import_units(cache_home, code: str = "") -> list[str]:
    import os
    import subprocess
    import sys

    script = ("import sys, mfa.units as u\n"
              "print('matplotlib' in sys.modules, u.udunits('kWh/yr'), u.udunits('vehicle/yr'), u.ureg is __import__('cf_xarray.units').units.units, sep='|')\n" + code)
    env = {**os.environ, "XDG_CACHE_HOME": str(cache_home)}
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, env=env).stdout.replace("\n", "|").split("|")[:-1]


def test_the_registry_is_cf_xarrays_built_from_a_cache_of_parsed_definitions(tmp_path):
    expected = ["False", "kW h yr-1", "yr-1", "True"]  # no matplotlib on import, the same strings either way
    assert _import_units(tmp_path) == expected  # parses, fills the cache
    (folder,) = (tmp_path / "mfa").iterdir()
    assert folder.name == f"pint-{pint.__version__}" and list(folder.glob("*.pickle"))
    assert _import_units(tmp_path) == expected  # from the cache
    assert [p.name for p in (tmp_path / "mfa").iterdir()] == [folder.name]  # no staging folder left
    unwritable = tmp_path / "a-file"
    unwritable.write_text("")
    assert _import_units(unwritable) == expected  # no cache: parsed, as before


def test_plots_set_up_pints_matplotlib_support(tmp_path):
    out = _import_units(tmp_path, "import mfa.report.png, matplotlib.units as m; print(u.ureg.Quantity in m.registry)")
    assert out[-1] == "True"
