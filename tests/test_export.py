"""Every registered op exported to PyTorch and JAX, checked against the framework's native op and gradient checker.

Also against microreg's own engine and the op's declared kinks. Each framework's tests skip where it
is not installed (CI installs both).
"""

from __future__ import annotations

import functools
import itertools
import math
import os
import subprocess
import sys
from typing import Any

import numpy as np
import pytest

from microreg import DomainError, Op, Value, export, registry
from microreg.plugins import install_hint

# Float64 agreement: relative 1e-12, with a floor of 1e-14 so that values far below any activation's
# scale (softplus(-40) = 4e-18, where a log(1 + exp(x)) and torch's log1p differ) are not judged relatively.
RTOL, ATOL = 1e-12, 1e-14
# Both signs of each magnitude, from 1e-8 to 1e6, and never a kink (0, +-1, +-2, 0.5).
MAGNITUDES = (1e-8, 1e-3, 0.13, 0.37, 0.71, 1.3, 2.2, 3.7, 6.1, 9.9, 21.0, 40.0, 100.0, 700.0, 1e3, 1e6)
GRID = sorted(s * m for m in MAGNITUDES for s in (-1.0, 1.0))
# Where the gradient checkers' finite differences are sound: at least 0.014 from every kink (0, +-0.5,
# +-1) and inside tan's (-pi/2, pi/2). As many points as GRID, so that JAX compiles each primitive once
# for both (compiling is most of its time).
SMOOTH = tuple(np.linspace(-1.45, 1.45, len(GRID)))


def points(op: Op, values: tuple[float, ...]) -> list[np.ndarray]:
    """values inside each input's domain; every pair of distinct ones for a binary op (maximum branches where x = y);
    for an op of more inputs (dot), input j runs over the values shifted by j (their product would be too many)."""
    per_input = [np.array([abs(v) for v in values] if d in ("positive", "nonnegative") else values) for d in op.domains]
    if len(per_input) > 2:
        return [np.roll(p, j) for j, p in enumerate(per_input)]
    return [np.array(c) for c in zip(*(p for p in itertools.product(*per_input) if len(set(p)) == len(p)))]


def checked(op: Op) -> list[np.ndarray]:
    """Where the gradient checkers look: SMOOTH, 0.3 added where the domain is positive (log's derivatives blow up
    near 0); for a binary op, pairs of every fourth point (56, none with |y| < 0.14)."""
    xs = points(op, SMOOTH if op.arity == 1 else SMOOTH[1::4])
    return [x + 0.3 if d in ("positive", "nonnegative") else x for x, d in zip(xs, op.domains)]


# -- each framework: how to run a function, and its native ops -------------------------------------


def run_torch(fn: Any, xs: list[np.ndarray], params: dict) -> tuple[np.ndarray, list[np.ndarray]]:
    import torch

    ts = [torch.tensor(x, requires_grad=True) for x in xs]
    out = fn(*ts, **params)
    grads = torch.autograd.grad(out, ts, torch.ones_like(out))
    return out.detach().numpy(), [g.numpy() for g in grads]


def run_jax(fn: Any, xs: list[np.ndarray], params: dict) -> tuple[np.ndarray, list[np.ndarray]]:
    import jax
    import jax.numpy as jnp

    with jax.enable_x64(True):
        out, vjp = jax.vjp(lambda *a: fn(*a, **params), *(jnp.asarray(x) for x in xs))
        return np.asarray(out), [np.asarray(g) for g in vjp(jnp.ones_like(out))]


def run_jax_jit_vmap(fn: Any, xs: list[np.ndarray], params: dict) -> tuple[np.ndarray, list[np.ndarray]]:
    """As run_jax, through the transformations a model applies: jax.jit of the values and of jax.vmap of jax.grad."""
    import jax
    import jax.numpy as jnp

    def values_and_grads(*args: Any) -> tuple:
        def f(*a: Any) -> Any:
            return fn(*a, **params)

        return f(*args), jax.vmap(jax.grad(f, argnums=tuple(range(len(args)))))(*args)

    with jax.enable_x64(True):
        out, grads = jax.jit(values_and_grads)(*(jnp.asarray(x) for x in xs))
        return np.asarray(out), [np.asarray(g) for g in grads]


