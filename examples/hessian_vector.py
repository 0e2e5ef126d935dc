"""A Hessian-vector product by differentiating a gradient again, without forming the Hessian.

    python examples/hessian_vector.py

For f(x, y) = x**2 * y + tanh(x * y), H @ v = d/d(x, y) of (grad f . v): one reverse sweep with
``create_graph=True`` gives grad f as Values, a second sweep through their dot product with v gives
H @ v. Compared here with the Hessian written out by hand.
"""

from __future__ import annotations

import math

from microreg import Value, grad


def f(x: Value, y: Value) -> Value:
    return x**2 * y + (x * y).tanh()


def hvp(x0: float, y0: float, v: tuple[float, float]) -> list[float]:
    x, y = Value(x0, "x"), Value(y0, "y")
    gx, gy = grad(f(x, y), [x, y], create_graph=True)
    return grad(gx * v[0] + gy * v[1], [x, y])


def hessian_by_hand(x: float, y: float) -> list[list[float]]:
    t = math.tanh(x * y)
    s = 1 - t * t  # sech^2
    return [[2 * y - 2 * y * y * t * s, 2 * x + s - 2 * x * y * t * s],
            [2 * x + s - 2 * x * y * t * s, -2 * x * x * t * s]]


if __name__ == "__main__":
    x0, y0, v = 0.7, -1.3, (1.0, 2.0)
    H = hessian_by_hand(x0, y0)
    print("microreg H @ v:", hvp(x0, y0, v))
    print("by hand   H @ v:", [H[0][0] * v[0] + H[0][1] * v[1], H[1][0] * v[0] + H[1][1] * v[1]])
