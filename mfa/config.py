"""Scenario files: pydantic models, layering, command-line overrides.

A case is a folder ``scenarios/<case>/``: ``base.yaml`` holds every parameter, and each
scenario file (``negative.yaml``...) lists only what it changes. ``base.yaml`` may start
with ``extends: ../other-case/base.yaml`` (a path relative to it) or ``extends: other-case``
(a case of the project's ``scenarios/``) to layer on another case. Layers merge as
nested dicts: base, then the scenario, then ``--set key.path=value`` overrides. The
result is validated by :class:`Scenario` (extra fields forbidden, strict types).

Numbers with units may be written plainly, in the unit the field's description names,
or as a string with a unit (``"15000 km/yr"``, ``"55 kWh"``), which is converted.
A value that changes over time is a mapping ``{year: value}``, linear between the years
given and flat beyond them.
"""

from __future__ import annotations

import copy
import functools
import math
import os
import sys
import sysconfig
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator, model_validator
from pydantic.functional_validators import AfterValidator, BeforeValidator

from .errors import InputError
from .inputs import per_file_version
from .units import ureg


def _installed_data() -> list[Path]:
    """Where ``pip install`` put the shipped ``scenarios/`` and ``inputs/`` (setup.py's
    data files, ``<prefix>/share/mfa``): the environment's prefix, or the user scheme's."""
    schemes = [sysconfig.get_paths()["data"], sys.prefix]
    if user := sysconfig.get_preferred_scheme("user"):
        schemes.append(sysconfig.get_paths(user)["data"])
    return [Path(prefix) / "share" / "mfa" for prefix in schemes]


def project_root() -> Path:
    """The folder holding ``scenarios/`` and ``inputs/``: ``$MFA_ROOT``, else the working
    directory, else the source tree this package runs from (a checkout, or an editable
    install), else the copy installed with the package. Looked up once per MFA_ROOT and
    working directory (every input path resolves against it), again if it lost a folder."""
    root = _project_root(os.environ.get("MFA_ROOT"), os.getcwd())
    if not _has_data(root):
        _project_root.cache_clear()
        root = _project_root(os.environ.get("MFA_ROOT"), os.getcwd())
    return root


def _has_data(folder: Path) -> bool:
    return os.path.isdir(os.path.join(folder, "scenarios")) and os.path.isdir(os.path.join(folder, "inputs"))


@functools.lru_cache(maxsize=16)
def _project_root(mfa_root: str | None, cwd: str) -> Path:
    if mfa_root:
        root = Path(mfa_root)
        if not _has_data(root):
            raise InputError(None, "MFA_ROOT", f"a folder with scenarios/ and inputs/, got {str(root)!r}")
        return root.resolve()
    for folder in [Path(cwd), Path(__file__).resolve().parents[1], *_installed_data()]:
        if _has_data(folder):
            return folder.resolve()
    raise InputError(None, "MFA_ROOT", "a folder with scenarios/ and inputs/ (none found here, nor installed with mfa)")


def resolve(name: str, case_folder: Path | None = None) -> Path:
    """An input path from a scenario file: absolute; else relative to ``case_folder`` (the
    folder of the scenario file that names it) when the file is there; else relative to
    :func:`project_root`. A case folder made by ``mfa init`` thus carries its own data
    (``data/history.csv``) wherever it lives, while the shipped cases' ``inputs/...``
    paths resolve as before."""
    path = Path(name)
    if path.is_absolute():
        return path
    if case_folder is not None and (Path(case_folder) / path).is_file():
        return (Path(case_folder) / path).resolve()
    return project_root() / path


def _anchored(data: dict, folder: Path) -> dict:
    """A layer's settings with each input path (a setting named ``file`` or ``*_file``)
    that names a file in ``folder`` made absolute, so that it still resolves after the
    layers merge; other paths are left to :func:`resolve` (the project root)."""
    out = {}
    for key, value in data.items():
        if isinstance(value, dict):
            value = _anchored(value, folder)
        elif isinstance(value, str) and (key == "file" or str(key).endswith("_file")) and not Path(value).is_absolute() and (folder / value).is_file():
            value = str(resolve(value, folder))
        out[key] = value
    return out


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


