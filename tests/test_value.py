"""Value, backward() and grad() on worked examples with exact expected values, bad input, and graph hygiene."""

from __future__ import annotations

import gc
import math
import os
import platform
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest

from microreg import DomainError, Op, Value, grad, registry
from microreg.opregistry import Plugin

LN2, LN3 = math.log(2.0), math.log(3.0)


def test_a_reused_node_accumulates_its_gradient():
    a = Value(3.0)
    b = a + a
    c = b + b
    c.backward()
    assert (a.grad, b.grad, c.grad) == (4.0, 2.0, 1.0)


def test_a_diamond_sums_both_paths():
    a = Value(2.0)
    b = a * 3  # 6
    c = a + 1  # 3
    d = b * c  # 18
    d.backward()
    assert d.data == 18.0
    assert (b.grad, c.grad) == (3.0, 6.0)
    assert a.grad == 3 * 3.0 + 6.0 * 1  # through b, then through c


# v = 3, w = 2: (expression, value, dv, dw, the op the outermost node comes from)
OPERATORS = {
    "v + w": (lambda v, w: v + w, 5.0, 1.0, 1.0, "add"),
    "v + 2": (lambda v, w: v + 2, 5.0, 1.0, 0.0, "add"),
    "2 + v": (lambda v, w: 2 + v, 5.0, 1.0, 0.0, "add"),
    "v - w": (lambda v, w: v - w, 1.0, 1.0, -1.0, "sub"),
    "v - 2": (lambda v, w: v - 2, 1.0, 1.0, 0.0, "sub"),
    "2 - v": (lambda v, w: 2 - v, -1.0, -1.0, 0.0, "sub"),
    "v * w": (lambda v, w: v * w, 6.0, 2.0, 3.0, "mul"),
    "v * 2.5": (lambda v, w: v * 2.5, 7.5, 2.5, 0.0, "mul"),
    "2 * v": (lambda v, w: 2 * v, 6.0, 2.0, 0.0, "mul"),
    "np.float64(2) * v": (lambda v, w: np.float64(2) * v, 6.0, 2.0, 0.0, "mul"),
    "v / w": (lambda v, w: v / w, 1.5, 0.5, -0.75, "div"),
    "v / 2": (lambda v, w: v / 2, 1.5, 0.5, 0.0, "div"),
    "2 / v": (lambda v, w: 2 / v, 2 / 3, -2 / 9, 0.0, "div"),
    "-v": (lambda v, w: -v, -3.0, -1.0, 0.0, "neg"),
    "v ** 2": (lambda v, w: v**2, 9.0, 6.0, 0.0, "pow"),
    "v ** -1": (lambda v, w: v**-1, 1 / 3, -1 / 9, 0.0, "pow"),
    "v ** 0.5": (lambda v, w: v**0.5, math.sqrt(3), 0.5 / math.sqrt(3), 0.0, "pow"),
    "2 ** v": (lambda v, w: 2**v, 8.0, 8 * LN2, 0.0, None),
    "v ** w": (lambda v, w: v**w, 9.0, 6.0, 9 * LN3, None),
    "w ** v": (lambda v, w: w**v, 8.0, 8 * LN2, 12.0, None),
}


@pytest.mark.parametrize("name", OPERATORS)
def test_operator_value_and_gradients(name):
    fn, value, dv, dw, op = OPERATORS[name]
    v, w = Value(3.0), Value(2.0)
    out = fn(v, w)
    assert isinstance(out, Value)
    if op is not None:
        assert out.op == op
    out.backward()
    assert out.data == pytest.approx(value, rel=1e-15, abs=0)
    assert v.grad == pytest.approx(dv, rel=1e-15, abs=0)
    assert w.grad == pytest.approx(dw, rel=1e-15, abs=0)


@pytest.mark.parametrize("x, n, value, slope", [(-3.0, 2, 9.0, -6.0), (-2.0, 3, -8.0, 12.0), (-2.0, -1, -0.5, -0.25)])
def test_a_negative_base_to_an_integer_number_power(x, n, value, slope):
    v = Value(x)
    out = v**n
    out.backward()
    assert (out.data, v.grad) == (value, slope)


def test_a_method_with_a_static_parameter_binds_it_like_a_function():
    assert Value(2.0).pow(3).data == Value(2.0).pow(n=3).data == 8.0
    with pytest.raises(TypeError, match=r"pow\(\) is missing static parameter\(s\) \['n'\]"):
        Value(2.0).pow()
    with pytest.raises(TypeError, match="pow.*'n' twice"):
        Value(2.0).pow(2, n=3)


def test_a_second_backward_adds_the_same_gradients_again():
    assert "second call" in Value.backward.__doc__
    a = Value(3.0)
    b = a + a
    c = b + b
    c.backward()
    c.backward()
    assert (a.grad, b.grad, c.grad) == (8.0, 4.0, 2.0)


def test_backward_through_a_100_000_node_chain():
    x = Value(1.0)
    y = x
    for _ in range(100_000):
        y = y * 1.0001
    y.backward()
    assert x.grad == pytest.approx(1.0001**100_000, rel=1e-9)


# -- bad input -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("bad, shown", [("abc", "'abc'"), (None, "None"), (1j, "1j"), (True, "True")])
def test_a_value_of_a_non_number_is_a_type_error_naming_it(bad, shown):
    with pytest.raises(TypeError, match=r"Value\(\)") as info:
        Value(bad)
    assert shown in str(info.value)


