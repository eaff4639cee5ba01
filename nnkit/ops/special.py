"""Special functions: the log-gamma family (lgamma, digamma, polygamma, mvlgamma), the
Hurwitz zeta function, and the modified Bessel functions i0, i1 and their scaled forms.

NumPy has none of these but ``i0``, and SciPy is not a dependency, so the values are
computed here on arrays, in float64 whatever the input dtype (the result is cast back):

* lgamma: the Lanczos approximation (g = 7, 9 terms) for x >= 1/2, the reflection
  formula below; within a few units of float64's rounding, absolutely (so relatively
  too, except right next to the zeros of lgamma at 1 and 2).
* digamma: shifted up to x >= 10 by ψ(x) = ψ(x + 1) - 1/x, then the asymptotic series
  (7 terms); the reflection formula for x < 0. Within about 1e-15, relatively.
* zeta(s, q) (and so polygamma, ψ⁽ⁿ⁾(x) = (-1)ⁿ⁺¹ n! ζ(n + 1, x)): the terms summed up to
  q + N >= 12 + s, then the Euler-Maclaurin tail (8 Bernoulli terms); about 1e-14,
  relatively, for s up to 30.
* i0, i1 (and i0e, i1e = e^-|x| i0, i1): the power series (all terms positive, so
  no cancellation) for |x| <= 30, the asymptotic expansion in 1/x beyond; about 1e-15.

Each derivative is again a function of the family (lgamma' = digamma, digamma' =
polygamma(1), i0' = i1...), so gradients of any order work.
"""

from __future__ import annotations

import math

import numpy

from .. import backend
from ..tensor import Tensor
from .base import _float, _make, _operands, _sum_to
from .elementwise import clamp, erfc, erfinv, isnan, log, log1p, sign, where
from .reduction import sum

# --- the arithmetic on arrays (float64) ---------------------------------------------------------

_LANCZOS_G = 7.0
_LANCZOS = (0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313,
            -176.61502916214059, 12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6,
            1.5056327351493116e-7)
_HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)
# B_2k for k = 1..8: the Bernoulli numbers of the asymptotic and Euler-Maclaurin series.
_BERNOULLI = (1 / 6, -1 / 30, 1 / 42, -1 / 30, 5 / 66, -691 / 2730, 7 / 6, -3617 / 510)


def _abs_sin_pi(xp, x):
    """|sin(πx)|, with x first reduced to [-1/2, 1/2] (exact in floating point), so that large
    x keep their accuracy and integers give exactly 0."""
    return xp.abs(xp.sin(math.pi * (x - xp.round(x))))


def _lgamma(xp, x):
    small = x < 0.5
    y = xp.where(small, 1 - x, x) - 1  # Lanczos is written for Γ(y + 1)
    series = _LANCZOS[0] + _lanczos_sum(xp, y)
    t = y + _LANCZOS_G + 0.5
    big = _HALF_LOG_2PI + (y + 0.5) * xp.log(t) - t + xp.log(series)
    reflected = math.log(math.pi) - xp.log(_abs_sin_pi(xp, x)) - big
    out = xp.where(small, reflected, big)
    return xp.where(xp.isinf(x), xp.inf, out)  # lgamma(-inf) is inf, as in PyTorch


def _lanczos_sum(xp, y):
    total = xp.zeros_like(y)
    for k, c in enumerate(_LANCZOS[1:], 1):
        total = total + c / (y + k)
    return total


def _digamma(xp, x):
    negative = x < 0
    y = xp.where(negative, 1 - x, x)
    shift = xp.zeros_like(y)
    for _ in range(10):  # ψ(y) = ψ(y + 1) - 1/y, until y >= 10
        low = y < 10
        shift = shift - xp.where(low, 1 / xp.where(low, y, 1), 0)
        y = xp.where(low, y + 1, y)
    inv2 = 1 / (y * y)
    tail = xp.zeros_like(y)
    for k in range(7, 0, -1):  # Σ B_2k / (2k y^2k), by Horner's rule in 1/y²
        tail = (tail + _BERNOULLI[k - 1] / (2 * k)) * inv2
    out = xp.log(y) - 0.5 / y - tail + shift
    r = x - xp.round(x)  # tan(πx) = tan(πr): exact reduction
    out = xp.where(negative, out - math.pi / xp.tan(math.pi * r), out)
    out = xp.where(negative & (r == 0), xp.nan, out)  # the poles at negative integers
    return xp.where(x == 0, xp.copysign(xp.inf, -x), out)  # ψ(±0) = ∓inf, as in PyTorch


