"""Derivatives of whole functions, as ``torch.autograd.functional``: ``jacobian``, ``hessian``,
``vjp``, ``jvp``, ``hvp`` and ``vhp``.

Each takes ``func`` and ``inputs`` (a tensor, or a tuple of tensors passed as
``func(*inputs)``) and runs ``func`` on copies of the inputs that require grad;
results have the nesting PyTorch gives them (a tuple where the inputs or outputs
were a tuple). ``create_graph=True`` keeps the results differentiable; ``strict=True``
raises where an output does not depend on an input, instead of giving zeros.

Everything is built from reverse mode (``grad``): the Jacobian one row per output
element, and the forward-mode products (``jvp``, ``hvp``) with the double-backward
trick (the gradient of a vector-Jacobian product with respect to the vector).
``vectorize`` and the forward-mode strategies are accepted and give the same values.

>>> import nnkit
>>> jacobian(lambda x: x ** 2, nnkit.tensor([1.0, 2.0]))
tensor([[2., 0.],
        [0., 4.]])
"""

from __future__ import annotations

from ..ops import stack
from ..tensor import Tensor, zeros_like
from . import enable_grad, grad

__all__ = ["jacobian", "hessian", "vjp", "jvp", "hvp", "vhp"]


def _as_tuple(x, what: str, fn: str) -> tuple[bool, tuple]:
    """(whether ``x`` was a tuple, ``x`` as a tuple of tensors)."""
    is_tuple = isinstance(x, tuple)
    items = x if is_tuple else (x,)
    for i, t in enumerate(items):
        if not isinstance(t, Tensor):
            where = f"the value at index {i} has" if is_tuple else "the given value has"
            raise TypeError(f"{fn}: the {what} must be either a Tensor or a tuple of Tensors but {where} type "
                            f"{type(t).__name__}")
    return is_tuple, items


def _prepare(inputs: tuple, create_graph: bool, need_graph: bool) -> tuple:
    """Inputs to differentiate with respect to: cut from the caller's graph, unless
    ``create_graph`` asks for results differentiable with respect to it."""
    return tuple(t.view_as(t) if create_graph and t.requires_grad else t.detach().requires_grad_(need_graph)
                 for t in inputs)


def _finish(results: tuple, create_graph: bool) -> tuple:
    return tuple(r if create_graph or r is None else r.detach() for r in results)


def _unpack(results, is_tuple: bool):
    return results if is_tuple else results[0]


def _check_v(v: tuple, like: tuple, fn: str) -> None:
    if len(v) != len(like):
        raise RuntimeError(f"{fn}: v is a tuple of invalid length: should be {len(like)} but got {len(v)}")
    for i, (a, b) in enumerate(zip(v, like)):
        if a.shape != b.shape:
            raise RuntimeError(f"{fn}: entry {i} in v has invalid size: should be {tuple(b.shape)} but got "
                               f"{tuple(a.shape)}")


def _grads(outputs: tuple, inputs: tuple, grad_outputs, create_graph: bool) -> tuple:
    """``grad`` of the outputs that are there and require grad (None for every input when none is)."""
    pairs = [(o, g) for o, g in zip(outputs, grad_outputs or (None,) * len(outputs))
             if o is not None and o.requires_grad]
    if not pairs:
        return (None,) * len(inputs)
    outs, gs = zip(*pairs)
    return grad(outs, inputs, None if grad_outputs is None else gs, retain_graph=True, create_graph=create_graph,
                allow_unused=True)


_INDEPENDENT = {
    "outputs": "output {i} of the function does not require grad: in strict mode the outputs must be "
               "computed in a differentiable way from the inputs",
    "back": "the output of the function is independent of input {i}",
    "jacobian": "while computing the hessian, the jacobian of the function with respect to input {i} turned out "
                "independent of the input (a linear function, say)",
    "hessian": "the hessian of the function with respect to input {i} is independent of the input",
    "grad_inputs": "the gradient with respect to input {i} is independent of the inputs of the function",
    "back_trick": "the gradient with respect to the input is independent of entry {i} of the grad_outputs "
                  "(the double backward trick needs it)",
    "double_back": "the jacobian of the function is independent of input {i}",
    "double_back_trick": "the hessian of the function is independent of entry {i} of the grad_jacobian "
                         "(the double backward trick needs it)",
}


def _strict_error(fn: str, stage: str, i: int) -> RuntimeError:
    return RuntimeError(f"{fn}: {_INDEPENDENT[stage].format(i=i)}; this is not allowed in strict mode")


def _check_requires_grad(tensors: tuple, stage: str, strict: bool, fn: str) -> None:
    if strict:
        for i, t in enumerate(tensors):
            if t is None or not t.requires_grad:
                raise _strict_error(fn, "back" if t is None else stage, i)


