"""microreg.trace and the audit of rules written for PyTorch and JAX: the findings in the frameworks' own rules, a catalogue
of wrong custom rules (each refuted) and right ones (each proved), the primitive tables against the frameworks, and errors."""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pytest

from microreg import Kink, Op, Value, cli, export, grad, trace
from microreg.audit import audit, audit_jax, audit_op, audit_torch
from microreg.backends import Scalar, Symbolic
from microreg.plugins import registry

jax = pytest.importorskip("jax")
torch = pytest.importorskip("torch")
jnp, F = jax.numpy, torch.nn.functional
XP = Scalar(registry)


def vjp_at(op, x: float, g: float = 1.0) -> float:
    (got,) = op.vjp(XP, g, None, x)
    return got


# ---- the frameworks' own rules: what the issue found ----

@pytest.mark.parametrize("fn, at", [(jax.nn.sigmoid, 37.0), (torch.sigmoid, 37.0), (jnp.tanh, 25.0), (torch.tanh, 25.0)],
                         ids=["jax.nn.sigmoid", "torch.sigmoid", "jnp.tanh", "torch.tanh"])
def test_sigmoid_and_tanh_are_proved_but_inaccurate_their_gradient_zero_far_out(fn, at):
    runs = audit_jax if fn in (jax.nn.sigmoid, jnp.tanh) else audit_torch
    record = runs(fn)
    assert (record.verdict, record.accuracy) == ("proved", "inaccurate")
    assert vjp_at(trace.jax(fn) if runs is audit_jax else trace.torch(fn), at) == 0.0  # exact: 8.5e-17 and 7.7e-22
    assert record.worst()["ulps"] > 1e15  # jnp.tanh's worst: 1.6e-15 at x = 19 for 1.3e-16


def gelu_tanh(x):
    return jax.nn.gelu(x, approximate=True)


def test_jax_gelu_tanh_approximation_gives_a_nan_gradient_at_1e300_and_is_inaccurate():
    assert math.isnan(vjp_at(trace.jax(gelu_tanh), 1e300))  # exact: 1.0
    record = audit_jax(gelu_tanh)
    assert (record.verdict, record.accuracy) == ("proved", "inaccurate")
    assert "gelu_tanh vjp(x=-1e+300) is undefined: the cotangent for x is nan" in record.report()


# ---- custom rules: wrong ones refuted, right ones proved ----

def jax_rule(forward, backward):
    """A jax.custom_vjp function of one input with backward(x, g) as its rule."""
    fn = jax.custom_vjp(forward)
    fn.defvjp(lambda x: (fn(x), x), lambda x, g: (backward(x, g),))
    return fn


