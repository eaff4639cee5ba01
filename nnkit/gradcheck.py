"""Finite-difference checks of gradients, for nnkit's tests and for learners.

:func:`gradcheck` compares the gradients that autograd computes for a function
with central differences, in float64, contracting the output with a *random*
upstream gradient. (Checking ``f(x).sum()`` instead would let wrong gradients
pass: any error that sums to zero over the output is invisible to it.)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy

from . import autograd, backend
from .tensor import Tensor

__all__ = ["gradcheck", "numerical_grad", "GradcheckResult", "GradcheckError"]


class GradcheckError(AssertionError):
    """Autograd and finite differences disagree."""


@dataclass
class GradcheckResult:
    """The outcome of a check: the worst element over all inputs."""
    ok: bool
    input_index: int       # which input holds the worst element
    element: tuple         # its position in that input
    analytical: float      # autograd's value there
    numerical: float       # the finite-difference value there
    abs_error: float
    rel_error: float

    def __str__(self) -> str:
        verdict = "passed" if self.ok else "FAILED"
        return (f"gradcheck {verdict}: worst element {self.element} of input {self.input_index}: "
                f"autograd {self.analytical:.6g}, finite differences {self.numerical:.6g} "
                f"(abs error {self.abs_error:.3g}, rel error {self.rel_error:.3g})")


def _outputs(fn: Callable, inputs: Sequence[Tensor]) -> list:
    out = fn(*inputs)
    return list(out) if isinstance(out, (tuple, list)) else [out]


def _contract(fn: Callable, inputs: Sequence[Tensor], upstream: Sequence) -> float:
    return sum(float((backend.to_module(o.array, numpy).astype(numpy.float64) * u).sum())
               for o, u in zip(_outputs(fn, inputs), upstream) if o.dtype.kind == "f")


def numerical_grad(fn: Callable, inputs: Sequence[Tensor], upstream: Sequence, eps: float = 1e-6) -> list:
    """d/d(inputs) of Σ upstream · fn(inputs), by central differences, for each
    input that requires grad (the others are passed to ``fn`` unchanged).

    Each element is nudged in place, so non-contiguous inputs keep their layout.
    """
    grads = []
    with autograd.no_grad():
        for x in (x for x in inputs if x.requires_grad):
            g = numpy.zeros(x.shape)
            for i in numpy.ndindex(*x.shape):
                old = x.array[i].item()
                x.array[i] = old + eps
                plus = _contract(fn, inputs, upstream)
                x.array[i] = old - eps
                minus = _contract(fn, inputs, upstream)
                x.array[i] = old
                g[i] = (plus - minus) / (2 * eps)
            grads.append(g)
    return grads


def gradcheck(fn: Callable, inputs: Sequence[Tensor] | Tensor, eps: float = 1e-6, atol: float = 1e-5,
              rtol: float = 1e-4, seed: int = 0, raise_exception: bool = True) -> GradcheckResult:
    """Check autograd's gradients of ``fn`` at ``inputs`` against finite differences.

    ``inputs`` should be float64 tensors; those with ``requires_grad`` are checked.
    The output(s) are contracted with a random upstream gradient. An element
    passes when ``|analytical - numerical| <= atol + rtol * |numerical|``.

    >>> import nnkit
    >>> x = nnkit.randn(3, 4, dtype=nnkit.float64, requires_grad=True)
    >>> gradcheck(lambda t: (t * t).sum(dim=1), [x]).ok
    True
    """
    inputs = [inputs] if isinstance(inputs, Tensor) else list(inputs)
    checked = [i for i, x in enumerate(inputs) if x.requires_grad]
    if not checked:
        raise ValueError("gradcheck: no input requires grad")
    for i in checked:
        if inputs[i].dtype != numpy.float64:
            raise ValueError(f"gradcheck: input {i} is {inputs[i].dtype}; finite differences need float64")
    rng = numpy.random.default_rng(seed)
    outputs = _outputs(fn, inputs)
    upstream = [rng.standard_normal(o.shape) for o in outputs]
    diff = [(o, u) for o, u in zip(outputs, upstream) if o.requires_grad]
    if not diff:
        raise GradcheckError("gradcheck: no output depends differentiably on the inputs")
    analytical = autograd.grad([o for o, _ in diff], [inputs[i] for i in checked],
                               [Tensor._wrap(o._xp.asarray(u, dtype=o.dtype)) for o, u in diff],
                               allow_unused=True)
    numerical = numerical_grad(fn, inputs, upstream, eps)
    worst = None
    for k, (i, a, n) in enumerate(zip(checked, analytical, numerical)):
        a = numpy.zeros_like(n) if a is None else backend.to_module(a.array, numpy).astype(numpy.float64)
        err = numpy.abs(a - n)
        excess = err - (atol + rtol * numpy.abs(n))
        if excess.size == 0:
            continue
        j = numpy.unravel_index(int(numpy.argmax(excess)), excess.shape)
        score = float(excess[j])
        if worst is None or score > worst[0]:
            rel = float(err[j] / max(abs(n[j]), 1e-12))
            worst = (score, GradcheckResult(score <= 0, i, tuple(int(v) for v in j), float(a[j]), float(n[j]),
                                            float(err[j]), rel))
    result = worst[1] if worst else GradcheckResult(True, checked[0], (), 0.0, 0.0, 0.0, 0.0)
    if raise_exception and not result.ok:
        raise GradcheckError(str(result))
    return result