def torch_natives() -> dict[str, Any]:
    """The torch equivalents: the engine's comparison tests' table (with the torch.nn plugin's, where it is installed)."""
    from test_torch import TORCH  # one table of torch equivalents, kept beside the engine's own torch tests

    return TORCH


def _jax_pow(x: Any, *, n: float) -> Any:
    import jax.numpy as jnp

    return jnp.power(x, n)


def _jax_clip(x: Any, *, min_val: float, max_val: float) -> Any:
    import jax.numpy as jnp

    return jnp.clip(x, min_val, max_val)


def _jax_gaussian(x: Any) -> Any:
    import jax.numpy as jnp

    return jnp.exp(-x * x / 2)


def _jax_softplus(x: Any, *, beta: float = 1.0, threshold: float = 20.0) -> Any:
    """PyTorch's softplus, which microreg's follows: x itself where beta x > threshold (JAX's has no threshold)."""
    import jax

    return jax.numpy.where(beta * x > threshold, x, jax.nn.softplus(beta * x) / beta)


def jax_natives() -> dict[str, Any]:
    import jax
    import jax.numpy as jnp
    import jax.scipy.special as special

    nn = jax.nn
    return {
        "add": jnp.add, "sub": jnp.subtract, "mul": jnp.multiply, "div": jnp.divide, "neg": jnp.negative, "pow": _jax_pow,
        "relu": nn.relu, "tanh": jnp.tanh, "sigmoid": nn.sigmoid, "exp": jnp.exp, "log": jnp.log,
        "expm1": jnp.expm1, "sqrt": jnp.sqrt, "sin": jnp.sin, "cos": jnp.cos, "tan": jnp.tan, "sinh": jnp.sinh,
        "cosh": jnp.cosh, "atan": jnp.arctan, "asinh": jnp.arcsinh, "gaussian": _jax_gaussian, "erf": special.erf,
        "erfc": special.erfc, "maximum": jnp.maximum, "minimum": jnp.minimum,
        "softplus": _jax_softplus, "silu": nn.silu, "gelu": nn.gelu, "elu": nn.elu, "leaky_relu": nn.leaky_relu,
        "softsign": nn.soft_sign, "mish": nn.mish, "hardtanh": _jax_clip,
        "celu": nn.celu, "selu": nn.selu, "gelu_exact": functools.partial(nn.gelu, approximate=False),
        "logsigmoid": nn.log_sigmoid, "relu6": nn.relu6, "hardsigmoid": nn.hard_sigmoid, "hardswish": nn.hard_swish,
    }


FRAMEWORKS = {"torch": (export.torch, run_torch, torch_natives), "jax": (export.jax, run_jax, jax_natives)}


@pytest.fixture(autouse=True)
def one_torch_thread() -> Any:
    """torch's threads spin against each other on a busy two-core machine (fifty times slower): one is enough here."""
    try:
        import torch
    except ImportError:
        yield
        return
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(params=list(FRAMEWORKS))
def framework(request: pytest.FixtureRequest) -> str:
    pytest.importorskip(request.param)
    return request.param


def assert_same(got: tuple, want: tuple, op: Op, xs: list[np.ndarray], grad_rtol: float = RTOL) -> None:
    (out, grads), (want_out, want_grads) = got, want
    where = f"{op.name} at {list(zip(*xs))[:3]}..."
    np.testing.assert_allclose(out, want_out, rtol=RTOL, atol=ATOL, err_msg=f"value of {where}")
    for name, g, w in zip(op.inputs, grads, want_grads):
        np.testing.assert_allclose(g, w, rtol=grad_rtol, atol=ATOL, err_msg=f"d{op.name}/d{name} of {where}")


#: Native gradients known to be less exact than float64, and by how much (docs/export.md lists them).
NATIVE_GRAD_RTOL = {("torch", "hardsigmoid"): 3e-8}  # its backward multiplies by 1/6 rounded to float32, on float64 too


# -- lazy imports ----------------------------------------------------------------------------------


def test_importing_microreg_imports_no_framework():
    code = ("import sys, microreg, microreg.export, microreg.cli; microreg.Value(0.5).tanh().backward(); "
            "print([m for m in ('torch', 'jax') if m in sys.modules])")
    env = {k: v for k, v in os.environ.items() if k != "MICROREG_STRICT"}
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env).stdout.split() == ["[]"]


# -- every registered op, in each framework --------------------------------------------------------


