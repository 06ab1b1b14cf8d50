"""Scenario files: pydantic models, layering, command-line overrides.

A case is a folder ``scenarios/<case>/``: ``base.yaml`` holds every parameter, and each
scenario file (``negative.yaml``...) lists only what it changes. ``base.yaml`` may start
with ``extends: ../other-case/base.yaml`` to layer on another case. Layers merge as
nested dicts: base, then the scenario, then ``--set key.path=value`` overrides. The
result is validated by :class:`Scenario` (extra fields forbidden, strict types).

Numbers with units may be written plainly, in the unit the field's description names,
or as a string with a unit (``"15000 km/yr"``, ``"55 kWh"``), which is converted.
A value that changes over time is a mapping ``{year: value}``, linear between the years
given and flat beyond them.
"""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, model_validator
from pydantic.functional_validators import BeforeValidator

from .errors import InputError
from .units import ureg



def project_root() -> Path:
    """The folder holding ``scenarios/`` and ``inputs/``: ``$MFA_ROOT``, else the working
    directory, else the source tree this package was installed from."""
    candidates = [Path(os.environ["MFA_ROOT"])] if os.environ.get("MFA_ROOT") else []
    candidates += [Path.cwd(), Path(__file__).resolve().parents[1]]
    for folder in candidates:
        if (folder / "scenarios").is_dir() and (folder / "inputs").is_dir():
            return folder.resolve()
    raise InputError(None, "scenarios/", "a folder with scenarios/ and inputs/: run mfa from the repository or set MFA_ROOT")


def resolve(name: str) -> Path:
    """An input path from a scenario file: absolute, or relative to :func:`project_root`."""
    path = Path(name)
    return path if path.is_absolute() else project_root() / path


def _in_unit(unit: str):
    def convert(value):
        if isinstance(value, bool):
            raise ValueError(f"expected a number in {unit}, got {value!r}")
        if isinstance(value, str):
            try:  # YAML 1.1 reads 1e-06 as a string; a bare number is in the field's unit
                return float(value)
            except ValueError:
                pass
            try:
                quantity = ureg.Quantity(value)
            except Exception as err:  # pint raises several kinds for a bad string
                raise ValueError(f"expected a number in {unit}, got {value!r}") from err
            try:
                return float(quantity.to(unit).magnitude)
            except Exception as err:
                raise ValueError(f"expected a quantity convertible to {unit}, got {value!r}") from err
        return value

    return BeforeValidator(convert)


def Q(unit: str, ge: float | None = 0.0, le: float | None = None):
    """A float field in ``unit`` (numbers taken as that unit; strings converted)."""
    return Annotated[float, _in_unit(unit), Field(ge=ge, le=le, json_schema_extra={"unit": unit})]