def _zeta(xp, s, q):
    """The Hurwitz zeta function Σ_k (q + k)^-s, for s > 1 (inf at 1, NaN below)."""
    s, q = xp.broadcast_arrays(s, q)
    target = 12 + xp.clip(s, 0, 40)
    count = xp.ceil(xp.clip(target - q, 0, None))
    count = xp.where(xp.isfinite(count), count, 0)
    total = xp.zeros(s.shape)
    steps = int(count.max()) if count.size else 0
    for k in range(steps):  # the first terms, one by one, until q + k reaches the target
        total = total + xp.where(k < count, (q + k) ** -s, 0)
    w = q + count
    term = w ** -s
    total = total + w * term / (s - 1) + term / 2
    rising, factorial, power = s, 2.0, term / w  # s(s+1)...(s+2j-2), (2j)!, w^(-s-2j+1)
    for j, b in enumerate(_BERNOULLI, 1):
        total = total + b / factorial * rising * power
        rising = rising * (s + 2 * j - 1) * (s + 2 * j)
        factorial *= (2 * j + 1) * (2 * j + 2)
        power = power / (w * w)
    total = xp.where((q <= 0) & (q == xp.floor(q)), xp.inf, total)  # the poles
    return xp.where(s == 1, xp.inf, xp.where(s < 1, xp.nan, total))


def _polygamma(xp, n: int, x):
    if n == 0:
        return _digamma(xp, x)
    factorial = float(math.factorial(n)) if n <= 170 else math.inf
    return (-1) ** (n + 1) * factorial * _zeta(xp, float(n + 1), x)


def _bessel(xp, x, order: int, scaled: bool):
    """I_order(x) for order 0 or 1 (times e^-|x| when ``scaled``)."""
    a = xp.abs(x)
    small = a <= 30
    # The power series Σ (x/2)^(2k+order) / (k! (k+order)!), for |x| <= 30.
    h = xp.where(small, a, 0) / 2
    term = h if order else xp.ones_like(h)
    total = term
    for k in range(1, 80):
        term = term * h * h / (k * (k + order))
        total = total + term
    if scaled:
        total = total * xp.exp(-xp.where(small, a, 0))
    # The asymptotic series e^x / √(2πx) Σ (-1)^k Π_j (4 order² - (2j-1)²) / (k! (8x)^k), beyond.
    z = xp.where(small, 30.0, a)
    term = xp.ones_like(z)
    series = term
    for k in range(1, 31):
        term = -term * (4 * order * order - (2 * k - 1) ** 2) / (k * 8 * z)
        series = series + term
    large = series / xp.sqrt(2 * math.pi * z)
    if not scaled:
        with numpy.errstate(over="ignore"):
            large = large * xp.exp(z)
    out = xp.where(small, total, large)
    return xp.copysign(out, x) if order else out


# --- the ops ------------------------------------------------------------------------------------------

def _tensor(input, op: str) -> Tensor:
    if not isinstance(input, Tensor):
        raise TypeError(f"{op}(): argument 'input' must be a Tensor, not {type(input).__name__}")
    return _float(input)


def _apply(op: str, input: Tensor, compute, backward) -> Tensor:
    """``compute(xp, x)`` on float64 values of ``input`` (integers give the default float
    dtype, as in PyTorch), cast back; ``backward(g, x)`` gives the gradient with tensor ops."""
    a = _tensor(input, op)
    xp = a._xp
    with numpy.errstate(all="ignore"):  # the poles give inf and NaN, quietly, as in PyTorch
        out = compute(xp, a.array.astype(backend.float64)).astype(a.dtype, copy=False)
    name = op.rpartition(".")[2]
    return _make(out, (a,), lambda g: (backward(g, a),), name[0].upper() + name[1:])