def torch_rule(forward, backward):
    """A torch.autograd.Function of one input with backward(x, g) as its rule."""

    class Rule(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return forward(x)

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return backward(x, g)

    return Rule


def softplus_jax(x):
    return jnp.logaddexp(x, 0.0)


def softplus_torch(x):
    return torch.log1p(torch.exp(-torch.abs(x))) + torch.relu(x)


RIGHT = {
    "softplus": ((softplus_jax, lambda x, g: g * jax.nn.sigmoid(x)), (softplus_torch, lambda x, g: g * torch.sigmoid(x))),
    "exp": ((jnp.exp, lambda x, g: g * jnp.exp(x)), (torch.exp, lambda x, g: g * torch.exp(x))),
    "sigmoid": ((jax.nn.sigmoid, lambda x, g: g * jax.nn.sigmoid(x) * (1 - jax.nn.sigmoid(x))),
                (torch.sigmoid, lambda x, g: g * torch.sigmoid(x) * torch.sigmoid(-x))),
    "square": ((lambda x: x * x, lambda x, g: 2 * g * x), (lambda x: x * x, lambda x, g: 2 * g * x)),
}
WRONG = {
    "softplus_sigmoid_2x": ((softplus_jax, lambda x, g: g * jax.nn.sigmoid(2 * x)),
                            (softplus_torch, lambda x, g: g * torch.sigmoid(2 * x))),
    "exp_ignores_g": ((jnp.exp, lambda x, g: jnp.exp(x)), (torch.exp, lambda x, g: torch.exp(x))),
    "sigmoid_plus": ((jax.nn.sigmoid, lambda x, g: g * jax.nn.sigmoid(x) * (1 + jax.nn.sigmoid(x))),
                     (torch.sigmoid, lambda x, g: g * torch.sigmoid(x) * (1 + torch.sigmoid(x)))),
    "square_no_2": ((lambda x: x * x, lambda x, g: g * x), (lambda x: x * x, lambda x, g: g * x)),
    "tanh_sign": ((jnp.tanh, lambda x, g: g * (jnp.tanh(x) ** 2 - 1)), (torch.tanh, lambda x, g: g * (torch.tanh(x) ** 2 - 1))),
}


@pytest.mark.parametrize("framework", ["jax", "torch"])
@pytest.mark.parametrize("name", sorted(RIGHT))
def test_a_right_custom_rule_is_proved(name, framework):
    (fj, bj), (ft, bt) = RIGHT[name]
    record = audit_jax(jax_rule(fj, bj)) if framework == "jax" else audit_torch(torch_rule(ft, bt))
    assert record.verdict == "proved", record.report()


@pytest.mark.parametrize("framework", ["jax", "torch"])
@pytest.mark.parametrize("name", sorted(WRONG))
def test_a_wrong_custom_rule_is_refuted_with_a_counterexample(name, framework):
    (fj, bj), (ft, bt) = WRONG[name]
    record = audit_jax(jax_rule(fj, bj)) if framework == "jax" else audit_torch(torch_rule(ft, bt))
    assert record.verdict == "refuted"
    (symbolic,) = [c for c in record.checks if c.kind == "symbolic"]
    assert symbolic.verdict == "refuted" and symbolic.counterexample["expected"] != symbolic.counterexample["registered"]


def test_the_wrong_softplus_custom_vjp_is_refuted_at_the_issues_point():
    record = audit_jax(jax_rule(*WRONG["softplus_sigmoid_2x"][0]))
    (symbolic,) = [c for c in record.checks if c.kind == "symbolic"]
    point = symbolic.counterexample
    assert (point["at"], point["g"]) == ({"x": -0.375}, 1.5)
    assert round(point["expected"], 3) == 0.611 and round(point["registered"], 3) == 0.481


def test_a_torch_function_of_two_inputs_with_its_cotangents_swapped_is_refuted():
    class Mul(torch.autograd.Function):
        @staticmethod
        def forward(ctx, a, b):
            ctx.save_for_backward(a, b)
            return a * a * b

        @staticmethod
        def backward(ctx, g):
            a, b = ctx.saved_tensors
            return g * a * a, 2 * g * a * b

    record = audit_torch(Mul)
    assert record.inputs == ("a", "b")
    assert record.input_verdicts() == {"a": "refuted", "b": "refuted"}


# ---- the tables: every row agrees with its framework where the audit samples it (jax.nn's and torch.nn.functional's
# functions are in tests/test_frameworks.py) ----

JAX_FUNCTIONS = {"erf": jax.scipy.special.erf, "erfc": jax.scipy.special.erfc, "exp": jnp.exp, "expm1": jnp.expm1,
                 "log1p": lambda x: jnp.log1p(x * x), "sin": jnp.sin, "arctan": jnp.arctan, "sinh": jnp.sinh,
                 "cond": lambda x: jax.lax.cond(x > 1.0, lambda x: x * x, lambda x: 2 * x - 1, x),
                 "pow": lambda x: x ** 3 + jnp.abs(x) ** 2.5}
TORCH_FUNCTIONS = {"erf": torch.erf, "erfc": torch.erfc, "exp": torch.exp, "expm1": torch.expm1, "log1p": lambda x: torch.log1p(x * x),
                   "sin": torch.sin, "atan": torch.atan, "where": lambda x: torch.where(x > 1.0, x * x, 2 * x - 1),
                   "pow": lambda x: x ** 3 + torch.abs(x) ** 2.5}


@pytest.mark.parametrize("name", sorted(JAX_FUNCTIONS))
def test_jax_rows_agree_with_jax_on_floats_and_arrays(name):
    record = audit_jax(JAX_FUNCTIONS[name], measure=False)
    backends = [c for c in record.checks if c.kind in ("scalar", "array")]
    assert record.verdict == "proved" and backends and all(c.verdict == "passed" for c in backends), record.report()


@pytest.mark.parametrize("name", sorted(TORCH_FUNCTIONS))
def test_aten_rows_agree_with_torch_on_floats_and_arrays(name):
    record = audit_torch(TORCH_FUNCTIONS[name], measure=False)
    backends = [c for c in record.checks if c.kind in ("scalar", "array")]
    assert record.verdict == "proved" and backends and all(c.verdict == "passed" for c in backends), record.report()


# ---- a traced rule as a microreg op ----

def test_a_native_traced_rule_runs_on_values_arrays_second_order_and_exports_to_torch(register_op):
    (forward, backward) = RIGHT["softplus"][1]
    op = trace.torch(torch_rule(forward, backward), native=True, name="softplus_traced")
    register_op(op)
    v = Value(0.5)
    (d,) = grad(v.softplus_traced(), [v], create_graph=True)
    assert d.data == pytest.approx(1 / (1 + math.exp(-0.5)), rel=1e-15)
    assert grad(d, [v])[0] == pytest.approx(math.exp(-0.5) / (1 + math.exp(-0.5)) ** 2, rel=1e-14)
    a = Value(np.array([-800.0, 0.5, 800.0]))
    a.softplus_traced().sum().backward()
    assert a.grad.tolist() == pytest.approx([0.0, 1 / (1 + math.exp(-0.5)), 1.0], rel=1e-15)
    t = torch.tensor(0.5, dtype=torch.float64, requires_grad=True)
    export.torch("softplus_traced")(t).backward()
    assert t.grad.item() == pytest.approx(1 / (1 + math.exp(-0.5)), rel=1e-15)


def test_a_traced_rule_computes_on_floats_with_its_framework_unless_native():
    op, native = trace.jax(jax.nn.relu), trace.jax(jax.nn.relu, native=True)
    assert op.forward(XP, 1e-310) == 0.0  # JAX on the CPU flushes a subnormal input to zero
    assert native.forward(XP, 1e-310) == 1e-310  # the same rule, computed by microreg
    assert vjp_at(trace.jax(jax.nn.sigmoid, native=True), 37.0) == 0.0  # JAX's rule s * (1 - s), wherever it runs


@pytest.mark.parametrize("framework", ["jax", "torch"])
def test_a_traced_rule_as_xp_source_runs_without_its_framework_and_is_proved(framework):
    (fj, bj), (ft, bt) = RIGHT["softplus"]
    op = trace.jax(jax_rule(fj, bj), name="softplus_src") if framework == "jax" else trace.torch(torch_rule(ft, bt), name="softplus_src")
    namespace: dict = {}
    exec(trace.source(op), namespace)  # the source names nothing but xp
    written = Op("softplus_src", namespace["softplus_src"], namespace["softplus_src_vjp"])
    assert audit_op(written, measure=False).verdict == "proved"
    for x in (-30.0, -0.375, 0.0, 2.5, 700.0):
        assert written.forward(XP, x) == pytest.approx(op.forward(XP, x), rel=1e-15)
        assert written.vjp(XP, 1.5, None, x)[0] == pytest.approx(op.vjp(XP, 1.5, None, x)[0], rel=1e-15)


def test_a_constant_read_exact_is_written_exact_in_the_source():
    text = trace.source(trace.jax(jax.scipy.special.erf))
    assert "t4 = (2/xp.sqrt(xp.pi)) * g" in text and "1.1283791670955126" not in text


# ---- constants, kinks, errors ----

def test_a_correctly_rounded_constant_is_read_exact_and_the_report_says_which():
    record = audit_jax(jax.scipy.special.erf, measure=False)
    assert record.verdict == "proved", record.report()  # 1.1283791670955126 != 2/sqrt(pi): refuted if read as the float
    assert [c.message for c in record.checks if c.kind == "constant"] == ["the literal 1.1283791670955126 read as 2/sqrt(pi)"]


def test_a_literal_one_ulp_off_a_constant_is_not_taken_for_it():
    assert trace.constants_in([1.1283791670955126, -1.1283791670955126]) == {1.1283791670955126: "2/sqrt(pi)",
                                                                              -1.1283791670955126: "-(2/sqrt(pi))"}
    assert trace.constants_in([math.nextafter(1.1283791670955126, 2.0), 0.5]) == {}


def test_a_kink_declared_for_a_traced_function_is_checked():
    assert audit_torch(F.relu).verdict == "refuted"  # an undeclared kink at 0
    assert audit_torch(F.relu, kinks=(Kink(0.0, 0.0),)).verdict == "proved"
    assert audit_torch(F.relu, kinks=(Kink(0.0, 1.0),)).verdict == "refuted"  # torch gives 0 there


@pytest.mark.parametrize("framework, table", [("jax", "JAX"), ("torch", "ATEN")])
def test_an_unknown_primitive_is_an_error_naming_it(framework, table):
    floor = jnp.floor if framework == "jax" else torch.floor
    with pytest.raises(trace.TraceError, match=rf"primitive\(s\) (.*, )?floor(, .*)?, which microreg.trace.{table} has no row"):
        getattr(trace, framework)(floor)


def test_a_row_added_to_a_table_is_used(monkeypatch):
    monkeypatch.setitem(trace.JAX, "floor", lambda xp, x: x - 0.25)  # a made-up floor, to see the row is what runs
    op = trace.jax(jnp.floor)
    assert op.forward(Symbolic(registry), 1.0) == 0.75


def test_an_untraceable_function_is_an_error_naming_it():
    def branches(x):
        return x if x > 0 else -x  # Python control flow on a traced value

    with pytest.raises(trace.TraceError, match="branches cannot be traced by jax.make_jaxpr"):
        trace.jax(branches)


# ---- the command ----

def test_cli_audits_jax_sigmoid_proved_inaccurate_with_the_worst_point_and_exits_1(capsys):
    assert cli.main(["audit", "--jax", "jax.nn:sigmoid"]) == 1
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if line.startswith("jax.nn:sigmoid "))
    assert row.split()[3:5] == ["proved", "inaccurate"]  # after the plugin column, "jax 0.10.2"
    # the worst-input search finds x = 36.7, between the grid's 30 and 37
    assert re.search(r"worst: the scalar vjp for x at x=3\d\.\d+ gives 0\.0 \(gives 0 for a nonzero exact value\)", out)
    assert "1 op(s) audited" in out