def _in_range(ge: float | None, le: float | None, gt: float | None):
    """The check of a number's range, whose message states the whole range ("a number in
    [0, 1], got 1.5"), where pydantic's own names only the bound crossed."""
    low = f"({gt:g}" if gt is not None else f"[{ge:g}" if ge is not None else None
    if low and le is not None:
        expected = f"a finite number in {low}, {le:g}]"
    elif low:
        expected = f"a finite number {'>' if gt is not None else '>='} {low[1:]}"
    else:
        expected = f"a finite number <= {le:g}" if le is not None else "a finite number"

    def check(value: float) -> float:
        if not math.isfinite(value) or (gt is not None and value <= gt) or (ge is not None and value < ge) or (le is not None and value > le):
            raise ValueError(f"{expected}, got {value:g}")
        return value

    return AfterValidator(check)


def Q(unit: str, ge: float | None = 0.0, le: float | None = None, gt: float | None = None):
    """A finite float field in ``unit`` (numbers taken as that unit; strings converted),
    within ``ge``/``gt`` and ``le``."""
    return Annotated[float, _in_unit(unit), _in_range(None if gt is not None else ge, le, gt), Field(json_schema_extra={"unit": unit})]


def Path_(unit: str, ge: float | None = 0.0, le: float | None = None, gt: float | None = None):
    """A value in ``unit`` constant or by year: ``{year: value}``."""
    return Q(unit, ge, le, gt) | dict[int, Q(unit, ge, le, gt)]


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

    @model_validator(mode="after")
    def _ordered(self):
        if not self.start <= self.history_end <= self.end or not self.start <= self.report_start <= self.end:
            raise ValueError(
                "years with start <= history_end <= end and report_start between start and end, got "
                f"start {self.start}, history_end {self.history_end}, end {self.end}, report_start {self.report_start}"
            )
        return self


class Logistic(_Strict):
    """An S-curve anchored on the observed value of the last historic year:
    ``v(t) = sat / (1 + (sat / v0 - 1) * exp(-rate * (t - t0)))``."""

    saturation: Q("1", gt=0)
    """Level approached in the long run, in the curve's unit."""
    rate: Q("1/yr", ge=0)
    """Logistic growth rate, per year."""


class WeibullSpec(_Strict):
    """Weibull lifetime: ``shape`` and either ``mean`` or ``scale`` (years), by cohort if a mapping."""

    shape: Q("1", gt=0)
    """Weibull shape k (> 0)."""
    mean: Path_("yr", gt=0) | None = None
    """Mean lifetime, years; a mapping gives it by cohort (sale year)."""
    scale: Path_("yr", gt=0) | dict[str, Q("yr", gt=0)] | None = None
    """Weibull scale, years; by cohort, or by chemistry (a mapping of names, 'default' for the rest)."""

    @model_validator(mode="after")
    def _one_of(self):
        if (self.scale is None) == (self.mean is None):
            raise ValueError("give exactly one of 'mean' and 'scale'")
        return self


class NormalSpec(_Strict):
    mean: Q("yr", gt=0)
    """Mean lifetime, years."""
    sd: Q("yr", gt=0)
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
    new_car_sales_file: str
    """NEV share of new-car sales by year (``nev_share_new_cars`` rows; inputs/...)."""


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
    retired_estimates_file: str | None = None
    """Published estimates of the packs retired nationally (capacity, mass), compared with
    the sum of the regions in calibration.csv."""
    cars_per_1000_observed: Q("1", ge=0)
    """Passenger cars per 1000 people in the last historic year, for every province of the table."""
    nev_share_of_new_cars: Q("1", le=1)
    """NEV share of new passenger-car sales in the last historic year, for every province of the table."""


class Study(_Strict):
    """The published figures the run is compared with (``calibration.csv``)."""

    file: str | None = None
    """CSV of the study's figures, relative to the repository."""
    region: int = 460000
    """Region the study and the official stock figures are about."""
    end: int = 2050
    """Last year of the study's cumulative figures (from ``years.report_start``): the model
    is compared over these years only, whatever its own end year."""


