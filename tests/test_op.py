"""Tests of microreg.op: what makes a valid Op record, and the error that names what is wrong with an invalid one."""

from __future__ import annotations

import pytest

from microreg import Kink, Op, OpError
from microreg.op import REQUIRED, code_names


def double(xp, x):
    """Twice x."""
    return 2 * x


def double_vjp(xp, g, out, x):
    return (2 * g,)


def scaled(xp, x, *, k):
    return k * x


def scaled_vjp(xp, g, out, x, *, k):
    return (k * g,)


def plus(xp, x, y):
    return x + y


def plus_vjp(xp, g, out, x, y):
    return g, g


def three(xp, x, y, z):
    return x + y + z


def three_vjp(xp, g, out, x, y, z):
    return g, g, g


def star_args(xp, *xs):
    return xs[0]


def star_args_vjp(xp, g, out, *xs):
    return (g,) + (0,) * (len(xs) - 1)


def star_xp(*args):
    return args[1]


def positional_default(xp, x, k=2.0):
    return k * x


def positional_default_vjp(xp, g, out, x, k=2.0):
    return (k * g,)


def sloped(xp, x, *, slope=1.0):
    return slope * x


def slope_vjp(xp, g, out, x, *, slope=1.0):
    return (g,)


def no_input(xp):
    return 1.0


def no_input_vjp(xp, g, out):
    return ()


MALFORMED = {
    "name with a dash": (lambda: Op("soft-plus", double, double_vjp), "must be a Python identifier"),
    "name a keyword": (lambda: Op("lambda", double, double_vjp), "not a keyword"),
    "name starting with _": (lambda: Op("_hidden", double, double_vjp), "not starting with '_'"),
    "name not a string": (lambda: Op(3, double, double_vjp), "must be a Python identifier"),
    "forward not callable": (lambda: Op("d", 2.0, double_vjp), "forward must be callable"),
    "vjp not callable": (lambda: Op("d", double, None), "vjp must be callable"),
    "forward with *xp": (lambda: Op("d", star_xp, double_vjp), r"may not take \*\*kwargs, nor \*args in place of xp"),
    "variadic forward, fixed vjp": (lambda: Op("d", star_args, double_vjp, arities=(2,)), r"vjp must take \(xp, g, out, \*xs\)"),
    "variadic without arities": (lambda: Op("d", star_args, star_args_vjp), "a variadic op declares arities"),
    "arity below the fixed inputs": (lambda: Op("d", star_args, star_args_vjp, arities=(0,)), "a variadic op declares arities"),
    "arities for a fixed op": (lambda: Op("d", double, double_vjp, arities=(2,)), r"arities are for an op with a \*x input"),
    "kinks on a variadic op": (lambda: Op("d", star_args, star_args_vjp, arities=(2,), kinks=(Kink(0.0, 0.0),)), "cannot declare kinks"),
    "shapes of the wrong arity": (lambda: Op("d", plus, plus_vjp, shapes=(((2, 3),),)), "shapes must give one shape"),
    "shapes with a zero size": (lambda: Op("d", double, double_vjp, shapes=(((0,),),)), "shapes must give one shape"),
    "positional static parameter": (lambda: Op("d", positional_default, positional_default_vjp), "must be keyword-only"),
    "no input": (lambda: Op("d", no_input, no_input_vjp), r"must take \(xp, <inputs>"),
    "vjp for another arity": (lambda: Op("d", double, plus_vjp), r"vjp must take \(xp, g, out, x\)"),
    "parameters differ": (lambda: Op("d", double, slope_vjp), r"static parameters \[\] differ from vjp's \['slope'\]"),
    "unknown domain": (lambda: Op("d", double, double_vjp, domains=("complex",)), "domains must be a tuple"),
    "one domain for two inputs": (lambda: Op("d", plus, plus_vjp, domains=("real",)), "domains must be a tuple"),
    "kink of the wrong arity": (lambda: Op("d", plus, plus_vjp, kinks=(Kink(0.0, 1.0),)), "kinks must be Kink"),
    "kink not a Kink": (lambda: Op("d", double, double_vjp, kinks=((0.0, 1.0),)), "kinks must be Kink"),
    "kink at a string": (lambda: Op("d", double, double_vjp, kinks=(Kink("0", 1.0),)), "kinks must be Kink"),
    "required parameter without example": (lambda: Op("d", scaled, scaled_vjp), r"required: \['k'\]"),
    "example with an unknown parameter": (lambda: Op("d", scaled, scaled_vjp, examples=({"k": 2.0, "m": 1.0},)), "'m'"),
}