def Path_(unit: str, ge: float | None = 0.0, le: float | None = None):
    """A value in ``unit`` constant or by year: ``{year: value}``."""
    return Q(unit, ge, le) | dict[int, Q(unit, ge, le)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class Years(_Strict):
    start: int = 2015
    """First model year (first cohort)."""
    history_end: int = 2025
    """Last year run from registrations; the stock projection drives the years after."""
    end: int = 2050
    """Last model year."""
    report_start: int = 2023
    """First year of cumulative figures (the study's 2023-2050)."""


class Logistic(_Strict):
    """An S-curve anchored on the observed value of the last historic year:
    ``v(t) = sat / (1 + (sat / v0 - 1) * exp(-rate * (t - t0)))``."""

    saturation: Q("1", ge=0)
    """Level approached in the long run, in the curve's unit."""
    rate: Q("1/yr", ge=0)
    """Logistic growth rate, per year."""


class WeibullSpec(_Strict):
    """Weibull lifetime: ``shape`` and either ``mean`` or ``scale`` (years), by cohort if a mapping."""

    shape: Q("1", ge=0)
    """Weibull shape k (> 0)."""
    mean: Path_("yr") | None = None
    """Mean lifetime, years; a mapping gives it by cohort (sale year)."""
    scale: Path_("yr") | dict[str, Q("yr")] | None = None
    """Weibull scale, years; by cohort, or by chemistry (a mapping of names, 'default' for the rest)."""

    @model_validator(mode="after")
    def _one_of(self):
        if (self.scale is None) == (self.mean is None):
            raise ValueError("give exactly one of 'mean' and 'scale'")
        return self


class NormalSpec(_Strict):
    mean: Q("yr")
    """Mean lifetime, years."""
    sd: Q("yr", ge=0)
    """Standard deviation, years (> 0)."""


class Case(_Strict):
    name: str
    """Case name, the folder under ``scenarios/``."""
    description: str
    """One line shown in reports."""
    scenarios: list[str]
    """Scenario names, in the order they appear in outputs."""
    only_regions: list[int] | None = None
    """Run only these region codes (None: every region of the case)."""


class Region(_Strict):
    """A region with data of its own: registrations, official stock, population."""

    name: str
    """Name of the region (English)."""
    history_file: str
    """NEV registrations (all NEV types) and official NEV stock by year (inputs/...)."""
    population_file: str
    """Population by year (inputs/...)."""
    cars_per_1000_observed: Q("1", ge=0)
    """Passenger cars per 1000 people in the last historic year (all powertrains)."""


class ProvinceTable(_Strict):
    """Many regions from one table of registrations and population (REFERENCE s7)."""

    file: str
    """Long table: province (GB/T code), variable, value... (inputs/provinces.csv)."""
    meta_file: str
    """Codes, names and representative points (inputs/provinces_meta.csv)."""
    national_sales_file: str
    """National NEV sales by year, which shape each province's registrations over the years."""
    national_stock_file: str | None = None
    """National NEV stock by year (all NEV types), compared with the sum of the regions in
    ``calibration.csv`` (rows of region ``national``)."""
    cars_per_1000_observed: Q("1", ge=0)
    """Passenger cars per 1000 people in the last historic year, for every province of the table."""


class Study(_Strict):
    """The published figures the run is compared with (``calibration.csv``)."""

    file: str | None = None
    """CSV of the study's figures, relative to the repository."""
    region: int = 460000
    """Region the study and the official stock figures are about."""


class Fleet(_Strict):
    passenger_share: Q("1", le=1)
    """Passenger cars' share of NEV registrations and of the NEV stock (regions with own data)."""
    population_growth: Path_("1/yr", ge=-0.1)
    """Population growth rate, per year, after the last observed year."""
    cars_per_1000: Logistic
    """Passenger cars per 1000 people after the last historic year."""
    nev_share: Logistic
    """NEV share of the passenger car stock after the last historic year."""
    bev_share_of_sales: Path_("1", le=1)
    """BEV share of NEV passenger car sales (the rest PHEV)."""
    lifetime: WeibullSpec
    """Vehicle lifetime."""


class Batteries(_Strict):
    capacity_file: str
    """Pack capacity by powertrain and sale year (kWh per vehicle)."""
    capacity_scale: Path_("1")
    """Multiplier on that capacity, by sale year (scenario lever within the band)."""
    chemistry_file: str
    """Chemistry shares of new capacity by path, year, chemistry."""
    chemistry_path: str
    """Which path of the chemistry file to use."""
    intensity_file: str
    """Metal content by chemistry and element (kg per kWh)."""
    lifetime: WeibullSpec
    """Battery lifetime (scale may be given by chemistry)."""
    replacement_max_vehicle_age: Q("yr")
    """A battery that fails in a car up to this age is replaced; older cars keep theirs."""


class EndOfLife(_Strict):
    second_use_share: dict[str, Q("1", le=1)]
    """Share of retired packs re-used in stationary storage, by chemistry ('default' for the rest)."""
    second_use_lifetime: NormalSpec
    """Lifetime in second use."""
    second_use_collection_rate: Q("1", le=1)
    """Share of packs leaving second use that reach a recycler."""
    collection_rate: Path_("1", le=1)
    """Share of retired packs (not re-used) that reach a formal recycler, by year."""
    recycling_process: dict[int, str]
    """Process of the recovery-efficiency file in use from each year on."""
    efficiency_file: str
    """Recovery efficiencies by process and element."""


class Carbon(_Strict):
    file: str
    """Fuel, electricity and mileage parameters (inputs/carbon.csv)."""
    grid_file: str
    """Grid emission factors by path and year."""
    grid_paths: list[str]
    """Grid emission-factor paths spanning the carbon range: in each year the ``lower`` bound
    of the reduction takes the highest factor of these paths, the ``upper`` bound the lowest."""
    annual_mileage: Path_("km/yr") | None = None
    """Override of the carbon file's mileage, km per year."""
    phev_electric_share: Q("1", le=1) | None = None
    """Override of the carbon file's PHEV electric share of km."""
    consumption_year: int | None = None
    """Hold petrol-car and BEV consumption at this year's value (None: follow the paths)."""
    bev_consumption_scale: Q("1") = 1.0
    """Multiplier on the BEV consumption path of the carbon file."""
    ice_consumption_scale: Q("1") = 1.0
    """Multiplier on the petrol-car consumption path of the carbon file."""


class Distribution(_Strict):
    """An uncertain parameter: how its draws are distributed and how they apply.

    Values are in the parameter's own unit (``replace``) or a factor on it (``multiply``).
    """

    distribution: Literal["uniform", "triangular", "normal", "lognormal", "beta"]
    """Shape: uniform(low, high), triangular(low, mode, high), normal(mean, sd),
    lognormal(mean, sd of the variable itself), beta(alpha, beta) scaled to [low, high]."""
    low: float | None = None
    """Lower end (uniform, triangular, beta)."""
    high: float | None = None
    """Upper end (uniform, triangular, beta)."""
    mode: float | None = None
    """Most likely value (triangular)."""
    mean: float | None = None
    """Mean (normal, lognormal)."""
    sd: float | None = None
    """Standard deviation (normal, lognormal), > 0."""
    alpha: float | None = None
    """First shape parameter (beta), > 0."""
    beta: float | None = None
    """Second shape parameter (beta), > 0."""
    multiply: bool = True
    """True: the draw multiplies the parameter (every year, cohort...); False: replaces it."""
    where: dict[str, str | int] | None = None
    """Apply only to this slice of the parameter, e.g. ``{chemistry: LFP}``."""
    renormalise: str | None = None
    """Keep the parameter's sum over this dim: the rest of the slice's dim absorbs the change."""

    @model_validator(mode="after")
    def _complete(self):
        needed = {
            "uniform": ("low", "high"), "triangular": ("low", "mode", "high"), "normal": ("mean", "sd"),
            "lognormal": ("mean", "sd"), "beta": ("alpha", "beta", "low", "high"),
        }[self.distribution]
        missing = [n for n in needed if getattr(self, n) is None]
        if missing:
            raise ValueError(f"a {self.distribution} distribution needs {', '.join(missing)}")
        if self.low is not None and self.high is not None and not self.low < self.high:
            raise ValueError("low must be below high")
        if self.mode is not None and not self.low <= self.mode <= self.high:
            raise ValueError("mode must lie between low and high")
        for name in ("sd", "alpha", "beta"):
            if getattr(self, name) is not None and getattr(self, name) <= 0:
                raise ValueError(f"{name} must be > 0")
        if self.distribution == "lognormal" and self.mean <= 0:
            raise ValueError("a lognormal mean must be > 0")
        return self


class Scenario(_Strict):
    """Every parameter of one scenario of one case."""

    case: Case
    regions: dict[int, Region] = {}
    """Regions with data of their own, by GB/T 2260 code; they replace the table's rows."""
    province_table: ProvinceTable | None = None
    """Regions from the provincial table (all 31 provinces of mainland China)."""
    study: Study = Study()
    years: Years = Years()
    fleet: Fleet
    batteries: Batteries
    end_of_life: EndOfLife
    carbon: Carbon
    extends: str | None = None
    """Another case's base.yaml this one layers on (relative to this file)."""
    uncertainty: dict[str, Distribution] = {}
    """Uncertain parameters by name (the variables of :mod:`mfa.parameters`), for ``--samples``."""
    _files: list[Path] = PrivateAttr(default_factory=list)
    """The scenario files this scenario was read from, base first."""
    _overrides: list[str] = PrivateAttr(default_factory=list)
    """The ``--set KEY=VALUE`` overrides applied last."""

    @model_validator(mode="after")
    def _some_region(self):
        if not self.regions and self.province_table is None:
            raise ValueError("give 'regions' or 'province_table'")
        return self

    @property
    def source(self) -> Path:
        """The scenario's own file (the last layer), for error messages."""
        return self._files[-1] if self._files else Path(f"{self.case.name}.yaml")


def deep_merge(base: dict, override: dict) -> dict:
    """``override`` laid over ``base``; nested dicts merge, anything else replaces."""
    out = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict) and key not in _REPLACED_WHOLE:
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


