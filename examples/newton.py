"""Newton's method on a one-dimensional function, with both derivatives from microreg.grad.

    python examples/newton.py

Minimises f(x) = x**4 - 3 * x**2 + x + exp(-x): f' and f'' come from differentiating twice
(``create_graph=True`` makes the first derivative a Value with a graph of its own).
"""

from __future__ import annotations

from microreg import Value, grad


def f(x: Value) -> Value:
    return x**4 - 3 * x**2 + x + (-x).exp()


def newton(x0: float, steps: int = 20, tol: float = 1e-12) -> tuple[float, list[float]]:
    """Iterate x <- x - f'(x) / f''(x) from x0; returns the last x and the path."""
    x, path = x0, [x0]
    for _ in range(steps):
        v = Value(x)
        (d1,) = grad(f(v), v, create_graph=True)
        (d2,) = grad(d1, v)
        x = x - d1.data / d2
        path.append(x)
        if abs(path[-1] - path[-2]) < tol:
            break
    return x, path


if __name__ == "__main__":
    x, path = newton(2.0)
    v = Value(x)
    (slope,) = grad(f(v), v)
    print(f"Newton from 2.0: {len(path) - 1} steps to x = {x:.12f}, f(x) = {f(Value(x)).data:.12f}, f'(x) = {slope:.1e}")
