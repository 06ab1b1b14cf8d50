"""The declared system (``mfa/system.yaml``): dims, quantities, processes, steps and
variables, as typed data, and what derives from them.

A :class:`System` answers the questions every other module used to answer with a list of
its own: which flows enter and leave a process (balance checks, Sankey links, feedstock
streams), which variables a step computes, what each variable's unit, dims, long name
and description are (output metadata), which are headline outputs (Monte-Carlo, GIS)
or summary rows. Field docstrings below are the documentation of ``system.yaml``.
"""

from __future__ import annotations

import functools
import importlib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, model_validator

from .errors import InputError

DEFAULT = Path(__file__).with_name("system.yaml")
BASE_DIMS = ("scenario", "region", "year")
"""Dims of every variable, before its quantity's or its own."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)


class Dim(_Strict):
    long_name: str
    """What the dim's coordinates are (written to NetCDF)."""
    summed: bool = False
    """Added up in summaries, GIS fields and Monte-Carlo outputs (a breakdown, not a
    key of the figures: powertrain, chemistry, segment)."""


class Quantity(_Strict):
    unit: str
    """pint unit of a stock of this quantity; flows are per year."""
    dims: list[str]
    """Dims every variable of this quantity has beyond scenario, region, year."""
    label: str
    """How reports name the quantity."""


class Process(_Strict):
    label: str
    """How reports and Sankey diagrams name the process."""
    boundary: bool = False
    """A node outside the system (a source or sink): not balanced."""
    ends: list[str] = []
    """Quantities that end here and are not balanced (recycling breaks packs up: their
    capacity ends, their material goes on)."""


class Variable(_Strict):
    kind: Literal["flow", "stock", "part", "total", "indicator", "auxiliary"]
    """flow (``from`` -> ``to``), stock (of ``process``), part (of the flow ``part_of``),
    total (``sum_of`` other variables), indicator (not a material flow), auxiliary."""
    step: str
    """The step (``steps``) that computes the variable."""
    long_name: str
    description: str
    quantity: str | None = None
    """What a flow or stock carries (a key of ``quantities``); parts and totals take it
    from what they break down or add up."""
    from_: str | None = Field(None, alias="from")
    """Process the flow leaves (taken from ``content_of`` when that is given)."""
    to: str | None = None
    """Process the flow enters (taken from ``content_of`` when that is given)."""
    process: str | None = None
    """Process holding the stock (taken from ``content_of`` when that is given)."""
    content_of: str | None = None
    """A material flow or stock that is the content of this capacity variable
    (battery capacity x material intensity): same processes, computed by the metals step."""
    part_of: str | None = None
    """The flow this variable is a part of (the parts sum to it)."""
    sum_of: list[str] = []
    """The variables this one adds up."""
    at_most: str | None = None
    """A variable this one (summed over its own extra dims) never exceeds, e.g. NEV
    sales and the whole car market: an invariant of every run."""
    unit: str | None = None
    """pint unit of an indicator or auxiliary variable (others take their quantity's)."""
    dims: list[str] | None = None
    """Dims of an indicator beyond scenario, region, year; all dims of an auxiliary variable."""
    stream: str | None = None
    """Name of a flow into or out of the feedstock process in feedstock tables."""
    headline: bool = False
    """Kept per Monte-Carlo sample; a field of gis.nc / gis.gpkg; a summary row."""
    summary: bool = False
    """A row of summary.csv and a variable of results.gpkg (headline ones are anyway)."""