# Year-keyed paths replace rather than merge: a scenario's path is the whole path.
_REPLACED_WHOLE = {"grid_paths", "collection_rate", "recycling_process", "capacity_scale", "population_growth",
                   "bev_share_of_sales", "mean", "annual_mileage"}


def load_yaml(path: Path) -> dict:
    """A YAML mapping, read safely; a clear error for a missing or malformed file."""
    if not path.exists():
        raise InputError(path, "file", "the file does not exist")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        raise InputError(path, "file", f"valid YAML ({err})".replace("\n", " ")) from err
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise InputError(path, "file", "a mapping of settings at the top level")
    return data


def _base_layers(path: Path) -> list[tuple[Path, dict]]:
    data = load_yaml(path)
    parent = data.pop("extends", None)
    layers = _base_layers((path.parent / parent).resolve()) if parent else []
    return [*layers, (path, data)]


def parse_override(text: str) -> dict:
    """``"a.b.c=value"`` -> ``{"a": {"b": {"c": value}}}``, the value read as YAML."""
    if "=" not in text:
        raise InputError(None, f"--set {text}", "key.path=value")
    key, raw = text.split("=", 1)
    value = yaml.safe_load(raw)
    for part in reversed(key.strip().split(".")):
        value = {int(part) if part.isdigit() else part: value}  # region codes and years are int keys
    return value