@pytest.mark.parametrize("bad", [["a", "b"], np.array([1j])])
def test_a_value_of_a_non_numeric_array_is_a_type_error(bad):
    with pytest.raises(TypeError, match=r"Value\(\).*array of"):
        Value(bad)


@pytest.mark.parametrize("bad, shown", [(math.nan, "nan"), (math.inf, "inf"), ([1.0, -math.inf], "inf")])
def test_a_non_finite_value_is_a_value_error_naming_it(bad, shown):
    with pytest.raises(ValueError, match=r"Value\(\) takes finite numbers") as info:
        Value(bad)
    assert shown in str(info.value)


def test_an_int_too_large_for_a_float_is_a_value_error_naming_value():
    with pytest.raises(ValueError, match=r"Value\(\) takes finite numbers, got 1000+, which is too large"):
        Value(10**400)
    with pytest.raises(ValueError, match=r"add\(\) takes finite numbers"):
        Value(1.0) + 10**400


# (what, op named in the message, f, bad input); each is applied to a scalar and to an array holding it
DOMAIN_ERRORS = {
    "log(0)": ("log", lambda x: x.log(), 0.0),
    "log(-1)": ("log", lambda x: x.log(), -1.0),
    "(-2) ** 0.5": ("pow", lambda x: x**0.5, -2.0),
    "0 ** -1": ("pow", lambda x: x**-1, 0.0),
    "(-2) ** Value(0.5)": ("pow", lambda x: x ** Value(0.5), -2.0),
    "1 / 0": ("div", lambda x: 1.0 / x, 0.0),
    "exp(1000)": ("exp", lambda x: x.exp(), 1000.0),
}


@pytest.mark.parametrize("kind", ["scalar", "array"])
@pytest.mark.parametrize("case", DOMAIN_ERRORS)
def test_outside_the_domain_is_a_domain_error_naming_op_and_value(case, kind):
    op, fn, bad = DOMAIN_ERRORS[case]
    x = Value(bad) if kind == "scalar" else Value([1.0, bad])
    with pytest.raises(DomainError) as info:
        fn(x)
    message = str(info.value)
    assert message.startswith(op), message
    assert (repr(bad) if kind == "scalar" else f"{bad:g}") in message


def test_a_number_base_to_a_value_power_needs_a_positive_base():
    with pytest.raises(DomainError, match=r"pow\(x=-2(\.0)?, .*x > 0"):
        (-2) ** Value(0.5)


def test_a_domain_error_is_a_value_error():
    assert issubclass(DomainError, ValueError)


@pytest.mark.parametrize("x", [1000.0, -1000.0, 1e300, -1e300])
@pytest.mark.parametrize("name, limit", [("sigmoid", lambda x: float(x > 0)), ("tanh", lambda x: math.copysign(1.0, x))])
def test_sigmoid_and_tanh_saturate_without_overflow(name, limit, x):
    v = Value(x)
    out = getattr(v, name)()
    out.backward()
    assert (out.data, v.grad) == (limit(x), 0.0)
    arr = Value([x, -x])
    out = getattr(arr, name)()
    out.sum().backward()
    assert out.data.tolist() == [limit(x), limit(-x)]
    assert arr.grad.tolist() == [0.0, 0.0]


def test_sigmoid_keeps_its_relative_precision_far_in_the_negative_tail():
    v = Value(-40.0)
    out = v.sigmoid()
    out.backward()
    want = math.exp(-40.0) / (1 + math.exp(-40.0))
    assert out.data == pytest.approx(want, rel=1e-14)
    assert v.grad == pytest.approx(want * (1 - want), rel=1e-14)


@pytest.mark.parametrize("kind", ["scalar", "array"])
def test_an_overflowing_gradient_is_a_domain_error(kind):
    x = Value(1e-310 if kind == "scalar" else [1e-310])
    with pytest.raises(DomainError, match="log vjp"):
        x.log().sum().backward()


@pytest.mark.parametrize("kind", ["scalar", "array"])
def test_cotangents_that_overflow_when_summed_are_a_domain_error(kind):
    x = Value(1e-308) if kind == "scalar" else Value([1e-308])
    loss = x * 1e308 + x * 1e308  # 2.0; each path sends x a finite cotangent of 1e308
    with pytest.raises(DomainError):
        loss.sum().backward()
    assert np.all(x.grad == 0.0)


@pytest.mark.parametrize("kind", ["scalar", "array"])
def test_a_gradient_computed_for_a_constant_and_thrown_away_cannot_raise(kind):
    big = 1e308 if kind == "scalar" else np.full(3, 1e308)
    x = Value(big)
    (x * 1e-300).sum().backward()  # mul's vjp sends the constant 1e-300 a cotangent of 1e308 (3e308 summed)
    np.testing.assert_array_equal(x.grad, np.full(np.shape(big), 1e-300))
    y = Value(big)
    (1.0 ** y).sum().backward()  # exp(y * log(1.0)): the constant log(1.0) is sent y's data
    np.testing.assert_array_equal(y.grad, np.zeros(np.shape(big)))
    z = Value(np.full(3, 1e300) if kind == "array" else 1e300)
    (z / 1e-5).sum().backward()  # the divisor's cotangent, -g * out / y, overflows inside the vjp
    np.testing.assert_array_equal(z.grad, np.full(np.shape(z.data), 1 / 1e-5))


def _tanh_of_cube(xp, x):
    return xp.tanh(x * x * x)