class System(_Strict):
    """The whole declaration; use :func:`load` to read one and resolve what derives."""

    dims: dict[str, Dim]
    quantities: dict[str, Quantity]
    processes: dict[str, Process]
    steps: dict[str, str]
    """Step name -> ``module:function``, in the order they run."""
    feedstock: str
    """The process whose inflows and outflows are the recyclers' feedstock streams."""
    variables: dict[str, Variable]
    _left_out: tuple[str, ...] = PrivateAttr(default=())

    @model_validator(mode="after")
    def _resolve_and_check(self):
        resolved = {}
        for name, var in self.variables.items():
            resolved[name] = _resolved(name, var, self.variables, self.quantities)
        object.__setattr__(self, "variables", resolved)
        for name, var in resolved.items():
            _check_references(name, var, self)
        return self

    # --- structure -------------------------------------------------------------------

    def of_kind(self, *kinds: str, quantity: str | None = None) -> list[str]:
        """Names of the variables of these kinds (and quantity), in declaration order."""
        return [n for n, v in self.variables.items() if v.kind in kinds and (quantity is None or v.quantity == quantity)]

    def flows_between(self, quantity: str) -> list[tuple[str, str, str]]:
        """``(from, to, variable)`` of every flow of ``quantity``."""
        return [(v.from_, v.to, n) for n, v in self.variables.items() if v.kind == "flow" and v.quantity == quantity]

    def inflows(self, process: str, quantity: str) -> list[str]:
        return [n for f, t, n in self.flows_between(quantity) if t == process]

    def outflows(self, process: str, quantity: str) -> list[str]:
        return [n for f, t, n in self.flows_between(quantity) if f == process]

    def stock(self, process: str, quantity: str) -> str | None:
        names = [n for n, v in self.variables.items() if v.kind == "stock" and v.process == process and v.quantity == quantity]
        return names[0] if names else None

    def balances(self) -> list[tuple[str, str]]:
        """``(process, quantity)`` of every balance to check: each process inside the
        boundary, for each quantity that flows through it."""
        out = []
        for process, spec in self.processes.items():
            if spec.boundary:
                continue
            for quantity in self.quantities:
                if quantity in spec.ends:
                    continue
                if self.inflows(process, quantity) or self.outflows(process, quantity):
                    out.append((process, quantity))
        return out

    def back_flows(self, quantity: str) -> list[str]:
        """Flows of ``quantity`` that go back to a process met earlier on the way from
        the sources (e.g. packs returning from second use to sorting): the edges a
        depth-first walk from the sources finds closing a cycle."""
        flows = self.flows_between(quantity)
        targets = {t for _, t, _ in flows}
        back, done, on_path = [], set(), []

        def walk(node):
            on_path.append(node)
            for f, t, name in flows:
                if f != node:
                    continue
                if t in on_path:
                    back.append(name)
                elif t not in done:
                    walk(t)
            on_path.pop()
            done.add(node)

        for source in dict.fromkeys(f for f, _, _ in flows if f not in targets):
            walk(source)
        return back

    def levels(self, quantity: str) -> dict[str, int]:
        """Column of each process in a left-to-right diagram of ``quantity``: the longest
        path from a source along the flows that do not go back (:meth:`back_flows`)."""
        back = set(self.back_flows(quantity))
        forward = [(f, t) for f, t, name in self.flows_between(quantity) if name not in back]

        @functools.cache
        def depth(node):
            return max((depth(f) + 1 for f, t in forward if t == node), default=0)

        return {n: depth(n) for n in dict.fromkeys(n for e in forward for n in e)}

    # --- variables -------------------------------------------------------------------

    def unit(self, name: str) -> str:
        """pint unit of a variable: its quantity's (per year for flows) or its own."""
        var = self.variables[name]
        if var.unit is not None:
            return var.unit
        unit = self.quantities[var.quantity].unit
        return unit if var.kind == "stock" else f"{unit}/yr"

    def dims_of(self, name: str) -> tuple[str, ...]:
        var = self.variables[name]
        if var.kind == "auxiliary":
            return tuple(var.dims)
        extra = var.dims if var.dims is not None else self.quantities[var.quantity].dims
        return (*BASE_DIMS, *extra)

    def without(self, names) -> "System":
        """The system without the auxiliary variables ``names``, which nothing else refers
        to (e.g. Monte-Carlo runs leave out what no headline output needs). A step may
        still compute them (:attr:`left_out`); a step that reads the declaration skips them."""
        names = tuple(names)
        for name in names:
            var = self.variables.get(name)
            if var is None or var.kind != "auxiliary" or var.headline:
                raise ValueError(f"without: {name!r} is not a declared auxiliary variable outside the headline outputs")
            users = self.users_of(name)
            if users:
                raise ValueError(f"without: {name!r} is used by {users}")
        reduced = self.model_copy(update={"variables": {n: v for n, v in self.variables.items() if n not in names}})
        reduced._left_out = (*self._left_out, *names)
        return reduced

    def summed_over(self, quantity: str, dims) -> "System":
        """The system whose ``quantity`` variables are their sums over ``dims`` (summed
        dims of that quantity): Monte-Carlo runs, which keep only sums over summed dims,
        carry battery capacity without its segments. Steps compute what the system they
        are given declares (:func:`mfa.arrays.summed_out`)."""
        dims = tuple(dims)
        own = self.quantities[quantity].dims
        wrong = [d for d in dims if d not in own or not self.dims[d].summed]
        if wrong:
            raise ValueError(f"summed_over: {wrong} are not summed dims of {quantity!r} ({own})")
        kept = self.quantities[quantity].model_copy(update={"dims": [d for d in own if d not in dims]})
        coarser = self.model_copy(update={"quantities": {**self.quantities, quantity: kept}})
        coarser._left_out = self._left_out
        return coarser

    def users_of(self, name: str) -> list[str]:
        """The variables that refer to ``name``: as their bound (``at_most``), the flow
        they are part of, the capacity they are the content of, or a term of their sum."""
        return [n for n, v in self.variables.items() if name in (v.at_most, v.part_of, v.content_of, *v.sum_of)]

    @property
    def left_out(self) -> tuple[str, ...]:
        """Declared variables this system was built :meth:`without`."""
        return self._left_out

    def step_variables(self, step: str) -> list[str]:
        return [n for n, v in self.variables.items() if v.step == step]

    def step_function(self, step: str):
        module, _, function = self.steps[step].partition(":")
        return getattr(importlib.import_module(module), function)

    @property
    def summed_dims(self) -> tuple[str, ...]:
        """Dims added up in summaries, GIS fields and Monte-Carlo outputs."""
        return tuple(n for n, d in self.dims.items() if d.summed)

    @property
    def headline(self) -> list[str]:
        return [n for n, v in self.variables.items() if v.headline]

    @property
    def summary(self) -> list[str]:
        return [n for n, v in self.variables.items() if v.headline or v.summary]

    def content_pairs(self) -> dict[str, str]:
        """Material variable -> the capacity variable it is the content of."""
        return {n: v.content_of for n, v in self.variables.items() if v.content_of}

    def feedstock_streams(self, direction: str | None = None) -> dict[str, str]:
        """Stream name -> capacity flow, for the flows into (``direction="in"``) and out
        of (``"out"``) the feedstock process, or both (inputs first). Inputs and outputs
        each add up to the same total: what enters sorting leaves it."""
        names = []
        if direction in (None, "in"):
            names += self.inflows(self.feedstock, "capacity")
        if direction in (None, "out"):
            names += self.outflows(self.feedstock, "capacity")
        return {self.variables[n].stream or n: n for n in names}

    def material_twin(self, capacity_variable: str) -> str | None:
        """The material variable that is the content of ``capacity_variable``."""
        return next((m for m, c in self.content_pairs().items() if c == capacity_variable), None)


