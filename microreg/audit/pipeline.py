"""The pipeline: the checks of one case, an ordered table of functions with one signature, ``check(case) -> list[Check]``.

Where do I add a check? Write a function of a ``Case`` (``microreg.audit.symbols``: the op run on symbols, its regions
and branches, its parameters) that returns its ``Check`` records, or none where it does not apply, and add a row to
``CHECKS``. It then runs for every op, elementwise or on arrays, in the audit's worker processes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from . import jvps, kinks, numeric, proofs, regions
from .measure import accuracy_check
from .model import Check
from .symbols import Case, OpFailed, Prover, inputs, on_symbols

#: The checks, in the order they run: (name, function of a Case).
CHECKS: tuple[tuple[str, Callable[[Case], list[Check]]], ...] = (
    ("symbolic", proofs.symbolic),  # each cotangent == the vector-Jacobian product, region by region
    ("backends", numeric.backends),  # floats and arrays, through the engine, == exact values at the sampled points
    ("branch points", kinks.branch_points),  # kinks found where branches switch, and declared
    ("accuracy", accuracy_check),  # float64 results vs exact values over the whole domain
    ("second derivatives", proofs.second_derivatives),  # order 2, symbolically
    ("graph", numeric.graph),  # order 2, through grad(create_graph=True)
    ("parameters", proofs.parameters),  # the proof at static parameters moved away from the example
    ("central differences", numeric.central_differences),  # the vjp vs float64 central differences
    ("jvp", jvps.transposed),  # forward mode: the jvp is the vjp's transpose, on symbols and through the engine
)
#: The checks that need nothing symbolic: when a case's symbolic work does not finish, these run without it.
FLOAT_ONLY = ("central differences",)


def run(case: Case, prover: Prover) -> Iterator[Check]:
    """Every check of one case, as each finishes."""
    try:
        case.outs, case.vjps = on_symbols(case, prover)
    except OpFailed as exc:
        yield from (Check("symbolic", "error", name, case.params, f"{exc}{case.at_shapes}") for name in case.op.inputs)
        if case.measure:
            yield Check("accuracy", "unchecked", None, case.params, f"no exact values: {exc}")
        yield from float_only(case, prover)
        return
    regions.split(case, case.outs, case.vjps)
    for _, check in CHECKS:
        yield from check(case)


def float_only(case: Case, prover: Prover) -> list[Check]:
    """The FLOAT_ONLY checks of a case, on one region spanning the domain (no SymPy solving)."""
    if not case.xs:
        inputs(case, prover)
    regions.plain(case)
    return [c for name, check in CHECKS if name in FLOAT_ONLY for c in check(case)]