def case_dir(case: str) -> Path:
    """The folder of ``case``: a name under ``scenarios/``, or a path to a folder with a base.yaml."""
    if Path(case).is_dir() and (Path(case) / "base.yaml").exists():
        return Path(case).resolve()
    scenarios = project_root() / "scenarios"
    folder = scenarios / case
    if not (folder / "base.yaml").exists():
        known = sorted(p.name for p in scenarios.iterdir() if (p / "base.yaml").exists())
        raise InputError(folder, "case", f"one of {known}, or a folder with a base.yaml")
    return folder


def scenario_data(case: str, names: list[str] | None = None, overrides: list[str] = ()) -> dict[str, tuple[dict, list[Path]]]:
    """The merged settings of each scenario of ``case`` (all, or ``names``), overrides
    applied, not yet validated, with the files they came from (base layers first)."""
    folder = case_dir(case)
    layers = _base_layers(folder / "base.yaml")
    merged_base: dict = {}
    for _, data in layers:
        merged_base = deep_merge(merged_base, data)
    available = merged_base.get("case", {}).get("scenarios", [])
    cli: dict = {}
    for text in overrides:
        cli = deep_merge(cli, parse_override(text))
    out = {}
    for name in names or available:
        if name not in available:
            raise InputError(folder / "base.yaml", "case.scenarios", f"a scenario named {name!r} (have {available})")
        path = folder / f"{name}.yaml"
        out[name] = (deep_merge(deep_merge(merged_base, load_yaml(path)), cli), [p for p, _ in layers] + [path])
    return out


def load_scenarios(case: str, names: list[str] | None = None, overrides: list[str] = ()) -> dict[str, Scenario]:
    """The validated scenarios of ``case`` (all, or ``names``), with overrides applied."""
    scenarios = {name: validate(data, files) for name, (data, files) in scenario_data(case, names, overrides).items()}
    for scenario in scenarios.values():
        scenario._overrides = list(overrides)
    return scenarios


def validate(data: dict, files: list[Path]) -> Scenario:
    """A :class:`Scenario` read from ``files`` (base first), or an :class:`InputError`
    naming the scenario's file and the field."""
    path = files[-1]
    try:
        scenario = Scenario.model_validate(data)
        scenario._files = list(files)
        return scenario
    except ValidationError as err:
        first = err.errors()[0]
        # pydantic names union branches in the location; the user needs the setting's path.
        field = ".".join(str(p) for p in first["loc"] if not str(p).startswith(("function-", "`")))
        message = first["msg"]
        if first["type"] == "extra_forbidden":
            message = "no such setting (misspelt?)"
        elif first["type"] == "missing":
            message = "this setting is required"
        raise InputError(path, field, message) from err
