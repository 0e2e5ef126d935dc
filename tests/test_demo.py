"""Tests for `microreg demo` and the two-minute tour in docs/tour.md."""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
from pathlib import Path

import pytest
from fakes import SWISH

from microreg import Op, registry
from microreg.cli import main
from microreg.demo import parse_activation
from microreg.plugins import install_hint

ROOT = Path(__file__).resolve().parent.parent
PNG = b"\x89PNG\r\n\x1a\n"


def test_short_run_writes_plots_and_metrics(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    assert main(["demo", "--out", str(tmp_path), "--epochs", "3", "--seed", "1"]) == 0
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert 0.0 <= metrics["accuracy"] <= 1.0
    assert len(metrics["loss"]) == 3 and all(math.isfinite(x) and x > 0 for x in metrics["loss"])
    assert metrics["epochs"] == 3 and metrics["seed"] == 1 and metrics["activation"] == "relu"
    for name in ("loss.png", "decision_boundary.png"):
        assert (tmp_path / name).read_bytes().startswith(PNG)
    out = capsys.readouterr().out
    assert "epoch    1  loss" in out and "accuracy" in out and "epoch    3  loss" in out


def test_defaults_reach_the_readmes_figures_without_matplotlib(tmp_path, capsys, no_matplotlib):
    assert main(["demo", "--out", str(tmp_path / "new" / "dir")]) == 0
    metrics = json.loads((tmp_path / "new" / "dir" / "metrics.json").read_text())
    readme = (ROOT / "README.md").read_text()
    stated = re.search(r"\(relu, (\d+) parameters\).*?\(final training accuracy ([\d.]+) with the defaults\)", readme, flags=re.S)
    assert (metrics["parameters"], metrics["accuracy"]) == (int(stated.group(1)), float(stated.group(2)))
    restated = re.findall(r"MLP 2-16-16-1 \(relu, (\d+) parameters\)", readme + (ROOT / "docs" / "tour.md").read_text())
    assert len(restated) == 2 and set(restated) == {str(metrics["parameters"])}
    assert len(metrics["loss"]) == 100 and metrics["loss"][-1] < metrics["loss"][0]
    assert not (tmp_path / "new" / "dir" / "loss.png").exists()
    assert f"no plots written: the plots need matplotlib: {install_hint('plot')}" in capsys.readouterr().out


def test_the_last_epoch_line_and_the_final_accuracy_agree(tmp_path, capsys, no_matplotlib):
    assert main(["demo", "--out", str(tmp_path), "--epochs", "7"]) == 0
    out = capsys.readouterr().out
    last = re.findall(r"^epoch +7  loss [\d.]+  accuracy +([\d.]+%)$", out, flags=re.M)
    final = re.findall(r"^final training accuracy ([\d.]+%)", out, flags=re.M)
    assert last and last == final, out
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["accuracy"] == metrics["accuracy_per_epoch"][-1] and len(metrics["loss"]) == 7


def test_a_closed_pipe_stops_the_printing_not_the_training(tmp_path):
    """`microreg demo | head -2`: the reader leaves; the demo still trains, writes its files and exits 0."""
    proc = subprocess.Popen([sys.executable, "-m", "microreg", "demo", "--out", str(tmp_path), "--epochs", "3"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()  # before the demo prints its first line, so that every line meets a closed pipe
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 0, err
    assert "Error" not in err, err
    assert len(json.loads((tmp_path / "metrics.json").read_text())["loss"]) == 3


def squash(xp, x):
    return x / (1 + xp.abs(x))


def squash_vjp(xp, g, out, x):
    return (g * (1 - xp.abs(out)) ** 2,)


def test_an_op_registered_at_run_time_is_an_activation(tmp_path, no_matplotlib, register_op, capsys):
    register_op(Op("squash", squash, squash_vjp))
    assert main(["demo", "--out", str(tmp_path), "--epochs", "2", "--activation", "squash"]) == 0
    assert json.loads((tmp_path / "metrics.json").read_text())["activation"] == "squash"
    assert "(squash, 337 parameters)" in capsys.readouterr().out


def test_an_activation_takes_its_static_parameters_by_name(tmp_path, no_matplotlib, register_op, capsys):
    register_op(SWISH)
    assert main(["demo", "--out", str(tmp_path), "--epochs", "2", "--activation", "swish(beta=1.5)"]) == 0
    assert json.loads((tmp_path / "metrics.json").read_text())["activation"] == "swish(beta=1.5)"
    assert "(swish(beta=1.5), 337 parameters)" in capsys.readouterr().out


@pytest.mark.parametrize("spec, parsed", [("relu", ("relu", {})), (" swish( beta = 1.5 ) ", ("swish", {"beta": 1.5})),
                                          ("hardtanh(min_val=-2, max_val=1e-1)", ("hardtanh", {"min_val": -2, "max_val": 0.1}))])
def test_an_activation_spec_is_a_name_and_literal_parameters(spec, parsed):
    assert parse_activation(spec) == parsed


@pytest.mark.parametrize("spec", ["leaky_relu(0.2)", "hardtanh(-2, max_val=0.5)"])
def test_an_activation_spec_takes_parameters_by_position_as_the_method_does(spec):
    name, params = parse_activation(spec)
    assert params == registry.get(name).bind(*ast_call(spec))


def ast_call(spec: str) -> tuple[tuple, dict]:
    """The positional and keyword arguments of a call written as text, as Python reads them."""
    import ast

    call = ast.parse(spec, mode="eval").body
    return tuple(ast.literal_eval(a) for a in call.args), {k.arg: ast.literal_eval(k.value) for k in call.keywords}


def test_an_activation_given_a_parameter_by_position_trains(tmp_path, no_matplotlib, capsys):
    assert main(["demo", "--out", str(tmp_path), "--epochs", "2", "--activation", "leaky_relu(0.2)"]) == 0
    assert json.loads((tmp_path / "metrics.json").read_text())["activation"] == "leaky_relu(0.2)"


@pytest.mark.parametrize("spec, error", [
    ("swish(*b)", "activation 'swish(*b)' is not NAME or NAME(value, ..., parameter=value, ...)"),
    ("swish(beta=1.5", "activation 'swish(beta=1.5' is not NAME or NAME(value, ..., parameter=value, ...)"),
    ("swish(1.5, 2)", "activation 'swish': swish() takes 1 static parameter(s) ['beta'], got 2"),
    ("swish(1.5, beta=2)", "activation 'swish': swish() got parameter 'beta' twice"),
    ("swish(b)", "activation 'swish(b)': parameter 1 must be a number, got b"),
    ("swish(beta=b)", "activation 'swish(beta=b)': parameter beta must be a number, got b"),
    ("swish(slope=2)", "activation 'swish': swish() got an unexpected parameter 'slope'; it takes ['beta']"),
    ("swish(beta='x')", "activation swish(beta='x') fails at x = 0: swish(x=0.0, beta='x') failed"),
])
def test_a_bad_activation_spec_exits_2_naming_the_op_and_the_parameter(tmp_path, register_op, capsys, spec, error):
    register_op(SWISH)
    assert main(["demo", "--out", str(tmp_path), "--activation", spec]) == 2
    assert capsys.readouterr().err.startswith(f"microreg demo: {error}")
    assert not (tmp_path / "metrics.json").exists()


def test_unknown_activation_exits_2_naming_the_choices(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path), "--activation", "nope"]) == 2
    out = capsys.readouterr().err
    assert "activation 'nope' is not a registered unary op" in out and "relu" in out
    assert not (tmp_path / "metrics.json").exists()


def test_activation_with_a_restricted_domain_exits_2(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path), "--activation", "log"]) == 2
    assert "activation 'log' is not a registered unary op defined on all reals" in capsys.readouterr().err