class Fleet(_Strict):
    passenger_share: Q("1", le=1)
    """Passenger cars' share of NEV registrations and of the NEV stock (regions with own data)."""
    population_growth: Path_("1/yr", ge=-0.1)
    """Population growth rate, per year, after the last observed year."""
    cars_per_1000: Logistic
    """Passenger cars per 1000 people (all powertrains), an S-curve through the observed
    level of the last historic year: with population it gives the car stock, and the
    car stock the car market (new-car sales)."""
    car_lifetime: WeibullSpec
    """Lifetime of passenger cars of every powertrain (turns the car stock into sales)."""
    nev_share_of_sales: dict[int, Q("1", le=1)]
    """NEV share of new-car sales after the last historic year, starting from the observed
    share and its trend: anchor years, e.g. ``{2030: 1.0}`` (flat after the last)."""
    projection_break: str | None = None
    """Why NEV sales may jump between the last historic and the first projection year
    (a break the scenario asks for); None: the projection continues the history."""
    bev_share_of_sales: Path_("1", le=1)
    """BEV share of NEV passenger car sales (the rest PHEV)."""
    lifetime: WeibullSpec
    """Lifetime of new-energy cars."""


class Batteries(_Strict):
    capacity_file: str
    """Pack capacity by powertrain and sale year (kWh per vehicle)."""
    capacity_scale: Path_("1", le=10)
    """Multiplier on that capacity, by sale year (scenario lever within the band)."""
    chemistry_file: str
    """Chemistry shares of new capacity by path, year, chemistry."""
    chemistry_path: str
    """Which path of the chemistry file to use."""
    intensity_file: str
    """Metal content by chemistry and element (kg per kWh)."""
    pack_mass_file: str
    """Pack mass per kWh by chemistry (kg per kWh): feedstock tonnage for recyclers."""
    black_mass_file: str
    """Black mass (cathode and anode active material) as a share of pack mass, by chemistry."""
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


class Segments(_Strict):
    """New-energy commercial vehicles beside passenger cars (REFERENCE s9): buses, light
    commercial vehicles (logistics vans), trucks. Each has its own sales history (national
    sales x the region's share), market, NEV share path, packs, chemistry, lifetimes and
    carbon baseline; the market of a segment is held at its last historic size."""

    include: list[Literal["bus", "lcv", "truck"]]
    """Segments modelled beside passenger cars (an empty list: passenger cars only)."""
    sales_file: str
    """National NEV sales by segment and year (inputs/china/segment_sales.csv)."""
    regional_share_file: str
    """Each region's share of national commercial NEV registrations, by segment (inputs/provinces_segments.csv)."""
    battery_file: str
    """Pack capacity per new vehicle by segment and year (inputs/segment_battery.csv)."""
    chemistry_file: str
    """Chemistry shares of new capacity by path, segment, year, chemistry (inputs/segment_chemistry.csv)."""
    chemistry_path: str
    """Which path of the chemistry file to use."""
    lifetime_file: str
    """Vehicle and battery Weibull parameters by segment (inputs/segment_lifetime.csv)."""
    carbon_file: str
    """Baseline fuel use, emission factor, electricity use and mileage by segment (inputs/segment_carbon.csv)."""
    nev_share_observed: dict[str, Q("1", le=1)]
    """NEV share of new-vehicle sales of each segment in the last historic year."""
    nev_share_paths: dict[str, dict[int, Q("1", le=1)]]
    """NEV share of new-vehicle sales of each segment after the history: anchor years."""

    @model_validator(mode="after")
    def _every_segment(self):
        for field in ("nev_share_observed", "nev_share_paths"):
            if missing := [s for s in self.include if s not in getattr(self, field)]:
                raise ValueError(f"{field} needs a value for {missing}")
        return self


class Band(_Strict):
    """The range a calibrated parameter may take, and where the range comes from."""

    low: float
    """Lowest value the fit may give."""
    high: float
    """Highest value the fit may give."""
    source: str
    """Where the band comes from (e.g. REFERENCE s8, with its grade)."""
    shared: bool = False
    """One value for every scenario fitted together: a setting that moves the historic
    years (the powertrain split of past sales, past battery failures), which are data and
    the same in every scenario."""

    @model_validator(mode="after")
    def _ordered(self):
        if not self.low < self.high:
            raise ValueError(f"low ({self.low}) must be below high ({self.high})")
        return self