def _tanh_of_cube_vjp(xp, g, out, x):
    return (g * 3 * (1 - out * out) * x * x,)


def test_an_overflow_that_a_later_step_hides_gives_the_same_on_arrays_as_on_scalars(register_op):
    """x * x * x overflows for |x| > 6e102 (a Python float silently, NumPy raising), and tanh makes it +-1 again."""
    register_op(Op("tanh_of_cube", _tanh_of_cube, _tanh_of_cube_vjp))
    for x in (1e154, -1e200):
        s, a = Value(x), Value([x, 0.5])
        ys, ya = s.tanh_of_cube(), a.tanh_of_cube()
        ys.backward()
        ya.sum().backward()
        assert (ys.data, s.grad) == (ya.data[0], a.grad[0]) == (math.copysign(1.0, x), 0.0)


def _naive_sigmoid(xp, x):
    return 1 / (1 + xp.exp(-x))


def _naive_sigmoid_vjp(xp, g, out, x):
    return (g * out * (1 - out),)


@pytest.mark.parametrize("kind", ["scalar", "array"])
def test_a_function_that_overflows_is_a_domain_error_even_where_a_later_step_would_hide_it(kind, register_op):
    register_op(Op("naive_sigmoid", _naive_sigmoid, _naive_sigmoid_vjp))
    with pytest.raises(DomainError, match="naive_sigmoid"):  # exp(1000) overflows, as math.exp says on a float
        Value(-1000.0 if kind == "scalar" else [-1000.0, 0.5]).naive_sigmoid()