def explode(xp, x):
    return xp.exp(x * 1000.0)


def explode_vjp(xp, g, out, x):
    return (g * out * 1000.0,)


def test_an_op_failing_during_training_exits_1_naming_it(tmp_path, capsys, register_op):
    register_op(Op("explode", explode, explode_vjp))
    assert main(["demo", "--out", str(tmp_path), "--activation", "explode"]) == 1
    out = capsys.readouterr().err
    assert "training stopped at epoch 1: explode(" in out


def test_an_out_that_is_a_file_exits_2_in_one_line(tmp_path, capsys):
    taken = tmp_path / "taken.txt"
    taken.write_text("mine")
    assert main(["demo", "--out", str(taken), "--epochs", "1"]) == 2
    err = capsys.readouterr().err
    assert err == f"microreg demo: --out {taken}: File exists; it must name a directory to write the plots and metrics.json in\n"
    assert taken.read_text() == "mine"


def test_an_activation_written_with_math_exits_2_in_one_line_naming_it(tmp_path, no_matplotlib, register_op, capsys):
    from wrong_vjps import MATH_TANH

    register_op(MATH_TANH)  # math.tanh runs at the float check, then meets the demo's arrays
    assert main(["demo", "--out", str(tmp_path), "--epochs", "2", "--activation", "math_tanh"]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("microreg demo: activation math_tanh cannot train on arrays") and "math_tanh(x=array(" in line
    assert "not math's" in line


def test_nonpositive_epochs_are_refused(capsys):
    with pytest.raises(SystemExit):
        main(["demo", "--epochs", "0"])
    assert "must be a positive number of epochs" in capsys.readouterr().err