class Calibration(_Strict):
    """What ``mfa calibrate`` fits and to what (each scenario on its own)."""

    parameters: dict[str, Band]
    """Settings to fit (dotted paths as for ``--set``, e.g. ``fleet.cars_per_1000.rate``
    or a year of a path, ``end_of_life.collection_rate.2030``), each within its band."""
    targets: list[Literal["study", "official_stock"]] = ["study", "official_stock"]
    """Rows of calibration.csv to fit: the study's figures, the official NEV stock."""


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
    bev_consumption_scale: Q("1", le=10) = 1.0
    """Multiplier on the BEV consumption path of the carbon file."""
    ice_consumption_scale: Q("1", le=10) = 1.0
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
    """Regions with data of their own, by GB/T 2260 code; they replace the table's rows.
    A layer sets a region to null to leave out one that the layers below it name."""
    province_table: ProvinceTable | None = None
    """Regions from the provincial table (all 31 provinces of mainland China)."""
    study: Study = Study()
    years: Years = Years()
    fleet: Fleet
    batteries: Batteries
    end_of_life: EndOfLife
    carbon: Carbon
    segments: Segments | None = None
    """Commercial vehicle segments; None: passenger cars only."""
    calibration: Calibration | None = None
    """Parameters ``mfa calibrate`` fits, their bands and targets."""
    extends: str | None = None
    """Another case's base.yaml this one layers on (relative to this file)."""
    uncertainty: dict[str, Distribution] = {}
    """Uncertain parameters by name (the variables of :mod:`mfa.parameters`), for ``--samples``."""
    _files: list[Path] = PrivateAttr(default_factory=list)
    """The scenario files this scenario was read from, base first."""
    _layers: list[tuple[Path | str, dict]] = PrivateAttr(default_factory=list)
    """Every layer of settings with where it came from (a file, or ``--set KEY``), in order."""

    @field_validator("regions", mode="before")
    @classmethod
    def _left_out(cls, value):
        """Regions set to null are left out (a case of one province layered on the study
        case, which names Hainan)."""
        return {code: region for code, region in value.items() if region is not None} if isinstance(value, dict) else value

    @model_validator(mode="after")
    def _some_region(self):
        if not self.regions and self.province_table is None:
            raise ValueError("give 'regions' or 'province_table'")
        return self

    @property
    def source(self) -> Path:
        """The scenario's own file (the last layer), for error messages."""
        return self._files[-1] if self._files else Path(f"{self.case.name}.yaml")

    def input_file(self, field: str, name: str) -> Path:
        """The input file ``name`` that the setting ``field`` names, or an error about that
        setting when the file does not exist."""
        path = resolve(name)
        if not path.exists():
            raise self.error(field, f"an existing input file, {name!r} does not exist")
        return path

    def error(self, field: str, expected: str) -> InputError:
        """An :class:`InputError` about the setting ``field`` (dotted), naming the file or
        ``--set`` that gave it its value."""
        loc = tuple(int(p) if p.isdigit() else p for p in field.split("."))
        return _error_at(origin_of(self._layers, loc) if self._layers else self.source, field, expected)


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
_REPLACED_WHOLE = {"grid_paths", "collection_rate", "recycling_process", "capacity_scale", "population_growth", "nev_share_of_sales", "calibration",
                   "bev_share_of_sales", "mean", "annual_mileage"}


def load_yaml(path: Path) -> dict:
    """A YAML mapping, read safely; a clear error for a missing or malformed file. Parsed
    once per version of the file (mfa calibrate loads its case many times): the caller
    gets a copy of its own."""
    return copy.deepcopy(_load_yaml(path))


_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
"""``yaml.safe_load``'s loader in C (libyaml) where PyYAML was built with it: the same
mappings from a tenth of the time (0.17 s of a run for the shipped cases, pure Python)."""


@per_file_version
def _load_yaml(path: Path) -> dict:
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_SAFE_LOADER)
    except UnicodeDecodeError as err:
        raise InputError(path, "file", f"UTF-8 text ({err.reason} at byte {err.start})") from err
    except yaml.YAMLError as err:
        raise InputError(path, "file", f"valid YAML ({err})".replace("\n", " ")) from err
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise InputError(path, "file", "a mapping of settings at the top level")
    return data


def _base_layers(path: Path, seen: tuple[Path, ...] = ()) -> list[tuple[Path, dict]]:
    if path in seen:
        raise InputError(seen[-1], "extends", f"a chain of base files without a loop; {path} is extended again")
    data = _anchored(load_yaml(path), path.parent)
    parent = data.pop("extends", None)
    if parent is not None and not isinstance(parent, str):
        raise InputError(path, "extends", f"the path of another base.yaml, or the name of a case, got {parent!r}")
    layers = _base_layers(_extended(path, parent), (*seen, path)) if parent else []
    return [*layers, (path, data)]