def _fill_in_zeros(grads: tuple, refs: tuple, strict: bool, create_graph: bool, stage: str, fn: str) -> tuple:
    """Zeros (shaped as ``refs``) where a gradient is None; in strict mode, an error."""
    filled = []
    for i, (g, ref) in enumerate(zip(grads, refs)):
        if strict and (g is None or (create_graph and not g.requires_grad)):
            raise _strict_error(fn, stage, i)
        filled.append(zeros_like(ref) if g is None else g)
    return tuple(filled)


def vjp(func, inputs, v=None, create_graph: bool = False, strict: bool = False) -> tuple:
    """``(func(inputs), v^T J)``: the vector-Jacobian product, shaped as the inputs. ``v`` is
    shaped as the outputs; it may be left out when the output has one element."""
    with enable_grad():
        is_in_tuple, inputs = _as_tuple(inputs, "inputs", "vjp")
        inputs = _prepare(inputs, create_graph, need_graph=True)
        is_out_tuple, outputs = _as_tuple(func(*inputs), "outputs of the function", "vjp")
        _check_requires_grad(outputs, "outputs", strict, "vjp")
        if v is not None:
            _, v = _as_tuple(v, "v", "vjp")
            v = _prepare(v, create_graph, need_graph=False)
            _check_v(v, outputs, "vjp")
        elif len(outputs) != 1 or outputs[0].numel() != 1:
            raise RuntimeError("vjp: v can only be None if the function returns a single Tensor with a single "
                               "element")
        grads = _grads(outputs, inputs, v, create_graph)
        products = _fill_in_zeros(grads, inputs, strict, create_graph, "back", "vjp")
    return _unpack(_finish(outputs, create_graph), is_out_tuple), _unpack(_finish(products, create_graph),
                                                                          is_in_tuple)


def jvp(func, inputs, v=None, create_graph: bool = False, strict: bool = False) -> tuple:
    """``(func(inputs), J v)``: the Jacobian-vector product, shaped as the outputs. ``v`` is
    shaped as the inputs; it may be left out when the input is a single element."""
    with enable_grad():
        is_in_tuple, inputs = _as_tuple(inputs, "inputs", "jvp")
        inputs = _prepare(inputs, create_graph, need_graph=True)
        if v is not None:
            _, v = _as_tuple(v, "v", "jvp")
            v = _prepare(v, create_graph, need_graph=False)
            _check_v(v, inputs, "jvp")
        elif len(inputs) != 1 or inputs[0].numel() != 1:
            raise RuntimeError("jvp: v can only be None if the input to the function is a single Tensor with a "
                               "single element")
        is_out_tuple, outputs = _as_tuple(func(*inputs), "outputs of the function", "jvp")
        _check_requires_grad(outputs, "outputs", strict, "jvp")
        # u^T J is linear in u; its gradient with respect to u, against v, is J v.
        u = tuple(zeros_like(out, requires_grad=True) for out in outputs)
        vjps = _grads(outputs, inputs, u, create_graph=True)
        _check_requires_grad(vjps, "grad_inputs", strict, "jvp")
        grads = _grads(vjps, u, v, create_graph)
        products = _fill_in_zeros(grads, outputs, strict, create_graph, "back_trick", "jvp")
    return _unpack(_finish(outputs, create_graph), is_out_tuple), _unpack(_finish(products, create_graph),
                                                                          is_out_tuple)


def jacobian(func, inputs, create_graph: bool = False, strict: bool = False, vectorize: bool = False,
             strategy: str = "reverse-mode"):
    """The Jacobian of ``func`` at ``inputs``: for output i and input j, a tensor of shape
    ``outputs[i].shape + inputs[j].shape``. A tensor for a tensor input and output; a tuple
    over the inputs or the outputs where that side is a tuple; a tuple of tuples where both are."""
    if strategy not in ("forward-mode", "reverse-mode"):
        raise ValueError(f'jacobian: expected strategy to be either "forward-mode" or "reverse-mode", got '
                         f'{strategy!r}')
    if strategy == "forward-mode" and not vectorize:
        raise NotImplementedError('jacobian: strategy="forward-mode" requires vectorize=True, as in PyTorch')
    with enable_grad():
        is_in_tuple, inputs = _as_tuple(inputs, "inputs", "jacobian")
        inputs = _prepare(inputs, create_graph, need_graph=True)
        is_out_tuple, outputs = _as_tuple(func(*inputs), "outputs of the function", "jacobian")
        _check_requires_grad(outputs, "outputs", strict, "jacobian")
        blocks = []
        for i, out in enumerate(outputs):
            rows = [[] for _ in inputs]  # rows[j][k]: d out.flat[k] / d inputs[j]
            flat = out.reshape(-1)
            for k in range(out.numel()):
                grads = _grads((flat[k],), inputs, None, create_graph)
                for j, (g, x) in enumerate(zip(grads, inputs)):
                    if g is None and strict:
                        raise RuntimeError(f"jacobian: output {i} of the function is independent of input {j}; "
                                           "this is not allowed in strict mode")
                    rows[j].append(zeros_like(x) if g is None else g)
            blocks.append(tuple((stack(r) if r else x.new_zeros((0,) + x.shape)).reshape(out.shape + x.shape)
                                for r, x in zip(rows, inputs)))
    blocks = tuple(_finish(b, create_graph) for b in blocks)
    if is_out_tuple:
        return tuple(_unpack(b, is_in_tuple) for b in blocks)
    return _unpack(blocks[0], is_in_tuple)