def test_cli_suggests_a_repair_of_a_traced_rule_and_the_remedy_names_the_command(capsys):
    assert cli.main(["audit", "--jax", "jax.nn:sigmoid", "--suggest"]) == 1
    out = capsys.readouterr().out
    assert "to fix: `microreg audit --jax jax.nn:sigmoid --suggest`" in out
    assert "sigmoid: a rewrite, proved equal and accurate" in out
    assert "to register as Op(NAME, sigmoid, sigmoid_vjp)" in out and "def sigmoid_vjp(xp, g, out, x):" in out


def test_a_traced_rule_is_repaired_and_handed_back_to_jax_with_its_gradient_no_longer_0():
    """Prove someone's rule, repair it, hand it back: jax.nn.sigmoid's gradient is 0 at x = 36.7 (exact 1.1e-16); its
    repair, written as a plugin's xp source, is proved and accurate, and exported to JAX gives the exact gradient."""
    from microreg import repair

    result = repair(trace.jax(jax.nn.sigmoid))
    assert result.status == "repaired", result.describe()
    namespace: dict = {}
    exec(result.source, namespace)  # the source printed to paste, as a plugin would hold it
    op = Op("sigmoid_repaired", namespace["sigmoid"], namespace["sigmoid_vjp"])
    (record,) = audit([op], workers=0)  # in this process: JAX has run here, and a forked worker may deadlock
    assert (record.verdict, record.accuracy) == ("proved", "accurate"), record.report()
    x = 36.73680056967714
    with jax.enable_x64(True):
        assert float(jax.grad(jax.nn.sigmoid)(jnp.float64(x))) == 0.0
        assert float(jax.grad(export.jax(op))(jnp.float64(x))) == pytest.approx(1.1102230246251097e-16, rel=1e-14)