def _resolved(name: str, var: Variable, variables: dict[str, Variable], quantities: dict) -> Variable:
    """``var`` with what it takes from ``content_of`` / ``part_of`` / ``sum_of`` filled in."""
    update = {}
    if var.content_of:
        base = variables.get(var.content_of)
        if base is None or base.quantity != "capacity" or base.kind not in ("flow", "stock"):
            raise ValueError(f"{name}: content_of must name a capacity flow or stock, got {var.content_of!r}")
        update = {"from_": base.from_, "to": base.to, "process": base.process}
        if var.kind != base.kind:
            raise ValueError(f"{name}: a {var.kind} cannot be the content of the {base.kind} {var.content_of}")
    elif var.part_of or var.sum_of:
        first = variables.get(var.part_of or var.sum_of[0])
        if first is None:
            raise ValueError(f"{name}: unknown variable {var.part_of or var.sum_of[0]!r}")
        update = {"quantity": first.quantity}
    return var.model_copy(update=update)


def _check_references(name: str, var: Variable, system: System) -> None:
    def need(value, where, what):
        if value not in where:
            raise ValueError(f"{name}: {what} {value!r} is not declared")

    need(var.step, system.steps, "step")
    if var.kind in ("flow", "stock", "part", "total"):
        need(var.quantity, system.quantities, "quantity")
    if var.kind == "flow":
        need(var.from_, system.processes, "process (from)")
        need(var.to, system.processes, "process (to)")
    if var.kind == "stock":
        need(var.process, system.processes, "process")
    for other in [var.part_of, *var.sum_of, var.at_most]:
        if other is not None:
            need(other, system.variables, "variable")
    if var.kind in ("indicator", "auxiliary") and (var.unit is None or var.dims is None):
        raise ValueError(f"{name}: an {var.kind} needs unit and dims")
    for dim in var.dims or []:
        need(dim, system.dims, "dim")


def load(path: Path | str = DEFAULT) -> System:
    """The system declared in ``path`` (default: the package's ``system.yaml``)."""
    path = Path(path)
    return _load(path.resolve(), path.stat().st_mtime_ns)


def from_dict(data: dict, source: Path | str = "system definition") -> System:
    """A :class:`System` from a mapping (e.g. a modified copy of the default one)."""
    try:
        return System.model_validate(data)
    except ValidationError as err:
        first = err.errors()[0]
        raise InputError(source, ".".join(map(str, first["loc"])) or "system", first["msg"]) from err


@functools.lru_cache(maxsize=8)
def _load(path: Path, _mtime: int) -> System:
    return from_dict(raw(path), path)


def raw(path: Path | str = DEFAULT) -> dict:
    """The declaration as a plain mapping (a copy of its own), to modify and pass to
    :func:`from_dict`; read as scenario files are (:func:`mfa.config.load_yaml`: libyaml,
    a tenth of pure Python's 0.14 s)."""
    from .config import load_yaml

    return load_yaml(Path(path))