def hessian(func, inputs, create_graph: bool = False, strict: bool = False, vectorize: bool = False,
            outer_jacobian_strategy: str = "reverse-mode"):
    """The Hessian of a scalar ``func`` at ``inputs``: shape ``inputs.shape * 2`` for one input,
    a tuple of tuples (block i, j: ``inputs[i].shape + inputs[j].shape``) for a tuple."""
    is_in_tuple, inputs = _as_tuple(inputs, "inputs", "hessian")

    def scalar(*args):
        is_out_tuple, out = _as_tuple(func(*args), "outputs of the function", "hessian")
        if is_out_tuple:
            raise RuntimeError("hessian: the function should return a single Tensor")
        if out[0].numel() != 1:
            raise RuntimeError(f"hessian: the Tensor the function returns should contain a single element, got "
                               f"shape {tuple(out[0].shape)}")
        return out[0].reshape(())

    def gradient(*args):
        jac = jacobian(scalar, args, create_graph=True)
        _check_requires_grad(jac, "jacobian", strict, "hessian")
        return jac

    blocks = jacobian(gradient, inputs, create_graph=create_graph, strict=strict, vectorize=vectorize,
                      strategy=outer_jacobian_strategy)
    return blocks if is_in_tuple else blocks[0][0]


def _second_order(func, inputs, v, create_graph: bool, strict: bool, fn: str) -> tuple:
    """For hvp and vhp: (is_in_tuple, inputs, output, the gradient of func, v) with the checks."""
    is_in_tuple, inputs = _as_tuple(inputs, "inputs", fn)
    inputs = _prepare(inputs, create_graph, need_graph=True)
    if v is not None:
        _, v = _as_tuple(v, "v", fn)
        v = _prepare(v, create_graph, need_graph=False)
        _check_v(v, inputs, fn)
    elif len(inputs) != 1 or inputs[0].numel() != 1:
        raise RuntimeError(f"{fn}: v can only be None if the input to the function is a single Tensor with a "
                           "single element")
    output = func(*inputs)
    is_out_tuple, outputs = _as_tuple(output, "outputs of the function", fn)
    if is_out_tuple:
        raise RuntimeError(f"{fn}: the function should return a single Tensor")
    if output.numel() != 1:
        raise RuntimeError(f"{fn}: the Tensor the function returns should contain a single element, got shape "
                           f"{tuple(output.shape)}")
    jac = _grads(outputs, inputs, None, create_graph=True)
    _check_requires_grad(jac, "jacobian", strict, fn)
    return is_in_tuple, inputs, output, jac, v


def vhp(func, inputs, v=None, create_graph: bool = False, strict: bool = False) -> tuple:
    """``(func(inputs), v^T H)`` for a scalar ``func``, shaped as the inputs."""
    with enable_grad():
        is_in_tuple, inputs, output, jac, v = _second_order(func, inputs, v, create_graph, strict, "vhp")
        grads = _grads(jac, inputs, v, create_graph)
        products = _fill_in_zeros(grads, inputs, strict, create_graph, "double_back", "vhp")
    return _finish((output,), create_graph)[0], _unpack(_finish(products, create_graph), is_in_tuple)


def hvp(func, inputs, v=None, create_graph: bool = False, strict: bool = False) -> tuple:
    """``(func(inputs), H v)`` for a scalar ``func``, shaped as the inputs (by the double-backward
    trick: the gradient of ``u^T H`` with respect to ``u``, against ``v``)."""
    with enable_grad():
        is_in_tuple, inputs, output, jac, v = _second_order(func, inputs, v, create_graph, strict, "hvp")
        u = tuple(zeros_like(x, requires_grad=True) for x in inputs)
        double_back = _grads(jac, inputs, u, create_graph=True)
        _check_requires_grad(double_back, "hessian", strict, "hvp")
        grads = _grads(double_back, u, v, create_graph)
        products = _fill_in_zeros(grads, inputs, strict, create_graph, "double_back_trick", "hvp")
    return _finish((output,), create_graph)[0], _unpack(_finish(products, create_graph), is_in_tuple)