@functools.cache
def exported_on_grid(framework: str, op: Op, params: tuple) -> tuple[list[np.ndarray], tuple]:
    """The points of GRID in op's domain, and the export's values and gradients there (shared by two tests);
    in JAX under jax.jit and jax.vmap."""
    to, run, _ = FRAMEWORKS[framework]
    xs = points(op, GRID)
    return xs, (run_jax_jit_vmap if framework == "jax" else run)(to(op), xs, dict(params))


def test_export_matches_the_frameworks_native_op(framework, op_case):
    op, params = op_case
    native = FRAMEWORKS[framework][2]().get(op.name)
    if native is None:
        pytest.skip(f"{framework} has no native {op.name!r} listed here (compared with microreg's engine instead)")
    xs, got = exported_on_grid(framework, op, tuple(params.items()))
    assert_same(got, FRAMEWORKS[framework][1](native, xs, params), op, xs, NATIVE_GRAD_RTOL.get((framework, op.name), RTOL))


def microreg_engine(op: Op, xs: list[np.ndarray], params: dict) -> tuple[np.ndarray, list[np.ndarray]]:
    """op's values and gradients on microreg's scalar engine at each point where it is defined (NaN elsewhere)."""
    outs, grads = np.full(len(xs[0]), np.nan), np.full((len(xs), len(xs[0])), np.nan)
    for i, point in enumerate(zip(*xs)):
        vs = [Value(float(x)) for x in point]
        try:
            out = getattr(vs[0], op.name)(*vs[1:], **params)
            out.backward()
        except DomainError:  # exp(1000) overflows, where torch and JAX give inf
            continue
        outs[i], grads[:, i] = out.data, [v.grad for v in vs]
    return outs, list(grads)


def test_export_matches_microregs_own_engine(framework, op_case):
    op, params = op_case
    xs, (out, grads) = exported_on_grid(framework, op, tuple(params.items()))
    want_out, want_grads = microreg_engine(op, xs, params)
    defined = ~np.isnan(want_out)
    assert defined.sum() >= len(defined) // 2
    assert_same((out[defined], [g[defined] for g in grads]), (want_out[defined], [g[defined] for g in want_grads]), op, xs)


def test_export_of_an_op_on_arrays_matches_microregs_own_engine(framework, array_case):
    op, shapes, params = array_case
    to, run, _ = FRAMEWORKS[framework]
    arrays = [np.random.default_rng(7).uniform(-2.0, 2.0, s) for s in shapes]
    out, grads = run(to(op), arrays, params)
    xs = [Value(a) for a in arrays]
    mine = getattr(xs[0], op.name)(*xs[1:], **params)
    mine.sum().backward()  # the frameworks' cotangent: ones of the output's shape
    np.testing.assert_allclose(out, mine.data, rtol=RTOL, atol=ATOL)
    for g, x, name in zip(grads, xs, op.inputs):
        np.testing.assert_allclose(g, x.grad, rtol=RTOL, atol=ATOL, err_msg=f"d{op.name}/d{name}")


def test_export_takes_the_declared_value_at_each_kink(framework, kink_case):
    op, kink, params = kink_case
    to, run, _ = FRAMEWORKS[framework]
    _, grads = run(to(op), [np.full(len(GRID), a) for a in kink.at], params)  # GRID's shape: compiled once for both
    assert [set(g.tolist()) for g in grads] == [{0.0 if g is None else g} for g in kink.grad]


def test_torch_gradcheck_and_gradgradcheck_pass(op_case):
    torch = pytest.importorskip("torch")
    op, params = op_case
    f = export.torch(op)
    ts = [torch.tensor(x, requires_grad=True) for x in checked(op)]
    assert torch.autograd.gradcheck(lambda *a: f(*a, **params), ts, check_forward_ad=True)
    assert torch.autograd.gradgradcheck(lambda *a: f(*a, **params), ts, check_fwd_over_rev=True)


def test_jax_check_grads_passes_at_order_2_in_both_modes(op):
    jax = pytest.importorskip("jax")
    from jax.test_util import check_grads

    f, params = export.jax(op), op.examples[0]  # one example each: every JAX compile costs ~0.2 s
    # a variadic op at its largest declared arity; an op on arrays at its first example shapes
    xs = [np.random.default_rng(7).uniform(-2.0, 2.0, s) for s in op.shapes[0]] if op.shapes else checked(op.forms()[-1])
    with jax.enable_x64(True):
        # modes: fwd and rev; a step of 1e-6, not 1e-4, for differences as exact as float64 allows (x / y near y = 0.14)
        check_grads(lambda *a: f(*a, **params), [jax.numpy.asarray(x) for x in xs], order=2, eps=1e-6)