def lgamma(input: Tensor) -> Tensor:
    """log |Γ(x)| (inf at the poles 0, -1, -2...); d/dx = digamma(x)."""
    return _apply("lgamma", input, _lgamma, lambda g, x: g * digamma(x))


def digamma(input: Tensor) -> Tensor:
    """ψ(x) = Γ'(x) / Γ(x) (∓inf at ±0, NaN at the negative integers); d/dx = polygamma(1, x)."""
    return _apply("digamma", input, _digamma, lambda g, x: g * polygamma(1, x))


def polygamma(n: int, input: Tensor) -> Tensor:
    """The n-th derivative of digamma, ψ⁽ⁿ⁾(x); d/dx = polygamma(n + 1, x)."""
    if isinstance(n, bool) or not isinstance(n, (int, numpy.integer)):
        raise TypeError(f"polygamma(): argument 'n' must be an int, not {type(n).__name__}")
    if n < 0:
        raise RuntimeError(f"polygamma(n, x) does not support negative n, got n={n}")
    n = int(n)
    return _apply("polygamma", input, lambda xp, x: _polygamma(xp, n, x), lambda g, x: g * polygamma(n + 1, x))


def mvlgamma(input: Tensor, p: int) -> Tensor:
    """The multivariate log-gamma function of dimension ``p``:
    Σ_{i<p} lgamma(x - i/2) + p (p - 1) / 4 · log π."""
    if isinstance(p, bool) or not isinstance(p, (int, numpy.integer)):
        raise TypeError(f"mvlgamma(): argument 'p' must be an int, not {type(p).__name__}")
    if p < 1:
        raise RuntimeError(f"mvlgamma: p has to be greater than or equal to 1, got {p}")
    x = _tensor(input, "mvlgamma")
    halves = Tensor._wrap(x._xp.arange(p, dtype=x.dtype) / 2)
    return sum(lgamma(x.unsqueeze(-1) - halves), -1) + p * (p - 1) / 4 * math.log(math.pi)


def zeta(input, other) -> Tensor:
    """The Hurwitz zeta function ζ(x, q) = Σ_k (q + k)^-x (x = ``input``, q = ``other``,
    broadcast; either may be a number). Differentiable in q only, d/dq = -x ζ(x + 1, q),
    as in PyTorch."""
    x, q = _operands(input, other, "special.zeta")
    x, q = _float(x), _float(q)
    with numpy.errstate(all="ignore"):
        out = _zeta(x._xp, x.array.astype(backend.float64), q.array.astype(backend.float64)).astype(x.dtype)

    def backward(g):
        if x.requires_grad:
            raise RuntimeError("special.zeta: the derivative with respect to input (x) is not implemented "
                               "(PyTorch has none either)")
        return None, _sum_to(g * -x * zeta(x + 1, q), q.shape)
    return _make(out, (x, q), backward, "Zeta")


def _i1_over_x(x: Tensor, scaled: bool) -> Tensor:
    """I1(x) / x (or the scaled one's), which is 1/2 at x = 0."""
    zero = x == 0
    safe = where(zero, 1.0, x)
    return where(zero, 0.5, (i1e(safe) if scaled else i1(safe)) / safe)


def i0(input: Tensor) -> Tensor:
    """The modified Bessel function of the first kind of order 0; d/dx = i1(x)."""
    return _apply("i0", input, lambda xp, x: _bessel(xp, x, 0, False), lambda g, x: g * i1(x))


def i1(input: Tensor) -> Tensor:
    """The modified Bessel function of the first kind of order 1; d/dx = i0(x) - i1(x) / x."""
    return _apply("i1", input, lambda xp, x: _bessel(xp, x, 1, False),
                  lambda g, x: g * (i0(x) - _i1_over_x(x, False)))


def i0e(input: Tensor) -> Tensor:
    """e^-|x| i0(x), which does not overflow; d/dx = i1e(x) - sign(x) i0e(x)."""
    return _apply("i0e", input, lambda xp, x: _bessel(xp, x, 0, True), lambda g, x: g * (i1e(x) - sign(x) * i0e(x)))