@pytest.mark.parametrize("kind", ["scalar", "array"])
def test_a_value_power_that_overflows_is_a_domain_error_naming_pow(kind):
    base = Value(2.0 if kind == "scalar" else [2.0, 2.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(DomainError, match=r"pow\(x=.*y=.*1024"):
            base ** Value(1024.0)
        with pytest.raises(DomainError, match=r"pow\(x=2.0, y=.*1024"):
            2.0 ** Value(1024.0 if kind == "scalar" else [1024.0, 1.0])


@pytest.mark.parametrize(("how", "message"), [("backward", r"when added to the one a previous backward\(\) left"),
                                              ("_backward", "overflowed in mul's step")], ids=["backward", "by_hand"])
@pytest.mark.parametrize("kind", ["scalar", "array"])
def test_a_gradient_that_overflows_when_accumulated_again_is_a_domain_error_and_changes_no_grad(kind, how, message):
    """A second backward(), or a second step by hand (_backward()), adds 1e308 to x's 1e308: refused, x.grad kept."""
    x = Value(1.0 if kind == "scalar" else [1.0, -1.0])
    out = x * 1e308
    if how == "backward":
        out = out.sum()
    else:
        out.grad = 1.0 if kind == "scalar" else np.ones(2)
    step = getattr(out, how)
    step()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(DomainError, match=message):
            step()
    np.testing.assert_array_equal(x.grad, np.full(np.shape(x.data), 1e308))  # as the first step left it


def test_array_leaves_do_not_share_one_gradient_array():
    a, b = Value([1.0, 2.0]), Value([3.0, 4.0])
    a.grad = b.grad = 0.0  # as backward()'s docstring suggests between steps
    (a + b).sum().backward()
    a.grad *= 0.5  # an in-place update, as an optimizer might do
    assert b.grad.tolist() == [1.0, 1.0]


def test_a_method_called_with_a_stray_argument_names_the_op():
    with pytest.raises(TypeError, match=r"^Value\.tanh\(\) takes 1 positional argument"):
        Value(1.0).tanh(3)
    with pytest.raises(TypeError, match=r"^Value\.mul\(\) takes 2 positional arguments"):
        Value(1.0).mul(2.0, 3.0)


def _wrong_type(xp, x):
    return "not a number"


def _identity_vjp(xp, g, out, x):
    return (g,)


def test_a_forward_returning_a_non_number_names_the_op(register_op):
    register_op(Op("wrong_type", _wrong_type, _identity_vjp))
    with pytest.raises(TypeError, match="wrong_type's forward _wrong_type returned 'not a number'"):
        Value(1.0).wrong_type()


def _square(xp, x):
    return x * x


def test_a_vjp_returning_the_wrong_number_of_cotangents_names_the_op(register_op):
    def lonely_vjp(xp, g, out, x):
        return g

    register_op(Op("lonely", _square, lonely_vjp))
    with pytest.raises(TypeError, match="lonely's vjp lonely_vjp returned"):
        Value(2.0).lonely().backward()


# -- repr, label, structure -----------------------------------------------------------------------------


def test_repr_shows_data_grad_label_and_op():
    a = Value(2.0, label="a")
    assert repr(a) == "Value(data=2.0, grad=0.0, label='a')"
    b = a * 3
    b.backward()
    assert repr(b) == "Value(data=6.0, grad=1.0, op='mul')"
    assert repr(a) == "Value(data=2.0, grad=3.0, label='a')"
    assert repr(Value([1.0, 3.0])) == "Value(data=array(2,) (min 1, max 3), grad=array(2,) (min 0, max 0))"
    assert "array(0,)" in repr(Value(np.zeros(0)))


def test_label_defaults_to_empty_and_is_a_string():
    assert Value(1.0).label == ""
    assert Value(1.0, label=5).label == "5"
    y = Value(1.0) * 2
    y.label = "y"
    assert "label='y'" in repr(y)


def test_op_and_parents_describe_the_node():
    a, b = Value(2.0), Value(3.0)
    assert (a.op, a.parents) == ("", ())
    assert ((a * b).op, (a * b).parents) == ("mul", (a, b))
    assert (a * 2).parents == (a,)
    assert (2 - a).parents == (a,)


# -- the names of micrograd's lecture: _prev, _op, _backward() -----------------------------------------


def lecture_expression() -> dict[str, Value]:
    """The lecture's first expression: L = (a*b + c) * f with a=2, b=-3, c=10, f=-2."""
    a, b, c, f = Value(2.0, label="a"), Value(-3.0, label="b"), Value(10.0, label="c"), Value(-2.0, label="f")
    e = a * b
    d = e + c
    return {"a": a, "b": b, "c": c, "e": e, "d": d, "f": f, "L": d * f}


LECTURE_GRADS = {"L": 1.0, "d": -2.0, "f": 4.0, "c": -2.0, "e": -2.0, "a": 6.0, "b": -4.0}


def test_the_lectures_expression_by_hand_node_by_node_gives_the_lectures_gradients():
    v = lecture_expression()
    assert v["L"].data == -8.0
    v["L"].grad = 1.0
    for name in ("L", "d", "e"):  # each node's own step, from the output back, as the lecture does it
        v[name]._backward()
    assert {k: x.grad for k, x in v.items()} == LECTURE_GRADS


def test_backward_gives_the_same_gradients_as_the_steps_by_hand():
    v = lecture_expression()
    v["L"].backward()
    assert {k: x.grad for k, x in v.items()} == LECTURE_GRADS


def lecture_neuron(decomposed: bool) -> tuple[Value, dict[str, Value]]:
    """The lecture's neuron o = tanh(x1*w1 + x2*w2 + b), tanh written with exp when decomposed."""
    x = {"x1": Value(2.0), "x2": Value(0.0), "w1": Value(-3.0), "w2": Value(1.0), "b": Value(6.8813735870195432)}
    n = x["x1"] * x["w1"] + x["x2"] * x["w2"] + x["b"]
    if decomposed:
        e = (2 * n).exp()
        return (e - 1) / (e + 1), x
    return n.tanh(), x


@pytest.mark.parametrize("decomposed", [False, True], ids=["tanh", "tanh_as_exp"])
@pytest.mark.parametrize("how", ["backward", "by_hand"])
def test_the_lectures_neuron_gives_the_lectures_numbers(decomposed, how):
    o, x = lecture_neuron(decomposed)
    assert o.data == pytest.approx(0.7071067811865476, abs=1e-12)
    if how == "backward":
        o.backward()
    else:
        topo, visited = [], set()

        def build_topo(v):  # the lecture's topological sort, through _prev
            if v not in visited:
                visited.add(v)
                for child in v._prev:
                    build_topo(child)
                topo.append(v)

        build_topo(o)
        o.grad = 1.0
        for node in reversed(topo):
            node._backward()
    grads = {k: v.grad for k, v in x.items()}
    assert grads == pytest.approx({"x1": -1.5, "w1": 1.0, "x2": 0.5, "w2": 0.0, "b": 0.5}, abs=1e-12)


def test_prev_is_the_set_of_parents_and_op_the_lectures_symbol():
    v = lecture_expression()
    a, b = v["a"], v["b"]
    assert v["L"]._prev == {v["d"], v["f"]} and (a * a)._prev == {a} and a._prev == set()
    symbols = {"a + b": a + b, "a - b": a - b, "a * b": a * b, "a / b": a / b, "-a": -a, "a ** 2": a**2, "a.tanh()": a.tanh()}
    assert {k: x._op for k, x in symbols.items()} == {
        "a + b": "+", "a - b": "-", "a * b": "*", "a / b": "/", "-a": "-", "a ** 2": "**2", "a.tanh()": "tanh"}
    assert a._op == ""


@pytest.mark.parametrize("name", ["_prev", "_op"])
def test_the_lectures_names_are_read_only(name):
    with pytest.raises(AttributeError):
        setattr(Value(1.0) * 2, name, None)


def test_backward_by_hand_on_a_leaf_does_nothing_and_constants_get_no_gradient():
    a = Value(3.0)
    a.grad = 1.0
    a._backward()
    out = 2 * a
    out.grad = 1.0
    out._backward()
    assert a.grad == 3.0 and out.grad == 1.0


def test_backward_by_hand_gives_an_input_used_twice_both_cotangents():
    a = Value(3.0)
    out = a * a
    out.grad = 1.0
    out._backward()
    w = Value(2.0)
    neuron = w.dot(w, 1.0, 5.0)  # w * 1 + w * 5, one node
    neuron.grad = 1.0
    neuron._backward()
    assert (a.grad, w.grad) == (6.0, 6.0)


def test_backward_by_hand_names_the_op_outside_its_domain():
    x = Value(1.0)
    out = x.log()
    x.data = 0.0  # changed after the forward: the step by hand evaluates log's vjp, g / x, at 0
    out.grad = 1.0
    with pytest.raises(DomainError, match="log vjp"):
        out._backward()


def test_grad_of_several_outputs_and_inputs_with_an_unused_one():
    x, y, unused = Value(2.0), Value(3.0), Value(5.0)
    x.grad = 7.0
    f1, f2 = x * y, x + y
    assert grad([f1, f2], [x, y, unused]) == [4.0, 3.0, 0.0]
    assert (x.grad, y.grad, unused.grad, f1.grad, f2.grad) == (7.0, 0.0, 0.0, 0.0, 0.0)  # left as they were


def test_grad_special_cases():
    x = Value(2.0)
    f = x * 3.0
    assert grad(f, x) == [3.0]
    assert grad(f * f, [f]) == [12.0]  # an intermediate node as input
    assert grad(x, x) == [1.0]  # an output that is its own input
    assert grad([f, f], x) == [6.0]  # outputs are summed, duplicates included
    assert grad([f, f * 2.0], x) == [9.0]  # one output is an ancestor of the other


def test_grad_refuses_a_non_value_and_names_it():
    x = Value(2.0)
    with pytest.raises(TypeError, match="grad.*3.5"):
        grad(x * x, [x, 3.5])


def test_grad_refuses_a_single_non_value_input_and_names_it():
    x = Value(2.0)
    with pytest.raises(TypeError, match="grad.*3.5"):
        grad(x * x, 3.5)


def test_create_graph_gives_a_differentiable_gradient():
    x = Value(2.0)
    (g,) = grad(x * x * x, x, create_graph=True)
    assert isinstance(g, Value) and g.data == 12.0
    assert grad(g, x) == [12.0]
    g.backward()
    assert x.grad == 12.0


def test_create_graph_through_pow_works_again_and_again():
    x = Value(2.0)
    for _ in range(3):  # the Graph backend once cached pow so that only the first use worked
        (g,) = grad(x**3, x, create_graph=True)
        assert grad(g, x) == [12.0]


@pytest.mark.parametrize("expr, first", [("x + x", 2.0), ("relu(-x)", 0.0), ("unused", 0.0)])
def test_create_graph_always_returns_values(expr, first):
    x = Value(2.0)
    out = {"x + x": lambda: x + x, "relu(-x)": lambda: (-x).relu(), "unused": lambda: Value(1.0) * 3.0}[expr]()
    (g,) = grad(out, x, create_graph=True)
    assert isinstance(g, Value) and g.data == first
    assert grad(g, x) == [0.0]


def _wave(xp, x):
    return xp.sin(x)


def _wave_vjp(xp, g, out, x):
    return (g * xp.wave_slope(x),)  # another user-registered op: the second derivative runs through its vjp


def _wave_slope(xp, x):
    return xp.cos(x)


def _wave_slope_vjp(xp, g, out, x):
    return (-g * xp.sin(x),)


def test_create_graph_through_a_user_op_whose_vjp_calls_another_user_op(register_op):
    register_op(Op("wave", _wave, _wave_vjp), Op("wave_slope", _wave_slope, _wave_slope_vjp))
    x = Value(0.5)
    (g,) = grad(x.wave(), x, create_graph=True)
    assert g.data == pytest.approx(math.cos(0.5), rel=1e-15)
    assert grad(g, x) == [pytest.approx(-math.sin(0.5), rel=1e-15)]


# -- graph hygiene ------------------------------------------------------------------------------------


def _graph_parts(root: Value) -> list[Value]:
    seen, stack = {}, [root]
    while stack:
        node = stack.pop()
        if id(node) not in seen:
            seen[id(node)] = node
            stack.extend(node.parents)
    return list(seen.values())


def test_an_error_inside_backward_leaves_the_graph_reusable():
    x, w = Value(0.0), Value(2.0)
    x.grad = 5.0
    y = x**0.5  # its vjp, 0.5 * x ** -0.5, is undefined at 0
    z = y + w * x  # the w * x branch is swept before y, so leaves already got some gradient
    with pytest.raises(DomainError, match=r"pow vjp\(x=0.0, n=0.5\)"):
        z.backward()
    assert (x.grad, w.grad, y.grad, z.grad) == (5.0, 0.0, 0.0, 0.0)
    assert all(getattr(node, "_k", 0) == 0 for node in _graph_parts(z))
    with pytest.raises(DomainError, match="pow vjp"):  # the same error again, not a corrupted graph
        z.backward()
    (w * x + w).backward()  # a new sweep through the same leaves
    assert (x.grad, w.grad) == (5.0 + 2.0, 0.0 + 1.0)


def test_an_error_inside_backward_on_arrays_restores_the_grads():
    x = Value([0.0, 1.0])
    z = (x**0.5).sum()
    with pytest.raises(DomainError, match="pow vjp"):
        z.backward()
    assert x.grad.tolist() == [0.0, 0.0]
    assert all(getattr(node, "_k", 0) == 0 for node in _graph_parts(z))
    (x * 3.0).sum().backward()
    assert x.grad.tolist() == [3.0, 3.0]


def test_an_interrupt_while_walking_the_graph_leaves_it_reusable():
    x = Value(2.0)
    y = x
    for _ in range(10):
        y = y * 1.5
    x.grad = 1.0
    fired = []

    def in_first_loop(frame, event, arg):  # a KeyboardInterrupt while the sweep counts consumers, before any vjp
        if event == "line" and not fired and "ready" not in frame.f_locals and len(frame.f_locals.get("visited", ())) >= 3:
            fired.append(True)
            raise KeyboardInterrupt
        return in_first_loop

    sys.settrace(lambda frame, event, arg: in_first_loop if frame.f_code.co_name == "_walk" else None)
    try:
        with pytest.raises(KeyboardInterrupt):
            y.backward()
    finally:
        sys.settrace(None)
    assert fired
    assert x.grad == 1.0
    assert all(getattr(node, "_k", 0) == 0 for node in _graph_parts(y))
    y.backward()
    assert x.grad == 1.0 + 1.5**10


def test_a_graph_is_freed_by_reference_counting_alone():
    gc.collect()
    gc.disable()
    try:
        x = Value(0.5)
        y = x
        for _ in range(50):
            y = (y * 1.1).tanh() + x.sigmoid() - y / 3.0
        y.backward()
        (g,) = grad(y, x, create_graph=True)
        g.backward()
        a = Value(np.linspace(0.1, 1.0, 5))
        ((a * a).log().sum() ** 2).backward()
        bad = Value(0.0) ** 0.5
        try:
            bad.backward()
        except DomainError:
            pass
        del x, y, g, a, bad
        assert gc.collect() == 0
    finally:
        gc.enable()


def test_a_finished_graph_holds_no_extra_reference_to_its_leaves():
    x = Value(1.5)
    before = sys.getrefcount(x)
    y = (x * x).tanh() + x
    y.backward()
    grad(y, x, create_graph=True)
    del y
    assert sys.getrefcount(x) == before


def test_a_value_subclass_is_refused_at_class_creation():
    # the sweep follows inputs by type(x) is Value: a subclass would get no gradient, silently
    with pytest.raises(TypeError, match="Value cannot be subclassed \\(by Parameter\\)"):
        class Parameter(Value):
            pass


def test_importing_microreg_and_using_it_does_not_import_sympy():
    code = ("import sys, microreg; v = microreg.Value(0.5); (v.tanh() * v).backward(); microreg.registry.ops(); "
            "print(sorted(m for m in ('sympy', 'mpmath') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "[]"


def test_asking_the_class_for_an_op_method_while_another_thread_loads_the_plugins_waits_for_them():
    code = """
import threading
from microreg import Value
barrier, missing = threading.Barrier(8), []
def use():
    barrier.wait()
    try:
        Value.relu
    except AttributeError as exc:
        missing.append(exc)
threads = [threading.Thread(target=use) for _ in range(8)]
for t in threads: t.start()
for t in threads: t.join()
print(len(missing))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.split() == ["0"], out.stderr


# -- a Value as a number: bool, float, round (they read data and are not differentiable) ----------


@pytest.mark.parametrize("data, truth", [(0.0, False), (-0.0, False), (5e-324, True), (-2.0, True), ([0.0], False), ([3.0], True)])
def test_a_value_is_true_when_its_data_is_nonzero_as_in_numpy_and_torch(data, truth):
    assert bool(Value(data)) is truth
    assert bool(Value(data)) is bool(np.array(data))


@pytest.mark.parametrize("data", [[1.0, 0.0], np.zeros((2, 2)), []])
def test_an_array_value_of_other_than_one_element_has_no_truth_value(data):
    with pytest.raises(ValueError, match=r"truth value of a Value holding array\("):
        bool(Value(data))


def test_float_and_round_read_a_scalar_values_data():
    v = Value(2.675)
    assert float(v) == 2.675 and type(float(v)) is float
    assert round(v, 2) == round(2.675, 2) and round(v) == 3 and type(round(v)) is int
    with pytest.raises(TypeError, match=r"float\(\) takes a scalar Value, this one holds array\(2,\)"):
        float(Value([1.0, 2.0]))


def test_the_mean_of_an_empty_array_is_a_domain_error():
    with pytest.raises(DomainError, match="mean of an empty array"):
        Value(np.array([])).mean()


def test_an_array_exponent_is_a_type_error_saying_how_to_write_it():
    with pytest.raises(TypeError, match=r"pow\(\).*v \*\* Value\(n\)"):
        Value([1.0, 2.0]) ** np.array([2.0, 3.0])


def test_a_missing_op_method_names_the_plugins_that_failed_to_load(monkeypatch):
    monkeypatch.setitem(registry.plugins, "broken", Plugin("broken", error="ValueError: config file missing"))
    with pytest.raises(AttributeError, match=r"^type object 'Value' has no attribute 'cube'; plugin\(s\) 'broken' failed"):
        Value.cube  # noqa: B018
    with pytest.raises(KeyError, match=r"no op named 'cube'.*plugin\(s\) 'broken' failed to load"):
        registry.get("cube")


# -- ops of more than two inputs --------------------------------------------------------------------------


def _fma(xp, x, y, z):
    return x * y + z


def _fma_vjp(xp, g, out, x, y, z):
    return g * y, g * x, g


def test_an_op_of_three_inputs_runs_forward_and_backward_through_the_registry(register_op):
    register_op(Op("fma", _fma, _fma_vjp))
    x, y, z = Value(2.0), Value(3.0), Value(4.0)
    out = x.fma(y, z)
    assert (out.data, out.op, out.parents) == (10.0, "fma", (x, y, z))
    (out * out).backward()
    assert (x.grad, y.grad, z.grad) == (60.0, 40.0, 20.0)
    assert x.fma(3.0, z).parents == (x, z)  # a constant is no parent
    arr = Value(np.array([1.0, 2.0]))
    x.fma(arr, 1.0).sum().backward()
    assert x.grad == 60.0 + 3.0 and arr.grad.tolist() == [2.0, 2.0]
    (d,) = grad(x.fma(y, z) ** 2, [x], create_graph=True)  # 2 * out * y, a Value
    assert d.data == 60.0 and grad(d, [x]) == [18.0]


def test_a_variadic_op_takes_any_even_number_of_inputs_and_refuses_an_odd_one():
    w = [Value(float(i)) for i in range(1, 4)]
    out = w[0].dot(w[1], w[2], 1.0, 2.0, 3.0)
    assert (out.data, out.op, len(out.parents)) == (14.0, "dot", 3)
    out.backward()
    assert [v.grad for v in w] == [1.0, 2.0, 3.0]
    with pytest.raises(TypeError, match="dot takes an even number of inputs"):
        w[0].dot(w[1], 2.0)


def test_an_input_used_twice_by_one_variadic_node_gets_both_cotangents():
    w = Value(3.0)
    w.dot(w, w, 2.0, 5.0, w).backward()  # w * 2 + w * 5 + w * w
    assert w.grad == 2.0 + 5.0 + 2 * 3.0


def test_an_overflow_in_a_variadic_op_is_a_domain_error_naming_it():
    big = Value(1e200)
    with pytest.raises(DomainError, match=r"^dot\(wx\[0\]=1e\+200"):
        big.dot(big, 1e200, 1e200)
    tiny = big.dot(Value(1e-200), 1e-200, 1e200)
    with pytest.raises(DomainError, match=r"dot vjp"):
        (tiny * 1e300).backward()


def test_a_unary_or_binary_node_stores_no_tuple_and_takes_at_most_112_bytes():
    import tracemalloc

    y = Value(1.0)
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for _ in range(10_000):
        y = (y * 0.999).relu()
    used = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    assert used / 20_000 <= 112
    assert type(y._a) is Value and y._b is None and type(y._a._b) is float


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="the allocator tuning is for glibc's malloc")
def test_array_steps_reuse_freed_memory_instead_of_faulting_in_fresh_pages():
    """With glibc's defaults every step's arrays are fresh pages (hundreds of page faults a step); microreg keeps freed memory."""
    code = textwrap.dedent("""
        import resource, numpy as np
        from microreg import Value
        x = Value(np.ones((64, 1000)))
        def step():
            ((x * 2.0).relu() * 3.0 + x).tanh().sum().backward()
        for _ in range(3):
            step()
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        for _ in range(20):
            step()
        print((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 20)
    """)

    def faults(keep: str) -> float:
        env = {**os.environ, "MICROREG_KEEP_MEMORY": keep}
        return float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True).stdout)

    assert faults("1") < 10 and faults("0") > 100


def _unchanged(xp, x):
    return x * 1.0


# -- nothing silently wrong: NaN without a NumPy flag, complex or misshapen cotangents (issue 23) --------------


def _nan_where_negative(xp, x):
    return xp.where(x < 0, x * float("nan"), x)  # NaN times a number raises no NumPy flag


def _nanny_vjp(xp, g, out, x):
    return (g,)


def _nan_vjp(xp, g, out, x):
    return (g * float("nan"),)


@pytest.mark.parametrize("data", [-1.0, [-1.0, 2.0]], ids=["scalar", "array"])
def test_a_forward_that_gives_nan_without_a_numpy_flag_is_a_domain_error_naming_the_op(data, register_op):
    register_op(Op("nanny", _nan_where_negative, _nanny_vjp))
    with pytest.raises(DomainError, match=r"^nanny\(x="):
        Value(data).nanny()


def test_array_data_set_to_nan_after_creation_is_a_domain_error_at_the_next_op():
    a = Value(np.array([1.0, 2.0]))
    a.data[1] = np.nan
    with pytest.raises(DomainError, match=r"^tanh\(x="):
        a.tanh()


def _complex_vjp(xp, g, out, x):
    return (g * (2 / 3) / x ** (1 / 3),)  # ** on a negative float is complex in Python (xp.pow is meant)


@pytest.mark.parametrize("data", [-8.0, [-8.0, 1.0]], ids=["scalar", "array"])
@pytest.mark.parametrize(("vjp", "why"), [(_nan_vjp, "the cotangent for x is .*not finite"),
                                         (_complex_vjp, "the cotangent for x is .*(complex|not finite)")], ids=["nan", "complex"])
def test_a_vjp_giving_nan_or_a_complex_cotangent_is_a_domain_error_naming_the_op_and_changes_no_grad(data, vjp, why, register_op):
    register_op(Op("bad_grad", _unchanged, vjp))
    x = Value(data)
    with pytest.raises(DomainError, match=rf"^bad_grad vjp\(x=.*{why}"):
        x.bad_grad().sum().backward()
    np.testing.assert_array_equal(x.grad, np.zeros(np.shape(data)))


@pytest.mark.parametrize("shape", [(1,), (2,)])
@pytest.mark.parametrize("how", ["backward", "_backward"])
def test_a_vjp_giving_an_array_for_a_scalar_input_is_a_type_error_naming_op_and_shape(shape, how, register_op):
    def array_vjp(xp, g, out, x):
        return (np.full(shape, g),)

    register_op(Op("array_grad", _unchanged, array_vjp))
    x = Value(2.0)
    y = x.array_grad()
    y.grad = 1.0
    message = rf"^array_grad.s vjp array_vjp returned a cotangent of shape \({shape[0]},\) for input x, of shape \(\)"
    with pytest.raises(TypeError, match=message):
        getattr(y, how)()
    assert x.grad == 0.0


_RESULTS = {  # what an op's forward or vjp may hand the engine, and what the one check makes of it (None: kept, as a float)
    "text": (lambda shape: "oops", TypeError, "returned 'oops'"),
    "bool": (lambda shape: np.ones(shape, bool) if shape else True, TypeError, "returned (True|an array of bool)"),
    "float32": (lambda shape: np.full(shape, 1.5, np.float32) if shape else np.float32(1.5), TypeError, "float32"),
    "complex": (lambda shape: np.full(shape, 1j) if shape else 1j, DomainError, "complex"),
    "nan": (lambda shape: np.full(shape, np.nan) if shape else float("nan"), DomainError, "not finite"),
    "int": (lambda shape: np.full(shape, 2) if shape else 2, None, ""),
}


@pytest.mark.parametrize("result", list(_RESULTS))
@pytest.mark.parametrize("role", ["forward", "vjp"])
@pytest.mark.parametrize("shape", [(), (2,)], ids=["scalar", "array"])
def test_every_result_and_cotangent_passes_one_check_on_both_paths(result, role, shape, register_op):
    """One error policy: the same result from a forward or a vjp, on floats or arrays, is kept or refused the same way."""
    make, error, message = _RESULTS[result]

    def forward(xp, x):
        return make(shape) if role == "forward" else x * 1.0

    def vjp(xp, g, out, x):
        return (make(shape) if role == "vjp" else g,)

    register_op(Op("judged", forward, vjp))
    x = Value(np.full(shape, 3.0) if shape else 3.0)
    if error is None:
        y = x.judged()
        y.sum().backward() if shape else y.backward()
        kept = y.data if role == "forward" else x.grad
        assert type(kept) is type(x.data) and np.all(kept == 2.0) and (not shape or kept.dtype == np.float64)
        return
    # a DomainError names the op and its arguments (judged vjp(x=...)), a TypeError the function (judged's vjp vjp returned ...)
    prefix = f"judged{' vjp' if role == 'vjp' else ''}" if error is DomainError else f"judged's {role} {role}"
    with pytest.raises(error, match=rf"^{prefix}.*{message}"):
        y = x.judged()
        y.sum().backward() if shape else y.backward()
    assert np.all(x.grad == 0.0)


def _disabling_vjp(xp, g, out, x):
    gc.disable()  # as another thread may do while backward() runs
    return (g,)


def test_backward_leaves_the_collector_switch_as_someone_else_set_it(register_op):
    """backward() never touches the process-wide collector switch: it cannot undo another thread's gc.disable()."""
    register_op(Op("gc_disabler", _unchanged, _disabling_vjp))
    assert gc.isenabled()
    try:
        Value(1.0).gc_disabler().backward()
        assert not gc.isenabled()
    finally:
        gc.enable()


@pytest.mark.parametrize("expr", ["1 + a", "a + 1", "a * 2", "2 * a", "a - 1", "1 - a", "a / 2", "2 / a"])
def test_an_int_constant_takes_the_float_fast_path_and_is_stored_as_a_float(expr, monkeypatch):
    from microreg import value

    def no_apply(*args, **kwargs):
        raise AssertionError("apply() was called: the int constant missed the fast path")

    monkeypatch.setattr(value, "apply", no_apply)
    a = Value(4.0)
    out = eval(expr)
    const = out._b if out._a is a else out._a
    assert type(const) is float and out.data == eval(expr.replace("a", "4.0"))
    out.backward()
    assert a.grad == {"1 + a": 1.0, "a + 1": 1.0, "a * 2": 2.0, "2 * a": 2.0, "a - 1": 1.0, "1 - a": -1.0,
                      "a / 2": 0.5, "2 / a": -2.0 / 16.0}[expr]


def test_an_int_constant_too_large_for_a_float_is_a_value_error_naming_the_op():
    with pytest.raises(ValueError, match=r"add\(\) takes finite numbers.*too large"):
        Value(1.0) + 10**400


@pytest.fixture
def refused_plugin(monkeypatch):
    """A first use under MICROREG_STRICT=1 that refuses plugin 'acme', which offered the op 'acme_isru'."""
    from microreg import PluginError

    def strict_load(reg):
        reg.plugins["acme"] = Plugin("acme", error="op 'acme_isru' is refuted by the audit", offered=["acme_isru"])
        raise PluginError("plugin 'acme' failed to load: op 'acme_isru' is refuted by the audit")

    monkeypatch.setitem(registry.plugins, "acme", Plugin("acme"))  # removed again after the test
    monkeypatch.setattr(registry, "_loader", strict_load)
    monkeypatch.setattr(registry, "_loaded", False)
    with pytest.raises(PluginError, match="plugin 'acme' failed"):
        Value(1.0)
    yield
    if "acme_isru" in Value.__dict__:
        delattr(Value, "acme_isru")


def test_a_values_op_of_a_refused_plugin_is_an_attribute_error_naming_the_plugin(refused_plugin):
    with pytest.raises(AttributeError, match=r"^'Value' object has no attribute 'acme_isru'; plugin\(s\) 'acme' failed to load"):
        Value(1.0).acme_isru()
    with pytest.raises(AttributeError, match=r"^type object 'Value' has no attribute 'acme_isru'; plugin\(s\) 'acme' failed"):
        Value.acme_isru  # noqa: B018
    assert not hasattr(Value(1.0), "acme_isru")


def test_the_finiteness_check_of_arrays_beyond_1e154_warns_nothing_whatever_the_numpy_error_state():
    import warnings

    x = Value(np.array([1e200, -3e300]))
    with warnings.catch_warnings(), np.errstate(all="warn"):
        warnings.simplefilter("error")  # a RuntimeWarning ("overflow encountered in dot") would fail here
        y = x * 0.5
        y.sum().backward()
    assert y.data.tolist() == [5e199, -1.5e300] and x.grad.tolist() == [0.5, 0.5]