# -- forward mode: jacfwd and hessian, against the native op's (central differences where there is none) -------


def torch_jacfwd_hessian(fn: Any, xs: list[np.ndarray], params: dict) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Each input's d out / d x_i by torch.func.jacfwd, and d2 sum(out) / d x_i d x_j by torch.func.hessian, as diagonals
    (an elementwise op's Jacobians are diagonal: the rest is checked to be 0)."""
    import torch

    ts, argnums = [torch.tensor(x) for x in xs], tuple(range(len(xs)))
    jac = torch.func.jacfwd(lambda *a: fn(*a, **params), argnums=argnums)(*ts)
    hess = torch.func.hessian(lambda *a: fn(*a, **params).sum(), argnums=argnums)(*ts)
    return diagonals(jac), diagonals([h for row in hess for h in row])


def jax_jacfwd_hessian(fn: Any, xs: list[np.ndarray], params: dict) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """As torch_jacfwd_hessian, by jax.jacfwd and jax.hessian."""
    import jax

    argnums = tuple(range(len(xs)))
    with jax.enable_x64(True):
        args = [jax.numpy.asarray(x) for x in xs]
        jac = jax.jacfwd(lambda *a: fn(*a, **params), argnums=argnums)(*args)
        hess = jax.hessian(lambda *a: fn(*a, **params).sum(), argnums=argnums)(*args)
        return diagonals(jac), diagonals([h for row in hess for h in row])


def diagonals(matrices: Any) -> list[np.ndarray]:
    found = []
    for m in matrices:
        m = np.asarray(m)
        d = np.diag(m).copy()
        np.testing.assert_array_equal(m - np.diag(d), 0.0, err_msg="an elementwise op's Jacobian off its diagonal")
        found.append(d)
    return found


def central_jacobian_hessian(op: Op, xs: list[np.ndarray], params: dict, framework: str) -> tuple[list, list]:
    """The diagonals torch_jacfwd_hessian gives, by central differences: of the forward (through microreg's engine) for
    the Jacobian, of the export's reverse-mode gradient for the Hessian."""
    to, run, _ = FRAMEWORKS[framework]

    def step(x: np.ndarray) -> np.ndarray:
        return 1e-6 * np.maximum(1.0, np.abs(x))

    jac, hess = [], []
    for i, x in enumerate(xs):
        h = step(x)
        up, down = ([*xs[:i], x + s * h, *xs[i + 1:]] for s in (1, -1))
        (f_up, g_up), (f_down, g_down) = run(to(op), up, params), run(to(op), down, params)
        jac.append((f_up - f_down) / (2 * h))
        hess.append([(gu - gd) / (2 * h) for gu, gd in zip(g_up, g_down)])
    return jac, [hess[j][i] for i in range(len(xs)) for j in range(len(xs))]  # hessian's order: d/dx_i first


FORWARD = {"torch": torch_jacfwd_hessian, "jax": jax_jacfwd_hessian}


def test_forward_mode_jacobian_and_hessian_match_the_native_ops(framework, op_case):
    op, params = op_case
    forward_mode = FORWARD[framework]
    xs = checked(op)
    jac, hess = forward_mode(FRAMEWORKS[framework][0](op), xs, params)
    native = FRAMEWORKS[framework][2]().get(op.name)
    try:
        if native is None:
            raise NotImplementedError
        want_jac, want_hess = forward_mode(native, xs, params)
        rtol, atol = NATIVE_GRAD_RTOL.get((framework, op.name), 1e-12), 1e-13
    except NotImplementedError:  # no native op, or one without forward mode (torch's hardsigmoid backward)
        want_jac, want_hess = central_jacobian_hessian(op, xs, params, framework)
        rtol, atol = 1e-5, 1e-6
    for got, want in zip([*jac, *hess], [*want_jac, *want_hess]):
        np.testing.assert_allclose(got, want, rtol=rtol, atol=atol, err_msg=f"{op.name} at {list(zip(*xs))[:3]}...")


def test_forward_mode_of_an_op_on_arrays_matches_reverse_mode(framework, array_case):
    op, shapes, params = array_case
    arrays = [np.random.default_rng(7).uniform(-2.0, 2.0, s) for s in shapes]
    f = FRAMEWORKS[framework][0](op)
    if framework == "torch":
        import torch

        ts = [torch.tensor(a) for a in arrays]
        fwd = torch.func.jacfwd(lambda *a: f(*a, **params), argnums=tuple(range(len(ts))))(*ts)
        rev = torch.func.jacrev(lambda *a: f(*a, **params), argnums=tuple(range(len(ts))))(*ts)
    else:
        import jax

        with jax.enable_x64(True):
            args = [jax.numpy.asarray(a) for a in arrays]
            fwd = jax.jacfwd(lambda *a: f(*a, **params), argnums=tuple(range(len(args))))(*args)
            rev = jax.jacrev(lambda *a: f(*a, **params), argnums=tuple(range(len(args))))(*args)
    for a, b in zip(fwd, rev):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-14, atol=1e-15)


