"""The derivative audit: every op's vjp proved equal to SymPy's derivative of its forward, checked numerically, and measured in float64.

For each op, each example of its static parameters and each input ``x_i``:

- **symbolic**: forward and vjp run on SymPy symbols (the input's domain as assumptions, the
  cotangent a symbol ``g``, float parameters and constants read as the exact decimals they print
  as); the vjp must equal ``g * d forward / d x_i``. A rule built with ``xp.where``, ``xp.abs``,
  ``xp.sign``, ``xp.maximum`` or ``xp.minimum`` is proved region by region: the audit solves where
  each condition changes sign and proves the branch that holds in each region. ``proved`` when
  SymPy reduces the difference to 0, ``refuted`` when it is nonzero at a point inside the domain (the
  counterexample is reported; an exactly nonzero difference, however small, is found at the sampled
  point where it is largest), ``inconclusive`` otherwise (never a pass), ``error`` when the op
  cannot run on symbols.
- **parameters**: the same proof with the static parameters moved away from each example (a vjp
  that hard-codes the default slope is refuted).
- **scalar**, **array**: both float backends agree with the exact forward and vjp at the sampled
  points; **central-difference**: the scalar vjp agrees with float64 central differences away from kinks.
- **kink**, **branch**: at each declared ``Kink`` the vjp gives the declared value; every point
  where a branch switches is found (for conditions on one input), and one where the op is not
  differentiable must be declared, a declared one must be where a branch switches, and at the
  others the vjp must give the derivative.
- **accuracy** (``microreg.accuracy``): forward and vjps in float64 on both backends over a grid
  spanning the domain, against exact values at high precision: ``accurate`` within the op's bound
  in ulps, ``inaccurate`` (the worst point is reported) or ``unchecked``.
- **order 2** (``order=2``): the vjp differentiated again matches SymPy's second derivative, both
  symbolically and through ``microreg.grad(..., create_graph=True)`` twice.

An elementwise op is the shape-``()`` case of an op on arrays (matmul, proved on NumPy arrays of symbols at
the example ``shapes`` it declares), so each check exists once, over the elements of the inputs.

The symbolic work runs in worker processes, one per core by default (``workers``,
``MICROREG_AUDIT_WORKERS``), forked when an audit starts, each auditing op after op with a time budget per op
(``budget`` seconds, ``MICROREG_AUDIT_BUDGET``, default ``DEFAULT_BUDGET``): a worker still running when it is
spent is killed (and replaced), and what it did not finish is ``inconclusive`` ("timed out after N s"); the
float-only checks then run in the calling process. Nothing is raised into the caller's threads, and no global of SymPy is changed in the
caller's process.

The package, in the order the audit runs: ``symbols`` (an op at one example of its shapes and parameters,
a ``Case``, run on symbols), ``regions`` (where its branches hold), ``proofs``, ``numeric``, ``kinks``,
``measure`` (the checks), ``pipeline`` (the table of checks: add a check there), ``workers`` (the processes),
``run`` (``audit`` and ``audit_op``), ``model`` (the results: ``Check``, ``OpAudit``).

Results are data: ``audit()`` returns one ``OpAudit`` per op. SymPy is imported only when an audit
runs. Strict loading (``MICROREG_STRICT=1``) runs it through ``microreg.strict``, cached on disk; the
``microreg audit`` command (``microreg.cli``) prints it.
"""

from __future__ import annotations

from .model import ACCURACY_VERDICTS, DEFAULT_BUDGET, ENV_BUDGET, VERDICTS, Check, OpAudit, budget_seconds, load_failures
from .run import audit, audit_jax, audit_op, audit_torch
from .workers import ENV_WORKERS, worker_count

__all__ = ["ACCURACY_VERDICTS", "DEFAULT_BUDGET", "ENV_BUDGET", "ENV_WORKERS", "VERDICTS", "Check", "OpAudit", "audit", "audit_jax",
           "audit_op", "audit_torch", "budget_seconds", "load_failures", "worker_count"]
