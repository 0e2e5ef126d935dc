"""Every registered op, through the registry: gradients against central differences, kinks, arrays, second derivatives,
hostile points, operand types.

Nothing here names a particular op: a plugin's ops are checked the moment it is installed. The checks are
microreg.testing's, the ones a plugin author runs on their own ops (tests/test_testing.py shows each can fail);
this file runs them on every registered op, one test per check and case.
"""

from __future__ import annotations

import inspect

import numpy as np
import pytest

from microreg import Value, registry
from microreg.testing import (
    BINARY_OPERATORS,
    array_errors,
    array_gradient_errors,
    array_second_derivative_errors,
    bad_operands,
    bad_params,
    broadcast_errors,
    gradient_errors,
    hostile_errors,
    kink_errors,
    operand_errors,
    param_error,
    path_disagreements,
    points,
    refusal_error,
    second_derivative_errors,
)


def assert_none(errors: list[str]) -> None:
    assert not errors, "\n".join(errors[:20]) + (f"\n({len(errors)} in all)" if len(errors) > 20 else "")


def test_every_op_has_sample_points(op):
    assert points(op), f"{op.name}: every sample point of domains {op.domains} lies on a declared kink"


def test_examples_bind_every_static_parameter(op):
    for example in op.examples:
        bound = op.bind((), example)
        assert set(bound) == set(op.params), f"{op.name}: example {example} leaves {set(op.params) - set(bound)} unset"


def test_every_op_is_a_value_method(op):
    method = getattr(Value, op.name)
    assert method.__name__ == op.name
    assert method.__doc__ == op.doc


def test_every_op_method_shows_its_real_signature(op_case):
    """help(v.leaky_relu) shows (negative_slope=0.01), not (*args, **kw); and the call it shows works."""
    op, params = op_case
    shown = inspect.signature(getattr(Value(0.5), op.name))
    variadic = registry.get(op.name).variadic  # dot at four inputs shows (*wx): self is the first of them
    assert list(shown.parameters) == [*([variadic] if variadic else op.inputs[1:]), *op.params]
    assert {k: p.default for k, p in shown.parameters.items() if k in op.params} == dict(op.params)
    args = [Value(x) for x in points(op)[0]]
    by_signature = shown.bind(*args[1:], **params)  # the call help() describes binds ...
    out = getattr(args[0], op.name)(*by_signature.args, **by_signature.kwargs)  # ... and runs
    assert out.params == params


def test_gradient_matches_central_difference(op_case):
    assert_none(gradient_errors(*op_case))


def test_kink_vjp_takes_declared_value(kink_case):
    assert_none(kink_errors(*kink_case))


def test_array_matches_scalar_elementwise(op_case):
    assert_none(array_errors(*op_case))


def test_a_constant_operand_and_broadcasting_give_the_same_gradients(binary_case):
    assert_none(broadcast_errors(*binary_case))


def test_second_derivative_matches_central_difference(op_case):
    """grad(create_graph=True) is differentiable again; a plain-number gradient must be a constant one."""
    assert_none(second_derivative_errors(*op_case))


def test_hostile_inputs_give_finite_results_or_domain_error(op_case):
    """Outside the domain and at huge inputs: a finite value and gradient, or a DomainError naming the op (never NaN/inf)."""
    assert_none(hostile_errors(*op_case))


def test_scalar_and_array_paths_agree_at_hostile_points(op_case):
    """The same value and gradients, or a DomainError on both, never a number on one path and an error on the other."""
    assert_none(path_disagreements(*op_case))


def test_array_op_gradient_matches_central_difference(array_case):
    assert_none(array_gradient_errors(*array_case))


def test_array_op_second_derivative_matches_central_difference(array_case):
    assert_none(array_second_derivative_errors(*array_case))


# -- every operand type: a TypeError naming the op and the operand -------------------------------------


BAD_OPERANDS = [pytest.param(b, id=type(b).__name__ + ("_of_str" if isinstance(b, list) else "")) for b in bad_operands()]


@pytest.mark.parametrize("bad", [*BAD_OPERANDS, pytest.param([1.5], id="list_of_float")])  # an operator takes no list
@pytest.mark.parametrize("name", BINARY_OPERATORS)
def test_an_operator_refuses_an_operand_that_is_not_a_number_naming_the_op_and_the_operand(name, bad):
    fn = BINARY_OPERATORS[name]
    errors = refusal_error(lambda: fn(Value(1.5), bad), name, bad) + refusal_error(lambda: fn(Value(np.array([1.5, 2.5])), bad), name, bad)
    if type(bad).__module__ != "torch":  # a tensor on the left is torch's to refuse, in its own words
        errors += refusal_error(lambda: fn(bad, Value(1.5)), name, bad)
    assert_none(errors)


@pytest.mark.parametrize("bad", BAD_OPERANDS)
def test_an_op_refuses_an_input_that_is_not_a_number_naming_the_op_and_the_operand(op_case, bad):
    """At every input, through apply() and through the named method (a binary op's second input)."""
    assert_none(operand_errors(*op_case, operands=[bad]))


BAD_PARAMS = [pytest.param((op, name, bad), id=f"{op.name}.{name}={label}")
              for op in sorted(registry.ops().values(), key=lambda op: op.name) for name, bad, label in bad_params(op)]


@pytest.mark.parametrize("bad_param", BAD_PARAMS)
def test_a_static_parameter_that_cannot_be_a_number_is_an_error_naming_the_op(bad_param):
    """Static parameters are passed to the op as given (a plugin's may be a string); one that fails is named with the op."""
    assert_none(param_error(*bad_param))