def test_torch_forward_ad_gives_the_ops_jvp_under_vmap():
    torch = pytest.importorskip("torch")
    import torch.autograd.forward_ad as fwad

    gelu = export.torch("gelu")
    x = torch.linspace(-2.0, 2.0, 7, dtype=torch.float64)
    with fwad.dual_level():
        tangent = fwad.unpack_dual(gelu(fwad.make_dual(x, torch.ones_like(x)))).tangent
    (want,) = torch.autograd.grad(gelu(x.requires_grad_()).sum(), x)
    torch.testing.assert_close(tangent, want, rtol=1e-14, atol=0)
    batched = torch.func.vmap(lambda t: torch.func.jvp(gelu, (x.detach(),), (t,))[1])(torch.eye(7, dtype=torch.float64))
    torch.testing.assert_close(batched, torch.diag(want), rtol=1e-14, atol=0)


def test_an_op_with_no_jvp_says_so_in_forward_mode(framework):
    base = registry.get("transpose")
    f = FRAMEWORKS[framework][0](Op("transpose_no_jvp", base.forward, base.vjp, shapes=base.shapes))
    x = np.ones((2, 3))
    with pytest.raises(NotImplementedError, match="op 'transpose_no_jvp' declares no jvp"):
        if framework == "torch":
            import torch

            torch.func.jacfwd(f)(torch.tensor(x))
        else:
            import jax

            jax.jacfwd(f)(jax.numpy.asarray(x))


def test_float32_in_float32_out(op_case):
    torch = pytest.importorskip("torch")
    op, params = op_case
    xs = checked(op)
    out64, grads64 = run_torch(export.torch(op), xs, params)
    ts = [torch.tensor(x, dtype=torch.float32, requires_grad=True) for x in xs]
    out = export.torch(op)(*ts, **params)
    grads = torch.autograd.grad(out, ts, torch.ones_like(out))
    assert out.dtype == torch.float32 and all(g.dtype == torch.float32 for g in grads)
    np.testing.assert_allclose(out.detach().numpy(), out64, rtol=1e-5, atol=1e-6)
    for g, g64 in zip(grads, grads64):
        np.testing.assert_allclose(g.numpy(), g64, rtol=1e-4, atol=1e-6)


# -- calling an export -----------------------------------------------------------------------------


def cube(xp, x):
    return x * x * x


def cube_vjp(xp, g, out, x):
    return (3 * g * x * x,)


def softplus_twice(xp, x):
    """Calls another op by name, as plugins do."""
    return 2 * xp.softplus(x)


def softplus_twice_vjp(xp, g, out, x):
    return (2 * g * xp.sigmoid(x),)


def test_an_op_record_that_is_not_registered_exports_too(framework):
    to, run, _ = FRAMEWORKS[framework]
    xs = [np.array(SMOOTH)]
    out, (grad,) = run(to(Op("cube", cube, cube_vjp)), xs, {})
    np.testing.assert_allclose(out, xs[0] ** 3, rtol=1e-15)
    np.testing.assert_allclose(grad, 3 * xs[0] ** 2, rtol=1e-15)