def i1e(input: Tensor) -> Tensor:
    """e^-|x| i1(x); d/dx = i0e(x) - i1e(x) (sign(x) + 1/x)."""
    return _apply("i1e", input, lambda xp, x: _bessel(xp, x, 1, True),
                  lambda g, x: g * (i0e(x) - sign(x) * i1e(x) - _i1_over_x(x, True)))


# --- the normal distribution and entropy (nnkit.special) ------------------------------------------

_SQRT_HALF = math.sqrt(0.5)


def ndtr(input: Tensor) -> Tensor:
    """The standard normal CDF, Φ(x) = erfc(-x / √2) / 2."""
    return erfc(_tensor(input, "special.ndtr") * -_SQRT_HALF) * 0.5


def ndtri(input: Tensor) -> Tensor:
    """The inverse of ndtr on (0, 1): √2 erfinv(2p - 1) (±inf at 1 and 0)."""
    return erfinv(_tensor(input, "special.ndtri") * 2 - 1) * math.sqrt(2)


def log_ndtr(input: Tensor) -> Tensor:
    """log Φ(x), accurate in both tails: log1p(-ndtr(-x)) for x > 0, log(ndtr(x)) down to -10,
    and below, the asymptotic series -x²/2 - log(-x) - log √(2π) + log(1 - 1/x² + 3/x⁴ ...)
    (12 terms)."""
    x = _tensor(input, "special.log_ndtr")
    tail, right = x < -10, x > 0
    # Each branch gets inputs where it is finite, and so are its gradients.
    far, middle, near = where(tail, x, -10.0), clamp(x, -10.0, 0.0), where(right, x, 0.0)
    inv2 = 1 / (far * far)
    series, term = 0.0, 1.0
    for k in range(1, 12):
        term = term * -(2 * k - 1) * inv2
        series = series + term
    asymptotic = far * far * -0.5 - log(-far) - _HALF_LOG_2PI + log1p(series)
    return where(tail, asymptotic, where(right, log1p(-ndtr(-near)), log(ndtr(middle))))


def entr(input: Tensor) -> Tensor:
    """-x log x for x > 0, 0 at 0, -inf for x < 0; d/dx = -(1 + log x), as PyTorch (so inf at 0)."""
    def compute(xp, x):
        safe = xp.where(x > 0, x, 1)
        return xp.where(x > 0, -x * xp.log(safe), xp.where(x == 0, 0.0, xp.where(xp.isnan(x), x, -xp.inf)))
    return _apply("special.entr", input, compute, lambda g, x: g * -(log(x) + 1))


def xlog1py(input, other) -> Tensor:
    """input · log1p(other), and 0 where input is 0 (unless other is NaN); either may be a number."""
    x, y = _operands(input, other, "special.xlog1py")
    x, y = _float(x), _float(y)
    zero = (x == 0) & ~isnan(y)
    return where(zero, 0.0, x * log1p(where(zero, 0.0, y)))  # no 0 · log(0) (NaN) on the way


def _in_place(name: str, fn):
    """The method ``name`` (``lgamma_``...): the result written into the float tensor."""
    def method(self, *args):
        if not backend.is_floating(self.dtype):
            raise RuntimeError(f"{name}: result type Float can't be cast to the desired output type {self.dtype}")
        return self._inplace(name, lambda t: fn(t, *args))
    method.__name__ = name
    return method


def _polygamma_method(self, n: int) -> Tensor:
    return polygamma(n, self)


__all__ = ["lgamma", "digamma", "polygamma", "mvlgamma", "i0"]

METHODS = {"lgamma": lgamma, "digamma": digamma, "polygamma": _polygamma_method, "mvlgamma": mvlgamma, "i0": i0,
           **{name + "_": _in_place(name + "_", fn) for name, fn in
              (("lgamma", lgamma), ("digamma", digamma), ("polygamma", _polygamma_method), ("mvlgamma", mvlgamma),
               ("i0", i0))}}