@pytest.mark.parametrize("case", MALFORMED)
def test_a_malformed_record_is_an_op_error_naming_the_op_and_the_problem(case):
    make, message = MALFORMED[case]
    with pytest.raises(OpError, match=message):
        make()


def test_a_record_reads_inputs_and_static_parameters_from_the_signatures():
    op = Op("scaled", scaled, scaled_vjp, examples=({"k": 2.0},))
    assert (op.inputs, dict(op.params), op.arity, op.domains) == (("x",), {"k": REQUIRED}, 1, ("real",))
    assert op.examples == ({"k": 2.0},)
    assert repr(op) == "Op(scaled(x, k))"


def test_examples_are_completed_with_the_defaults_and_default_to_one():
    op = Op("d", sloped, slope_vjp)
    assert op.examples == ({"slope": 1.0},)
    assert repr(op) == "Op(d(x, slope=1.0))"


def test_the_doc_defaults_to_the_forwards_docstring():
    assert Op("double", double, double_vjp).doc == "Twice x."
    assert Op("double", double, double_vjp, doc="Doubled.").doc == "Doubled."


def test_a_kink_takes_a_number_or_a_tuple_per_input():
    assert Kink(0.0, 1.0) == Kink((0.0,), (1.0,))
    assert Kink((0.0, 1.0), (None, 2.0)).grad == (None, 2.0)


def test_bind_takes_static_parameters_by_position_or_name_and_names_what_is_wrong():
    op = Op("scaled", scaled, scaled_vjp, examples=({"k": 2.0},))
    assert op.bind((3.0,), {}) == {"k": 3.0} == op.bind((), {"k": 3.0})
    for args, kwargs, message in [((1.0, 2.0), {}, "takes 1 static parameter"), ((), {"m": 1.0}, "unexpected parameter 'm'"),
                                  ((1.0,), {"k": 1.0}, "parameter 'k' twice"), ((), {}, r"missing static parameter\(s\) \['k'\]")]:
        with pytest.raises(TypeError, match=message):
            op.bind(args, kwargs)


def test_code_names_finds_the_names_of_nested_functions_too():
    def outer(xp, x):
        def inner(y):
            return xp.sigmoid(y)

        return xp.tanh(inner(x))

    assert {"tanh", "sigmoid"} <= code_names(outer.__code__)


def test_an_op_may_take_more_than_two_inputs():
    op = Op("three", three, three_vjp)
    assert (op.inputs, op.arity, op.domains, op.variadic) == (("x", "y", "z"), 3, ("real",) * 3, None)
    assert op.forms() == (op,) and op.at(3) is op
    with pytest.raises(TypeError, match=r"three\(\) takes 3 input\(s\) \('x', 'y', 'z'\), got 2"):
        op.at(2)


def test_a_variadic_op_has_a_form_with_named_inputs_per_arity():
    op = Op("first", star_args, star_args_vjp, arities=(1, 3))
    assert (op.inputs, op.arity, op.variadic, repr(op)) == (("*xs",), None, "xs", "Op(first(*xs))")
    one, three = op.forms()
    assert (one.inputs, one.arity, three.inputs, three.arity) == (("xs[0]",), 1, ("xs[0]", "xs[1]", "xs[2]"), 3)
    assert op.at(3) is three and three.name == "first" and three.forward is star_args and three.variadic is None
    assert op.at(5).domains == ("real",) * 5
    with pytest.raises(TypeError, match=r"first\(\) takes at least 1 input"):
        op.at(0)


def double_jvp(xp, tangents, out, x):
    return 2 * tangents[0]


def wrong_inputs_jvp(xp, tangents, out, y):
    return tangents[0]


def test_an_elementwise_op_without_a_jvp_gets_one_derived_from_its_vjp():
    op = Op("plus", plus, plus_vjp)
    assert op.jvp.__name__ == "plus_vjp_transposed"
    assert op.jvp(None, (0.5, 2.0), 0.0, 1.0, 1.0) == 2.5  # vjp(t_x)[0] + vjp(t_y)[1]
    assert Op("double", double, double_vjp, jvp=double_jvp).jvp is double_jvp


def test_an_op_with_shapes_has_no_jvp_unless_it_declares_one():
    assert Op("double", double, double_vjp, shapes=(((2,),),)).jvp is None


def test_a_jvp_with_other_inputs_than_forward_is_refused_naming_both():
    with pytest.raises(OpError, match=r"jvp must take \(xp, tangents, out, x\).*takes \(xp, tangents, out, y\)"):
        Op("double", double, double_vjp, jvp=wrong_inputs_jvp)
    with pytest.raises(OpError, match="jvp must be callable or None"):
        Op("double", double, double_vjp, jvp=3)