def test_an_op_calling_another_by_name_differentiates_twice_through_both_vjps(framework):
    # d2/dx2 2 softplus(x) = 2 sigmoid'(x): through softplus_twice's vjp, then sigmoid's
    to, run, _ = FRAMEWORKS[framework]
    f = to(Op("softplus_twice", softplus_twice, softplus_twice_vjp))
    x = np.array(SMOOTH)
    s = 1 / (1 + np.exp(-x))
    if framework == "torch":
        import torch

        t = torch.tensor(x, requires_grad=True)
        (g,) = torch.autograd.grad(f(t).sum(), t, create_graph=True)
        (h,) = torch.autograd.grad(g.sum(), t)
        h = h.numpy()
    else:
        import jax

        with jax.enable_x64(True):
            h = np.asarray(jax.vmap(jax.grad(jax.grad(f)))(jax.numpy.asarray(x)))
    np.testing.assert_allclose(h, 2 * s * (1 - s), rtol=1e-13)


def test_binary_inputs_broadcast_and_each_gradient_has_its_inputs_shape(framework):
    to, run, _ = FRAMEWORKS[framework]
    x, y = np.array([0.5, -1.5, 2.0]), np.array([[3.0], [-0.25]])
    out, (gx, gy) = run(to("mul"), [x, y], {})
    assert out.shape == (2, 3) and gx.shape == x.shape and gy.shape == y.shape
    np.testing.assert_array_equal(gx, np.full(3, 2.75))
    np.testing.assert_array_equal(gy, np.full((2, 1), 1.0))


def test_bad_calls_name_the_op(framework):
    f = FRAMEWORKS[framework][0]("leaky_relu")
    with pytest.raises(TypeError, match=r"leaky_relu\(\) got an unexpected parameter 'slope'"):
        f(np.ones(2), slope=0.2)
    with pytest.raises(TypeError, match=r"leaky_relu\(\) takes 1 input\(s\) \(x\), got 2"):
        f(np.ones(2), np.ones(2))
    with pytest.raises(KeyError, match="no op named 'gleu'.*did you mean"):
        FRAMEWORKS[framework][0]("gleu")
    with pytest.raises(TypeError, match="export takes an op name or a microreg.Op"):
        FRAMEWORKS[framework][0](3)


@pytest.mark.parametrize("name", ["leaky_relu", "div"])
def test_the_printed_usage_runs_as_printed(framework, name):
    code = export.usage(name, framework)
    module = sys.modules[framework]
    array = module.tensor if framework == "torch" else module.numpy.asarray
    ns = {"x": array([-1.5, 0.5, 2.0]), "y": array([0.25, -3.0, 1.0])}
    exec(code, ns)
    want = FRAMEWORKS[framework][0](name)(*(ns[i] for i in registry.get(name).inputs))
    np.testing.assert_array_equal(np.asarray(ns["out"]), np.asarray(want))
    if "Layer" in ns:
        np.testing.assert_array_equal(np.asarray(ns["Layer"]()(ns["x"])), np.asarray(want))
    if "grad" in ns:
        assert np.asarray(ns["grad"](*(ns[i] for i in registry.get(name).inputs))).shape == (3,)


def test_usage_names_the_frameworks_it_knows():
    with pytest.raises(ValueError, match="export to one of \\['jax', 'torch'\\], not 'tf'"):
        export.usage("gelu", "tf")


@pytest.mark.parametrize("name", ["torch", "jax"])
def test_usage_says_how_to_install_a_framework_that_is_missing(monkeypatch, name):
    monkeypatch.setattr(export.importlib.util, "find_spec", lambda module: None)
    assert f"# {name} is not installed here: {install_hint(name)}" in export.usage("relu", name).splitlines()


# -- PyTorch only ----------------------------------------------------------------------------------


def test_torch_export_runs_on_cuda_and_agrees_with_cpu(op_case):
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device here")
    op, params = op_case
    xs = checked(op)
    ts = [torch.tensor(x, device="cuda", requires_grad=True) for x in xs]
    out = export.torch(op)(*ts, **params)
    grads = torch.autograd.grad(out, ts, torch.ones_like(out))
    assert out.device.type == "cuda" and all(g.device.type == "cuda" for g in grads)
    got = out.detach().cpu().numpy(), [g.cpu().numpy() for g in grads]
    assert_same(got, run_torch(export.torch(op), xs, params), op, xs)