@pytest.mark.parametrize("form, expected", [
    ("github", "::error title=microreg audit%3A jax.nn%3Asigmoid proved%2C inaccurate::jax.nn:sigmoid [accuracy] inaccurate"),
    ("junit", f'<testcase classname="microreg.audit.jax {jax.__version__}" name="jax.nn:sigmoid"'),
])
def test_cli_gives_a_traced_function_to_ci_in_every_format(capsys, form, expected):
    assert cli.main(["audit", "--jax", "jax.nn:sigmoid", "--format", form]) == 1
    assert expected in capsys.readouterr().out


SoftplusSigmoid2x = torch_rule(*WRONG["softplus_sigmoid_2x"][1])  # an autograd.Function class the command can name


def test_cli_audits_an_autograd_function_class_by_its_path_and_refutes_it(capsys):
    assert cli.main(["audit", "--torch", f"{__name__}:SoftplusSigmoid2x", "--format", "json"]) == 1
    (record,) = json.loads(capsys.readouterr().out)
    assert (record["op"], record["verdict"]) == (f"{__name__}:SoftplusSigmoid2x", "refuted")


def test_cli_kink_and_domain_describe_the_function_before_them(capsys):
    assert cli.main(["audit", "--torch", "torch.nn.functional:relu", "--kink", "0=0", "--torch", "torch:log",
                     "--domain", "positive", "--format", "json"]) == 0
    records = {r["op"]: r for r in json.loads(capsys.readouterr().out)}
    assert {op: (r["verdict"], r["accuracy"]["verdict"]) for op, r in records.items()} == {
        "torch.nn.functional:relu": ("proved", "accurate"), "torch:log": ("proved", "accurate")}


@pytest.mark.parametrize("argv, message", [
    (["--jax", "jax.numpy:floor"], "--jax jax.numpy:floor: jax.numpy:floor uses the JAX primitive(s) floor"),
    (["--torch", "torch:nosuch"], "module 'torch' has no 'nosuch'"),
    (["--jax", "sigmoid"], "expected MODULE:FUNCTION"),
])
def test_cli_a_function_that_cannot_be_traced_is_a_usage_error_saying_why(capsys, argv, message):
    assert cli.main(["audit", *argv]) == 2
    assert message in capsys.readouterr().err


def test_cli_kink_before_any_function_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["audit", "--kink", "0=0", "--torch", "torch:relu"])
    assert exc.value.code == 2
    assert "--kink describes the --jax or --torch function given before it" in capsys.readouterr().err
