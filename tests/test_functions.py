"""Tests of microreg.functions: the one table of xp's functions, a row per function and a column per backend."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from microreg import Value, functions, registry
from microreg.backends import Array, Scalar, Symbolic
from microreg.functions import ELEMENTARY, FUNCTIONS, Function, backend_of, markdown_table
from microreg.value import VALUES, ValueNamespace

ROOT = Path(__file__).resolve().parents[1]
COLUMNS = ("scalar", "array", "symbolic", "torch", "jax")  # every column but Values, which may be None
#: Each function's arguments at a few points inside its domain (x; or x, y; where takes a condition).
ARGS = {name: [(x,) for x in (-2.6, -0.35, 1e-9, 0.8, 3.3)] for name in ELEMENTARY}
ARGS.update({"log": [(x,) for x in (1e-9, 0.35, 1.0, 7.5)], "sqrt": [(x,) for x in (1e-9, 0.35, 2.0, 7.5)],
             "log1p": [(x,) for x in (-0.9, -1e-9, 1e-12, 0.8, 7.5)], "pow": [(x, n) for x in (0.35, 2.0) for n in (-1.0, 0.5, 3.0)],
             "maximum": [(-1.5, 0.5), (2.0, -3.0), (0.25, 0.25)], "minimum": [(-1.5, 0.5), (2.0, -3.0), (0.25, 0.25)],
             "where": [(c, 2.5, -1.5) for c in (True, False)]})


@pytest.mark.parametrize("row", FUNCTIONS, ids=lambda row: row.name)
def test_each_row_fills_every_column(row):
    """A cell is the function (a constant's value for a constant) or a "module:attr" string naming it."""
    for column in COLUMNS:
        cell = getattr(row, column)
        if isinstance(cell, str):
            assert cell.count(":") == 1, (column, cell)
        else:
            assert callable(cell) != (row.kind == "constant"), (column, cell)
    assert row.what and row.on_values


@pytest.mark.parametrize("row", FUNCTIONS, ids=lambda row: row.name)
def test_each_rows_values_column_is_the_op_it_runs_or_the_value_namespaces_own(row):
    if row.values is not None:
        assert row.name not in vars(ValueNamespace) and getattr(VALUES, row.name).__name__ == row.values
    elif row.kind == "constant":
        assert getattr(VALUES, row.name) == row.scalar
    else:
        assert callable(vars(ValueNamespace).get(row.name)), f"write ValueNamespace.{row.name} in microreg/value.py"


@pytest.mark.parametrize("framework", ["torch", "jax"])
def test_each_framework_cell_names_a_function_of_the_framework(framework):
    pytest.importorskip(framework)
    cells = functions.column(framework)
    for row in FUNCTIONS:
        assert callable(cells[row.name]) != (row.kind == "constant"), row


@pytest.mark.parametrize("name", ELEMENTARY)
def test_each_function_gives_the_same_value_on_every_backend(name):
    """Values hold exactly what floats give; NumPy's and math's functions agree to an ulp; the symbolic value is exact."""
    scalar, array, symbolic = Scalar(registry), Array(registry), Symbolic(registry)
    inputs = slice(1) if name == "pow" else slice(None)  # pow's exponent is a constant
    for args in ARGS[name]:
        want = getattr(scalar, name)(*args)
        on_array = getattr(array, name)(*(np.array([a]) if isinstance(a, float) else a for a in args))
        on_values = getattr(VALUES, name)(*(Value(a) if isinstance(a, float) else a for a in args[inputs]), *args[len(args[inputs]):])
        exact = float(getattr(symbolic, name)(*(symbolic.sympy.Rational(a) if isinstance(a, float) else a for a in args)).evalf(30))
        assert (on_values.data if isinstance(on_values, Value) else on_values) == want, args
        assert float(np.asarray(on_array)[0]) == pytest.approx(want, rel=2.3e-16, abs=1e-300), args
        assert want == pytest.approx(exact, rel=4.5e-16, abs=1e-300), args


def test_a_new_row_reaches_every_namespace_built_from_the_table(monkeypatch):
    cbrt = Function("cbrt", "cube root", math.cbrt, np.cbrt, "sympy:cbrt", "cbrt", "torch:cbrt", "jax.numpy:cbrt")
    monkeypatch.setattr(functions, "FUNCTIONS", (*FUNCTIONS, cbrt))
    assert Scalar(registry).cbrt(8.0) == 2.0
    assert Array(registry).cbrt(np.array([27.0])).tolist() == [3.0]
    assert Symbolic(registry).cbrt(8) == 2
    assert markdown_table().endswith("\n| `cbrt` | cube root | the `cbrt` op |")


def test_a_row_that_is_no_op_on_values_must_say_what_it_is_there():
    with pytest.raises(ValueError, match="xp.cbrt is no op on Values"):
        Function("cbrt", "cube root", math.cbrt, np.cbrt, "sympy:cbrt", None, "torch:cbrt", "jax.numpy:cbrt")


def test_backend_of_engine_data_is_scalar_only_when_every_datum_is_a_float():
    assert backend_of(1.5, -2.0) == "scalar"
    assert backend_of(1.5, np.array([1.0])) == backend_of(np.array([1.0])) == "array"


def test_the_docs_table_of_what_xp_offers_is_the_table_rendered():
    text = (ROOT / "docs" / "plugins.md").read_text()
    documented = "| name |" + text.split("### What xp offers", 1)[1].split("\n\n| name |", 1)[1].split("\n\n", 1)[0]
    assert documented == markdown_table(), (
        "docs/plugins.md's table under 'What xp offers' is not microreg.functions' table: replace it with the output of "
        "python -c 'from microreg.functions import markdown_table; print(markdown_table())'")


def test_erf_on_arrays_is_maths_elementwise_down_to_the_subnormal_range():
    xs = np.array([-27.0, -3.0, -1e-300, 0.0, 0.5, 6.0, 26.7, 27.2])
    xp = Array(registry)
    assert list(xp.erf(xs)) == [math.erf(x) for x in xs]
    assert list(xp.erfc(xs)) == [math.erfc(x) for x in xs]
    assert xp.erfc(np.array([27.2]))[0] > 0.0  # 1e-323, subnormal, not flushed to 0


def test_scalar_where_and_sign_return_floats():
    xp = Scalar(registry)
    assert (xp.where(True, 1, 2), xp.where(False, 1, 2)) == (1.0, 2.0)
    assert [xp.sign(v) for v in (-3.0, 0.0, 2.0)] == [-1.0, 0.0, 1.0]
    assert all(type(xp.where(c, 1, 2)) is float for c in (True, False))


def test_symbolic_where_is_a_piecewise_that_sympy_can_differentiate():
    xp = Symbolic(registry)
    x = xp.sympy.Symbol("x", real=True)
    relu = xp.where(x > 0, x, 0)
    assert isinstance(relu, xp.sympy.Piecewise)
    assert relu.subs(x, 2) == 2 and relu.subs(x, -1) == 0
    assert xp.sympy.diff(relu, x).subs(x, 3) == 1


@pytest.mark.parametrize("b", [0, 0.0, 1.0, np.float64(0.0)])
@pytest.mark.parametrize("a", [np.array([[-3.0, 2.0], [0.5, -0.0]]), np.array([[np.inf, -1.0], [np.nan, 4.0]]), np.array([1.0, -2.0])])
def test_the_array_backends_where_gives_what_numpys_gives(a, b):
    """The array backend's where(c, a, 0) is a * c + 0.0 for a finite float64 array (np.where's loop is slow on a
    random mask); anything else, or a non-finite a, goes to np.where: the same floats, zeros positive where c fails."""
    from microreg.functions import _array_where

    c = np.array([[True, False], [False, True]])
    with np.errstate(all="raise"):  # as the engine runs ops
        got = _array_where(c, a, b)
    want = np.where(c, a, b)
    assert got.shape == want.shape and np.array_equal(got, want, equal_nan=True)
    assert np.array_equal(np.signbit(got[~np.broadcast_to(c, got.shape)]), np.signbit(want[~np.broadcast_to(c, want.shape)]))