def test_torch_export_in_a_module_under_torch_compile_fullgraph():
    torch = pytest.importorskip("torch")
    mish = export.torch("mish")  # calls relu and sigmoid by name: nested exports inside the traced graph
    torch.manual_seed(0)
    layer, x = torch.nn.Linear(3, 4).double(), torch.randn(5, 3, dtype=torch.float64)

    def loss(x: Any) -> Any:
        return mish(layer(x)).sum()

    compiled = torch.compile(loss, fullgraph=True, backend="eager")  # dynamo captures the graph; no C++ compiler
    got = torch.autograd.grad(compiled(x), layer.weight)[0]
    want = torch.autograd.grad(loss(x), layer.weight)[0]
    torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-14)


def test_torch_export_compiles_fullgraph_after_the_registry_changed():
    torch = pytest.importorskip("torch")
    mish = export.torch("mish")  # the namespace is built; the change below must leave every op resolved in it
    with registry.temporary(Op("cube", cube, cube_vjp)):
        pass
    x = torch.linspace(-2, 2, 5, dtype=torch.float64, requires_grad=True)
    got = torch.compile(lambda x: mish(x).sum(), fullgraph=True, backend="eager")(x)
    torch.testing.assert_close(got, mish(x).sum())


def twice_softplus(xp, x):
    """Calls an op with static parameters (softplus's beta and threshold, by default) inside its forward."""
    return xp.softplus(x) * 2


def test_torch_export_calling_an_op_with_static_parameters_compiles():
    torch = pytest.importorskip("torch")
    f = export.torch(Op("twice_softplus", twice_softplus, softplus_twice_vjp))
    x = torch.linspace(-2, 2, 5, dtype=torch.float64, requires_grad=True)
    compiled = torch.compile(lambda x: f(x).sum(), fullgraph=True, backend="eager")
    got = torch.autograd.grad(compiled(x), x)[0]
    torch.testing.assert_close(got, 2 * torch.sigmoid(x.detach()), rtol=1e-15, atol=0)


def test_exported_transpose_reverses_every_axis(framework):
    to, run, _ = FRAMEWORKS[framework]
    x = np.arange(24.0).reshape(2, 3, 4)
    out, (grad,) = run(to("transpose"), [x], {})
    np.testing.assert_array_equal(out, np.transpose(x))
    assert grad.shape == x.shape


def test_torch_export_names_its_backward_after_the_op():
    torch = pytest.importorskip("torch")
    y = export.torch("gelu")(torch.ones(2, requires_grad=True))
    assert type(y.grad_fn).__name__ == "geluBackward"


def test_torch_export_refuses_inputs_with_no_tensor():
    pytest.importorskip("torch")
    with pytest.raises(TypeError, match=r"add\(\) exported to torch takes tensors"):
        export.torch("add")(1.0, 2.0)


# -- JAX only --------------------------------------------------------------------------------------


def test_jax_export_keeps_float32_with_64_bit_enabled():
    jax = pytest.importorskip("jax")
    with jax.enable_x64(True):
        x = jax.numpy.asarray(SMOOTH, dtype=jax.numpy.float32)
        out, grad = jax.value_and_grad(lambda x: export.jax("mish")(x).sum())(x)
    assert out.dtype == grad.dtype == jax.numpy.float32


def test_jax_static_parameters_are_not_differentiated():
    jax = pytest.importorskip("jax")
    f = export.jax("leaky_relu")
    grad = jax.grad(lambda x, s: f(x, negative_slope=s))
    assert grad(-2.0, 0.2) == pytest.approx(0.2)
    with pytest.raises(TypeError, match=r"leaky_relu\(\): the static parameter\(s\) \['negative_slope'\] are traced"):
        jax.grad(lambda s: f(-2.0, negative_slope=s))(0.2)
    with pytest.raises(TypeError, match="static_argnames"):
        jax.jit(lambda x, s: f(x, negative_slope=s))(-2.0, 0.2)


