"""Loss functions on Values: mean squared error, binary cross-entropy from logits, hinge.

Each takes predictions and targets in one of two forms and returns a scalar Value:

- a sequence of scalar Values (one graph per example) and a sequence of numbers, or
- one Value holding a NumPy array (a batch in one graph) and an array of targets of its shape.

``reduction`` is ``"mean"`` (the default) or ``"sum"`` over the examples. Every loss is a
composition of registered ops, so its gradient needs nothing beyond the ops' own vjps.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .value import Value

Pred = Value | Sequence[Value]
Target = float | np.ndarray | Sequence[float]


def mse_loss(pred: Pred, target: Target, reduction: str = "mean") -> Value:
    """The squared error ``(pred - target)**2``, averaged (or summed) over the examples."""

    def term(p: Value, t: Any) -> Value:
        d = p - t
        return d * d

    return _reduce("mse_loss", term, pred, target, reduction)


def binary_cross_entropy(logits: Pred, target: Target, reduction: str = "mean") -> Value:
    """Binary cross-entropy of ``sigmoid(logits)`` against targets in [0, 1], computed from the logits.

    ``-t log sigmoid(z) - (1 - t) log(1 - sigmoid(z))`` equals ``softplus(z) - t z``. Written naively,
    ``log(sigmoid(z))`` is ``log(0)`` once ``sigmoid`` underflows (z below about -745) and
    ``log(1 + exp(z))`` overflows for z above about 709. Here ``softplus(z) = relu(z) + log(1 + exp(z - 2 relu(z)))``:
    the exponent is ``-|z|`` (never positive), so the log's argument stays in (1, 2] and the loss is
    finite for every finite logit, and correct to about 1e-16 absolute (``log(1 + tiny)`` rounds to 0:
    there is no log1p op). Its gradient is ``sigmoid(z) - t`` to full relative precision everywhere,
    z = 0 included, whichever value relu's derivative takes at its kink.
    """

    def check(t: np.ndarray) -> None:
        if np.any((t < 0) | (t > 1)):
            raise ValueError(f"binary_cross_entropy takes targets in [0, 1] (class labels 0 and 1), got {_values(t)}")

    def term(z: Value, t: Any) -> Value:
        r = z.relu()
        softplus = r + ((z - 2.0 * r).exp() + 1.0).log()
        return softplus - z * t

    return _reduce("binary_cross_entropy", term, logits, target, reduction, check)


def hinge_loss(scores: Pred, target: Target, reduction: str = "mean") -> Value:
    """The hinge loss ``relu(1 - t * score)`` for targets -1 and +1 (an SVM's margin loss)."""

    def check(t: np.ndarray) -> None:
        if not np.all((t == 1) | (t == -1)):
            raise ValueError(f"hinge_loss takes targets -1 and +1, got {_values(t)}")

    def term(s: Value, t: Any) -> Value:
        return (1.0 - s * t).relu()

    return _reduce("hinge_loss", term, scores, target, reduction, check)


def _reduce(name: str, term: Callable[[Value, Any], Value], pred: Pred, target: Target, reduction: str,
            check: Callable[[np.ndarray], None] | None = None) -> Value:
    """term(pred, target) per example, reduced to one scalar Value."""
    if reduction not in ("mean", "sum"):
        raise ValueError(f"{name}: reduction must be 'mean' or 'sum', got {reduction!r}")
    try:
        t = np.asarray(target, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"{name} takes targets as numbers or an array of them, got {target!r}") from None
    if check is not None:
        check(t)
    if isinstance(pred, Value):
        if np.shape(pred.data) != t.shape and t.ndim > 0:
            raise ValueError(f"{name}: predictions of shape {np.shape(pred.data)} and targets of shape {t.shape} differ")
        out = term(pred, float(t) if t.ndim == 0 else t)
        return out.sum() if reduction == "sum" else out.mean()
    preds = [p if isinstance(p, Value) else Value(p) for p in pred]
    if t.ndim != 1 or len(t) != len(preds):
        raise ValueError(f"{name}: {len(preds)} predictions but targets of shape {t.shape}; give one target per prediction")
    if not preds:
        raise ValueError(f"{name}: no predictions to compute a loss over")
    total = functools.reduce(operator.add, (term(p, ti) for p, ti in zip(preds, t.tolist())))
    return total if reduction == "sum" else total * (1.0 / len(preds))


def _values(t: np.ndarray) -> str:
    bad = np.unique(t)
    return f"{bad[:8].tolist()}{' ...' if bad.size > 8 else ''}"
