"""The plugin's own tests: registered, proved, accurate against mpmath, and PyTorch's values, gradients and kinks.

Run with ``pytest plugins_torch/tests`` once the package is installed (``pip install -e plugins_torch``).
"""

from __future__ import annotations

import numpy as np
import pytest
from microreg_torch_activations import reference as R

import microreg
from microreg import Value, grad
from microreg.nn import MLP
from microreg.testing import ops_of

OURS = ("celu", "selu", "gelu_exact", "logsigmoid", "relu6", "hardsigmoid", "hardswish", "prelu", "softshrink",
        "hardshrink", "tanhshrink", "threshold")
BOUND = 16  # ulps, against the exact value, for value and derivative, over reference.GRID
# gelu_exact's lower tail (x near -38) is subnormal: Phi(x) is computed to an ulp of the subnormal range and
# multiplied by |x| up to 38 (measured: 26.3 subnormal ulps, 1.3e-322 absolute).
VALUE_BOUND = {"gelu_exact": 32}


def test_this_plugin_registers_exactly_its_ops():
    assert ops_of("torch_activations") == sorted(OURS)
    assert microreg.registry.plugins["torch_activations"].distribution == "microreg-torch-activations"


def test_with_the_example_plugin_every_elementwise_torch_activation_is_registered():
    assert R.ops() == list(R.CASES)


@pytest.mark.parametrize("name", OURS)
def test_proved_and_accurate_by_the_audit_with_second_derivatives(name, audited):
    record = audited(name)  # assert_proved(name, order=2), the audit shared with any other test of the session
    assert not record.fails(strict=True), record.report()


@pytest.mark.parametrize("name", OURS)
def test_within_16_ulps_of_the_exact_value_over_the_whole_grid(name):
    (value_ulps, at), (grad_ulps, grad_at) = R.ours(name).worst()
    assert value_ulps <= VALUE_BOUND.get(name, BOUND), f"{name}({at}) is {value_ulps:.1f} ulps off"
    assert grad_ulps <= BOUND, f"{name}'({grad_at}) is {grad_ulps:.1f} ulps off"


@pytest.mark.parametrize("name", OURS)
def test_finite_with_finite_gradients_for_every_finite_input(name):
    for x in (-1.7976931348623157e308, -1e300, -1e3, 1e3, 1e300, 1.7976931348623157e308):
        if name == "selu" and x > 1e308:
            continue  # selu(1.8e308) = 1.9e308 overflows float64
        out, g = R.microreg_values(name, np.array([x]))
        assert np.isfinite(out).all() and np.isfinite(g).all(), (name, x, out, g)


@pytest.mark.parametrize("name", list(R.CASES))
def test_where_pytorch_differs_by_more_than_4_ulps_microreg_is_the_more_accurate_or_accurate(name):
    """At each point of the grid, value and derivative: within 4 ulps of PyTorch's; or closer to the exact value than
    PyTorch's; or within the audit's bound, 16 ulps times the condition number (where rounding x alone moves the
    exact result by more than an ulp, near a zero of the derivative say, neither engine can do better)."""
    pytest.importorskip("torch")
    mine, theirs = R.ours(name), R.theirs(name)
    far = []
    with R.mpmath.workprec(R.PREC):
        for kind in ("value", "grad"):
            for x, a, b, a_ulps, b_ulps in zip(mine.xs, getattr(mine, kind + "s"), getattr(theirs, kind + "s"),
                                               getattr(mine, kind + "_ulps"), getattr(theirs, kind + "_ulps")):
                if abs(b) < 2.2250738585072014e-308 and abs(a - b) <= 32 * 5e-324:
                    continue  # the subnormal range (gelu_exact near x = -38.5): see VALUE_BOUND
                if (R.ulps(float(a), R.mpmath.mpf(float(b))) > 4 and a_ulps >= b_ulps
                        and a_ulps > BOUND * max(1.0, R.condition(name, float(x), kind == "grad"))):
                    far.append((kind, float(x), float(a), float(b)))
    assert far == [], f"{name}: farther than 4 ulps from PyTorch, less accurate and beyond the audit's bound, at {far[:3]}"


def test_prelu_learns_its_slope_as_a_second_input():
    x, a = Value(-2.0), Value(0.25)
    y = x.prelu(a)
    y.backward()
    assert (y.data, x.grad, a.grad) == (-0.5, 0.25, -2.0)
    (dx,) = grad(Value(-2.0).prelu(a), a, create_graph=True)
    assert dx.data == -2.0


@pytest.mark.parametrize("name", [n for n in OURS if n != "prelu"])
def test_usable_as_an_mlp_activation_with_its_parameters(name):
    model = MLP(2, [4, 1], activation=name, activation_params=R.CASES[name][0], seed=0)
    model([0.5, -1.5]).backward()
    assert any(p.grad != 0.0 for p in model.parameters())


def test_threshold_in_a_model_needs_its_parameters():
    missing = (r"activation 'threshold': threshold\(\) is missing static parameter\(s\) \['threshold', 'value'\] "
               r"\(the op is threshold\(x, threshold, value\)\)")
    with pytest.raises(ValueError, match=missing):
        MLP(2, [4, 1], activation="threshold")