def _extended(path: Path, parent: str) -> Path:
    """The base.yaml that ``extends: parent`` in ``path`` names: a path relative to
    ``path``, or a bare name (no ``/``, no ``.yaml``) of a case of the project's scenarios/."""
    if "/" in parent or parent.endswith((".yaml", ".yml")):
        return (path.parent / parent).resolve()
    return project_root() / "scenarios" / parent / "base.yaml"


def _key(part: str) -> str | int:
    return int(part) if part.isdigit() else part  # region codes and years are int keys


def setting_path(name: str) -> tuple:
    """The keys of a dotted setting name (``end_of_life.collection_rate.2030`` ->
    ``("end_of_life", "collection_rate", 2030)``)."""
    return tuple(_key(part) for part in name.split("."))


MISSING = object()
"""What :func:`setting_at` gives for a setting the mapping does not have."""


def setting_at(data: dict, path: str):
    """The value at the dotted ``path`` of a mapping of settings (digits are year or
    region keys), or :data:`MISSING`."""
    for part in path.split("."):
        if not isinstance(data, dict) or _key(part) not in data:
            return MISSING
        data = data[_key(part)]
    return data


def parse_override(text: str) -> tuple[str, tuple, Any]:
    """``"a.b.c=value"`` -> ``("a.b.c", ("a", "b", "c"), value)``, the value read as YAML."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key or any(not part for part in key.split(".")):
        raise InputError(None, f"--set {text}", "KEY=VALUE with a dotted setting name, e.g. end_of_life.collection_rate=0.8")
    try:
        value = yaml.safe_load(raw)
    except yaml.YAMLError as err:
        problem = getattr(err, "problem", None) or "unreadable"
        raise InputError(None, f"--set {key}", f"a YAML value ({problem}), got {raw!r}") from err
    return key, setting_path(key), value


def apply_override(data: dict, key: str, path: tuple, value) -> dict:
    """``data`` with the setting at ``path`` set to ``value``. A year under a path by year
    (``end_of_life.collection_rate.2050``) sets that anchor year and keeps the others; a
    mapping merges into a group of settings as a scenario file's would."""
    out = copy.deepcopy(data)
    node = out
    for depth, part in enumerate(path[:-1]):
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            above = ".".join(map(str, path[: depth + 1]))
            if isinstance(path[depth + 1], int):
                expected = f"a year of a path by year, but {above} is a single value ({child!r}): set {above}=VALUE, or a whole path such as {above}={{2030: 0.5, 2050: 0.9}} where the setting takes one"
            else:
                expected = f"a setting inside {above}, which is a single value ({child!r})"
            raise InputError(None, f"--set {key}", expected)
        node = child
    node.update(deep_merge(node, {path[-1]: value}) if isinstance(value, dict) else {path[-1]: value})
    return out
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


def _layered(case: str, names: list[str] | None, overrides, use_calibrated: bool = True) -> dict[str, tuple[dict, list[Path], list[tuple[Path | str, dict]]]]:
    """Each scenario's merged settings, files, and layers (a file or ``--set KEY``, with
    the settings it gave); ``use_calibrated``: with the case's calibrated overlay."""
    folder = case_dir(case)
    layers: list[tuple[Path | str, dict]] = list(_base_layers(folder / "base.yaml"))
    merged_base: dict = {}
    for _, data in layers:
        merged_base = deep_merge(merged_base, data)
    available = merged_base.get("case", {}).get("scenarios", [])
    sets = [parse_override(text) for text in overrides]
    out = {}
    for name in names or available:
        if name not in available:
            raise InputError(folder / "base.yaml", "case.scenarios", f"a scenario named {name!r} (have {available})")
        path = folder / f"{name}.yaml"
        own = _anchored(load_yaml(path), folder)
        data = deep_merge(merged_base, own)
        fitted = calibrated(folder).get(name, {}) if use_calibrated else {}
        if fitted:  # a bad value in the user's files is an error even where the overlay replaces it
            validate(data, [p for p, _ in layers] + [path], [*layers, (path, own)])
        # mfa calibrate's overlay comes after the scenario file, before --set; each fitted
        # value is set as --set would (a year of a path sets that anchor, keeping the rest)
        for keys, value in _leaves(fitted):
            data = apply_override(data, ".".join(map(str, keys)), keys, value)
        cli = []
        for key, parts, value in sets:
            data = apply_override(data, key, parts, value)
            cli.append((f"--set {key}", apply_override({}, key, parts, value)))
        overlay = [(folder / CALIBRATED, fitted)] if fitted else []
        out[name] = (data, [p for p, _ in layers] + [path], [*layers, (path, own), *overlay, *cli])
    return out