# -- the examples ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("framework_name", "env"), [("torch", {}), ("jax", {"XLA_FLAGS": "--xla_force_host_platform_device_count=2"})])
def test_distributed_training_with_an_exported_activation_equals_one_process(framework_name, env):
    """examples/distributed_{torch,jax}.py: DDP over 2 gloo processes, jax.pmap over 2 host devices; the parameters
    after 5 SGD steps equal those of one process on the whole batch. Run as the docs say, in a fresh process."""
    framework = pytest.importorskip(framework_name)
    if framework_name == "torch" and not framework.distributed.is_available():
        pytest.skip("this torch build has no torch.distributed")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    environ = {**os.environ, **env, "PYTHONPATH": os.pathsep.join([root, os.environ.get("PYTHONPATH", "")])}
    run = subprocess.run([sys.executable, os.path.join(root, "examples", f"distributed_{framework_name}.py")],
                         capture_output=True, text=True, env=environ, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    difference = float(run.stdout.split(":")[-1])
    assert difference <= 1e-12, run.stdout


@pytest.mark.parametrize("framework_name", list(FRAMEWORKS))
def test_the_example_trains_a_model_with_an_exported_plugin_activation(framework_name):
    pytest.importorskip(framework_name)
    from fakes import load_example

    _, losses, accuracy = load_example(f"export_{framework_name}").train("mish", steps=100)
    assert losses[-1] < 0.1 * losses[0], losses[::10]
    assert accuracy > 0.95


def test_jax_reverse_mode_of_a_where_is_finite_where_the_branch_not_taken_overflows():
    """JAX's reverse mode transposes the export's jvp, so a branch of a where that is not taken still meets the cotangent:
    hardswish's middle branch, g * (2x + 3) / 6, on an unclamped x gave 0 * inf = NaN for |x| > 32752 in float16."""
    jax = pytest.importorskip("jax")
    jnp = jax.numpy
    hardswish = export.jax("hardswish")
    for dtype in (jnp.float16, jnp.bfloat16, jnp.float32):
        for x, want in ((40000.0, 1.0), (-40000.0, 0.0), (1.0, 5 / 6)):
            got = float(jax.grad(hardswish)(jnp.asarray(x, dtype=dtype)))
            assert got == pytest.approx(want, rel=1e-2), (dtype, x, got)


def test_jax_reverse_mode_of_div_keeps_a_cotangent_whose_intermediate_g_over_y_is_subnormal():
    """div's jvp transposed by JAX: ty * out / y became g / y * out, and at x = -3.4e38, y = 9.7e37 g / y is subnormal in
    float32, which XLA flushes to 0, where the cotangent -out / y = 3.6e-38 is a normal float32: 1.3e7 ulps."""
    pytest.importorskip("jax")
    pytest.importorskip("torch")  # the dtypes audit measures both exports
    from microreg.audit import dtypes

    (row,) = dtypes.audit([registry.get("div")], ["float32"])
    gradient = row.exports["jax"][1]
    assert gradient.ulps / max(1.0, gradient.condition) <= 16, gradient


def test_the_exports_second_derivatives_are_right_where_the_op_is_twice_differentiable(op_case):
    """Every unary op exported to PyTorch and JAX, differentiated twice in reverse mode in float64, against the exact
    second derivative where the op is twice differentiable (test_higher_order's points): mish's export gave 0 (JAX)
    and 0.32 (torch) at 0 for 0.64, its vjp's softplus written relu(z) + log1p(exp(-|z|))."""
    from test_higher_order import close_second, exact_second_derivatives

    torch, jax = pytest.importorskip("torch"), pytest.importorskip("jax")
    form, params = op_case
    if form.arity != 1 or form.variadic:
        pytest.skip("unary ops only")
    t_op, j_op = export.torch(form.name), export.jax(form.name)
    wrong = []
    with jax.enable_x64(True):
        for at, exact in exact_second_derivatives(form, params):
            x = torch.tensor(at, dtype=torch.float64, requires_grad=True)
            try:
                (first,) = torch.autograd.grad(t_op(x, **params), x, create_graph=True)
                (second,) = torch.autograd.grad(first, x)
            except RuntimeError:
                continue  # beyond float64 (cosh at 2**60)
            j_first = float(jax.grad(lambda v: j_op(v, **params))(jax.numpy.float64(at)))
            j_second = float(jax.grad(jax.grad(lambda v: j_op(v, **params)))(jax.numpy.float64(at)))
            for name, got, slope in (("torch", float(second), float(first)), ("jax", j_second, j_first)):
                if math.isfinite(slope) and not close_second(got, exact, slope, at):
                    wrong.append(f"{name} at x={at}: {got!r}, exact {exact!r}")
    assert not wrong, f"{form.name}{params or ''}: {'; '.join(wrong)}"