def _leaves(tree: dict, above: tuple = ()):
    """``(path, value)`` of every value of a nested mapping."""
    for key, value in tree.items():
        if isinstance(value, dict):
            yield from _leaves(value, (*above, key))
        else:
            yield (*above, key), value


CALIBRATED = "calibrated.yaml"
"""The overlay ``mfa calibrate`` writes into a case folder: fitted values by scenario."""


def calibrated(folder: Path) -> dict:
    """The fitted values of a case by scenario (empty without an overlay)."""
    path = folder / CALIBRATED
    return load_yaml(path) if path.exists() else {}


def scenario_data(case: str, names: list[str] | None = None, overrides: list[str] = (), use_calibrated: bool = True) -> dict[str, tuple[dict, list[Path]]]:
    """The merged settings of each scenario of ``case`` (all, or ``names``), overrides
    applied, not yet validated, with the files they came from (base layers first)."""
    return {name: (data, files) for name, (data, files, _) in _layered(case, names, overrides, use_calibrated).items()}


def load_scenarios(case: str, names: list[str] | None = None, overrides: list[str] = (), use_calibrated: bool = True) -> dict[str, Scenario]:
    """The validated scenarios of ``case`` (all, or ``names``), with overrides applied
    (and the case's calibrated overlay, unless ``use_calibrated`` is false)."""
    return {name: validate(data, files, layers) for name, (data, files, layers) in _layered(case, names, overrides, use_calibrated).items()}


def _has(data, loc: tuple) -> int:
    """How many leading parts of ``loc`` ``data`` contains."""
    for depth, part in enumerate(loc):
        if not isinstance(data, dict) or part not in data:
            return depth
        data = data[part]
    return len(loc)


def origin_of(layers: list[tuple[Path | str, dict]], loc: tuple, missing: bool = False) -> Path | str:
    """The layer that gave the setting at ``loc`` its value: the last one that has it
    (or, if none has all of it, the last one with the longest part of it). A missing
    setting belongs in the case's own base.yaml, the layer before the scenario's file
    (the calibrated overlay, written by mfa calibrate, is never the place)."""
    files = [label for label, _ in layers if isinstance(label, Path) and label.name != CALIBRATED]
    if missing and len(files) >= 2:
        return files[-2]
    return max((_has(data, loc), i, label) for i, (label, data) in enumerate(layers))[2]


def _error_at(origin: Path | str, field: str, expected: str) -> InputError:
    if isinstance(origin, Path):
        return InputError(origin, field, expected)
    return InputError(None, origin if origin == f"--set {field}" else f"{origin} ({field})", expected)


def _most_telling(errors: list[dict]) -> dict:
    """Of pydantic's errors (one per branch of a union), the one about the branch the
    value was meant for: a wrong value rather than a wrong type, the deepest location."""
    return min(errors, key=lambda e: (e["type"].endswith("_type"), -len(e["loc"])))


def validate(data: dict, files: list[Path], layers: list[tuple[Path | str, dict]] | None = None) -> Scenario:
    """A :class:`Scenario` read from ``files`` (base first), or an :class:`InputError`
    naming the file (or ``--set``) that gave the bad setting, and the field. ``layers``:
    where each setting came from (without them, the scenario's file is named)."""
    layers = layers or []
    try:
        scenario = Scenario.model_validate(data)
        scenario._files = list(files)
        scenario._layers = layers
        return scenario
    except ValidationError as err:
        first = _most_telling(err.errors())
        # pydantic names union branches in the location; the user needs the setting's path.
        loc = tuple(p for p in first["loc"] if isinstance(p, int) or not str(p).startswith(("function-", "`", "dict[", "float", "nullable[")))
        field = ".".join(map(str, loc))
        message = first["msg"].removeprefix("Value error, ")
        if first["type"] == "extra_forbidden":
            message = "no such setting (misspelt?)"
        elif first["type"] == "missing":
            message = "this setting is required"
        origin = origin_of(layers, loc, first["type"] == "missing") if layers else files[-1]
        raise _error_at(origin, field, message) from err
