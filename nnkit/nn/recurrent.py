"""Recurrent layers (chapter 08): ``RNN``, ``LSTM``, ``GRU`` and their one-step cells.

A recurrent layer has two parts. The input projection ``x_t W_ihᵀ + b`` does not
depend on the previous step, so it is computed for all time steps at once, in
one matrix product per layer and direction. Only the recurrence
``h_t = cell(x-projection_t, h_{t-1})`` must run step by step; it is one op per
layer and direction (``_rnn_scan``, ``_lstm_scan``, ``_gru_scan``) whose
forward loops over time on raw arrays and whose backward is backpropagation
through time, written by hand beside it. Written from primitives, every time
step would add a dozen small nodes to the graph, and their bookkeeping would
cost more than the arithmetic; fused, a step costs one matrix product and a few
elementwise array operations each way, into buffers allocated once per call.
The same recurrences written cell by cell with tensor ops (``_rnn_steps``,
``_lstm_steps``, ``_gru_steps``: the form chapter 08 teaches) are kept beside
them: the tests hold the two equal, and when a graph of the gradient is asked
for (``create_graph=True``, e.g. a gradient penalty) a scan's backward
differentiates the cell-by-cell graph instead, so higher-order gradients work
(slowly) rather than raise.

Shapes and names are PyTorch's: input (L, N, H_in) (or (N, L, H_in) with
``batch_first``, or unbatched (L, H_in)), states (num_layers·D, N, H), parameters
``weight_ih_l{k}``, ``weight_hh_l{k}``, ``bias_ih_l{k}``, ``bias_hh_l{k}``
(``_reverse`` for the backward direction), gates in PyTorch's order (LSTM: i, f,
g, o; GRU: r, z, n), all initialised from U(−1/√H, 1/√H). So a state dict moves
between nnkit and PyTorch.
"""

from __future__ import annotations

import math

from .. import autograd, backend, ops
from ..autograd import enable_grad, is_grad_enabled
from ..ops.base import _make
from ..tensor import Tensor, empty
from . import functional as F
from . import init
from .module import Module, Parameter, check_sizes

__all__ = ["RNNBase", "RNN", "LSTM", "GRU", "RNNCellBase", "RNNCell", "LSTMCell", "GRUCell"]


def _order(length: int, reverse: bool) -> range:
    return range(length - 1, -1, -1) if reverse else range(length)


def _state_buffer(first, steps: int, reverse: bool):
    """A (T + 1, N, H) buffer for the states of a scan, in time order, with a row for the
    initial one: the state of time t goes to row t + 1 (row t for the reverse direction, whose
    initial state is last). The states and the states each step started from are then both
    views of it: ``buffer[_rows(T, reverse)]`` and ``buffer[_rows(T, not reverse)]``."""
    buffer = backend.xp_of(first).empty((steps + 1,) + first.shape, dtype=first.dtype)
    buffer[steps if reverse else 0] = first
    return buffer


def _rows(steps: int, reverse: bool) -> slice:
    return slice(0, steps) if reverse else slice(1, steps + 1)


def _rnn_scan(gx: Tensor, w_hh: Tensor, h0: Tensor, reverse: bool, relu: bool) -> Tensor:
    """The Elman recurrence h_t = act(gx_t + h_{t−1} W_hhᵀ) over gx (T, N, H); returns the
    :func:`_state_buffer` of the h_t.

    Backward (BPTT): with d_t = (dH_t + dh_{t+1}) · act′, dh_t = d_t W_hh, dgx_t = d_t,
    dW_hh = Σ_t d_tᵀ h_{t−1}.
    """
    xp, w = gx._xp, w_hh.array
    steps, hidden = gx.shape[0], w.shape[1]
    hs = _state_buffer(h0.array, steps, reverse)
    w_t = xp.ascontiguousarray(w.T)  # a product with a transposed view takes BLAS's slower path
    k = 0 if reverse else 1
    for t in _order(steps, reverse):
        h = hs[t + k]
        xp.matmul(hs[t + 1 - k], w_t, out=h)
        h += gx.array[t]
        if relu:
            xp.maximum(h, 0, out=h)
        else:
            xp.tanh(h, out=h)

    def backward(grad):
        if is_grad_enabled():
            return _graph_backward(lambda *a: _rnn_steps(*a, reverse, relu), (gx, w_hh, h0), grad)
        g, h = grad.array[_rows(steps, reverse)], hs[_rows(steps, reverse)]
        slope = (h > 0).astype(h.dtype) if relu else 1 - h * h
        dpre = xp.empty_like(h)
        dh, dh_next = xp.zeros(h0.shape, dtype=h.dtype), xp.empty(h0.shape, dtype=h.dtype)
        for t in _order(steps, not reverse):
            dh += g[t]
            xp.multiply(dh, slope[t], out=dpre[t])
            xp.matmul(dpre[t], w, out=dh_next)
            dh, dh_next = dh_next, dh
        dw = dpre.reshape(-1, hidden).T @ hs[_rows(steps, not reverse)].reshape(-1, hidden)
        dh += grad.array[steps if reverse else 0]  # the initial state's own row
        return Tensor._wrap(dpre), Tensor._wrap(dw), Tensor._wrap(dh)
    return _make(hs, (gx, w_hh, h0), backward, "RnnScan")


def _lstm_scan(gx: Tensor, w_hh: Tensor, h0: Tensor, c0: Tensor, reverse: bool) -> Tensor:
    """The LSTM recurrence over gx (T, N, 4H) (the input projections plus both biases).

    With [i, f, g, o] = [σ, σ, tanh, σ](gx_t + h_{t−1} W_hhᵀ):
    c_t = f·c_{t−1} + i·g and h_t = o·tanh(c_t). Returns (2, T + 1, N, H): the
    :func:`_state_buffer` of the h_t and that of the c_t (the layers use only the last c).

    Backward (BPTT), with dh_t = dH_t + dpre_{t+1} W_hh and
    dc_t = dc_{t+1}·f_{t+1} + dh_t·o_t·(1 − tanh²c_t): the pre-activation gradients are
    dpre_t = [dc_t·g_t·i_t′, dc_t·c_{t−1}·f_t′, dc_t·i_t·g_t′, dh_t·tanh(c_t)·o_t′]. Every factor
    that does not depend on dh or dc is computed for all steps at once before the loop, so a
    step costs one matrix product and seven small elementwise operations, all into buffers
    allocated once. :func:`_lstm_steps` is the same recurrence written cell by cell with tensor ops.
    """
    xp, w, dtype = gx._xp, w_hh.array, gx.dtype
    steps, n, hidden = gx.shape[0], gx.shape[1], w.shape[1]
    # σ(x) = (1 + tanh(x/2)) / 2, so one tanh over all four gates gives σ for i, f, o and tanh
    # for g: scale the pre-activations by `half` (weights and projections, once), then
    # act = half · tanh(·) + shift.
    half = xp.full((4, hidden), 0.5, dtype=dtype)
    half[2] = 1
    shift = (1 - half).reshape(-1)
    shift[2 * hidden:3 * hidden] = 0
    half = half.reshape(-1)
    # Contiguous (H, 4H): a product with a transposed view takes BLAS's slower strided path.
    w_half_t = xp.ascontiguousarray((w * half[:, None]).T)
    acts = xp.multiply(gx.array, half)       # (T, N, 4H): i, f, g, o, computed in place
    states = xp.empty((2, steps + 1, n, hidden), dtype=dtype)  # two state buffers (h, c) in one
    hs, cs = states
    hs[steps if reverse else 0], cs[steps if reverse else 0] = h0.array, c0.array
    tanh_c = xp.empty((steps, n, hidden), dtype=dtype)
    step = xp.empty((n, 4 * hidden), dtype=dtype)
    ig = xp.empty((n, hidden), dtype=dtype)
    i, f, g, o = (slice(k * hidden, (k + 1) * hidden) for k in range(4))
    k = 0 if reverse else 1
    for t in _order(steps, reverse):
        a = acts[t]
        xp.matmul(hs[t + 1 - k], w_half_t, out=step)
        a += step
        xp.tanh(a, out=a)
        a *= half
        a += shift
        c = cs[t + k]
        xp.multiply(a[:, f], cs[t + 1 - k], out=c)
        xp.multiply(a[:, i], a[:, g], out=ig)
        c += ig
        xp.tanh(c, out=tanh_c[t])
        xp.multiply(a[:, o], tanh_c[t], out=hs[t + k])

    def backward(grad):
        if is_grad_enabled():
            return _graph_backward(lambda *a: _lstm_steps(*a, reverse), (gx, w_hh, h0, c0), grad)
        gh, gc = grad.array[:, _rows(steps, reverse)]
        ai, af, ag, ao = acts[..., i], acts[..., f], acts[..., g], acts[..., o]
        # factors[t] = [by_dc (3 gates), by_dh, dh_to_dc], so that a step is
        # dpre[:3] = dc·factors[:3], dpre[3] = dh·factors[3], dc += dh·factors[4]. Time-major
        # (T, 5, N, H), so that each is written in contiguous blocks.
        factors = xp.empty((steps, 5, n, hidden), dtype=dtype)
        s = xp.empty((steps, n, hidden), dtype=dtype)
        for gate, other, slot in ((ai, ag, 0), (af, cs[_rows(steps, not reverse)], 1), (ao, tanh_c, 3)):
            xp.subtract(1, gate, out=s)         # σ′ = σ(1 − σ)
            s *= gate
            xp.multiply(s, other, out=factors[:, slot])
        xp.multiply(ag, ag, out=s)              # tanh′ = 1 − tanh²
        xp.subtract(1, s, out=s)
        xp.multiply(s, ai, out=factors[:, 2])
        xp.multiply(tanh_c, tanh_c, out=s)
        xp.subtract(1, s, out=s)
        xp.multiply(s, ao, out=factors[:, 4])
        dpre = xp.empty((steps, n, 4, hidden), dtype=dtype)
        dh, dh_next = xp.zeros((n, hidden), dtype=dtype), xp.empty((n, hidden), dtype=dtype)
        dc = xp.zeros((n, hidden), dtype=dtype)
        for t in _order(steps, not reverse):
            dh += gh[t]
            xp.multiply(dh, factors[t, 4], out=ig)
            dc += ig
            dc += gc[t]
            xp.multiply(dc[:, None], factors[t, :3].transpose(1, 0, 2), out=dpre[t, :, :3])
            xp.multiply(dh, factors[t, 3], out=dpre[t, :, 3])
            dc *= af[t]
            xp.matmul(dpre[t].reshape(n, 4 * hidden), w, out=dh_next)
            dh, dh_next = dh_next, dh
        dpre = dpre.reshape(steps, n, 4 * hidden)
        dw = dpre.reshape(-1, 4 * hidden).T @ hs[_rows(steps, not reverse)].reshape(-1, hidden)
        dh += grad.array[0, steps if reverse else 0]  # the initial states' own rows
        dc += grad.array[1, steps if reverse else 0]
        return Tensor._wrap(dpre), Tensor._wrap(dw), Tensor._wrap(dh), Tensor._wrap(dc)
    return _make(states, (gx, w_hh, h0, c0), backward, "LstmScan")


def _gru_scan(gx: Tensor, w_hh: Tensor, b_hh: Tensor, h0: Tensor, reverse: bool) -> Tensor:
    """The GRU recurrence over gx (T, N, 3H) (the input projections plus b_ih).

    With gh = h_{t−1} W_hhᵀ + b_hh: r = σ(gx_r + gh_r), z = σ(gx_z + gh_z),
    n = tanh(gx_n + r·gh_n), h_t = (1 − z)·n + z·h_{t−1}. Returns the :func:`_state_buffer`
    of the h_t. (b_hh cannot be folded into gx like the other biases: r multiplies its n part.)
    """
    xp, w, dtype = gx._xp, w_hh.array, gx.dtype
    steps, n, hidden = gx.shape[0], gx.shape[1], w.shape[1]
    rz, n_ = slice(0, 2 * hidden), slice(2 * hidden, 3 * hidden)
    gh = xp.empty((steps, n, 3 * hidden), dtype=dtype)    # h W_hhᵀ + b_hh, kept for the backward
    acts = xp.empty_like(gh)                               # r, z, n
    hs = _state_buffer(h0.array, steps, reverse)
    w_t = xp.ascontiguousarray(w.T)  # a product with a transposed view takes BLAS's slower path
    k = 0 if reverse else 1
    for t in _order(steps, reverse):
        a, h, h_prev = acts[t], hs[t + k], hs[t + 1 - k]
        xp.matmul(h_prev, w_t, out=gh[t])
        gh[t] += b_hh.array
        xp.add(gx.array[t, :, rz], gh[t, :, rz], out=a[:, rz])
        a[:, rz] *= 0.5                                    # σ(x) = (1 + tanh(x/2)) / 2
        xp.tanh(a[:, rz], out=a[:, rz])
        a[:, rz] *= 0.5
        a[:, rz] += 0.5
        r, z = a[:, :hidden], a[:, hidden:rz.stop]
        xp.multiply(r, gh[t, :, n_], out=a[:, n_])
        a[:, n_] += gx.array[t, :, n_]
        xp.tanh(a[:, n_], out=a[:, n_])
        xp.subtract(h_prev, a[:, n_], out=h)               # h_t = n + z·(h_{t−1} − n)
        h *= z
        h += a[:, n_]

    def backward(grad):
        if is_grad_enabled():
            return _graph_backward(lambda *a: _gru_steps(*a, reverse), (gx, w_hh, b_hh, h0), grad)
        g = grad.array[_rows(steps, reverse)]
        r, z, nn = acts[..., :hidden], acts[..., hidden:rz.stop], acts[..., n_]
        h_prev = hs[_rows(steps, not reverse)]
        # Per unit of dh_t: the gradient of each pre-activation (r's needs n's, so it comes later),
        # time-major (T, 3, N, H) so that each is written in contiguous blocks.
        factors = xp.empty((steps, 3, n, hidden), dtype=dtype)
        to_n, to_z, to_r = factors[:, 0], factors[:, 1], factors[:, 2]
        s = xp.empty((steps, n, hidden), dtype=dtype)
        xp.multiply(nn, nn, out=s)
        xp.subtract(1, s, out=s)
        xp.subtract(1, z, out=to_n)
        to_n *= s                                          # (1 − z)(1 − n²)
        xp.subtract(1, z, out=s)
        s *= z
        xp.subtract(h_prev, nn, out=to_z)
        to_z *= s                                          # (h_{t−1} − n) z(1 − z)
        xp.subtract(1, r, out=s)
        s *= r
        xp.multiply(gh[..., n_], s, out=to_r)              # gh_n r(1 − r)
        dgh, dgx = xp.empty_like(gh), xp.empty_like(gh)
        dh, dh_next = xp.zeros((n, hidden), dtype=dtype), xp.empty((n, hidden), dtype=dtype)
        for t in _order(steps, not reverse):
            dh += g[t]
            dn = dgx[t, :, n_]
            xp.multiply(dh, to_n[t], out=dn)
            xp.multiply(dn, to_r[t], out=dgh[t, :, :hidden])
            xp.multiply(dh, to_z[t], out=dgh[t, :, hidden:rz.stop])
            xp.multiply(dn, r[t], out=dgh[t, :, n_])
            xp.matmul(dgh[t], w, out=dh_next)
            dh *= z[t]
            dh_next += dh
            dh, dh_next = dh_next, dh
        dgx[..., rz] = dgh[..., rz]
        dw = dgh.reshape(-1, 3 * hidden).T @ h_prev.reshape(-1, hidden)
        db = Tensor._wrap(dgh.sum(axis=(0, 1))) if b_hh.requires_grad else None
        dh += grad.array[steps if reverse else 0]  # the initial state's own row
        return Tensor._wrap(dgx), Tensor._wrap(dw), db, Tensor._wrap(dh)
    return _make(hs, (gx, w_hh, b_hh, h0), backward, "GruScan")


# ---------------------------------------------------------------------------
# The same recurrences cell by cell, with tensor ops: the readable form the lessons
# teach, the reference the fused scans are tested against, and the graph that
# higher-order gradients (create_graph=True) differentiate.
# ---------------------------------------------------------------------------


def _as_state_buffer(states: list, reverse: bool) -> Tensor:
    """Stack [initial, first step, ...] (processing order) into a :func:`_state_buffer`'s layout."""
    return ops.stack(states[::-1] if reverse else states)


def _rnn_steps(gx: Tensor, w_hh: Tensor, h0: Tensor, reverse: bool, relu: bool) -> Tensor:
    """:func:`_rnn_scan` cell by cell: h_t = act(gx_t + h_{t−1} W_hhᵀ)."""
    act = ops.relu if relu else ops.tanh
    hs = [h0]
    for t in _order(gx.shape[0], reverse):
        hs.append(act(gx[t] + ops.matmul(hs[-1], ops.transpose(w_hh, 0, 1))))
    return _as_state_buffer(hs, reverse)


def _lstm_steps(gx: Tensor, w_hh: Tensor, h0: Tensor, c0: Tensor, reverse: bool) -> Tensor:
    """:func:`_lstm_scan` cell by cell: [i, f, g, o] = [σ, σ, tanh, σ](gx_t + h_{t−1} W_hhᵀ),
    c_t = f·c_{t−1} + i·g, h_t = o·tanh(c_t)."""
    hs, cs = [h0], [c0]
    for t in _order(gx.shape[0], reverse):
        i, f, g, o = ops.chunk(gx[t] + ops.matmul(hs[-1], ops.transpose(w_hh, 0, 1)), 4, -1)
        cs.append(ops.sigmoid(f) * cs[-1] + ops.sigmoid(i) * ops.tanh(g))
        hs.append(ops.sigmoid(o) * ops.tanh(cs[-1]))
    return ops.stack([_as_state_buffer(hs, reverse), _as_state_buffer(cs, reverse)])


def _gru_steps(gx: Tensor, w_hh: Tensor, b_hh: Tensor, h0: Tensor, reverse: bool) -> Tensor:
    """:func:`_gru_scan` cell by cell: with gh = h_{t−1} W_hhᵀ + b_hh, r = σ(gx_r + gh_r),
    z = σ(gx_z + gh_z), n = tanh(gx_n + r·gh_n), h_t = (1 − z)·n + z·h_{t−1}."""
    hs = [h0]
    for t in _order(gx.shape[0], reverse):
        xr, xz, xn = ops.chunk(gx[t], 3, -1)
        hr, hz, hn = ops.chunk(ops.matmul(hs[-1], ops.transpose(w_hh, 0, 1)) + b_hh, 3, -1)
        r, z = ops.sigmoid(xr + hr), ops.sigmoid(xz + hz)
        n = ops.tanh(xn + r * hn)
        hs.append((1 - z) * n + z * hs[-1])
    return _as_state_buffer(hs, reverse)


def _stand_in(t: Tensor) -> Tensor:
    """A leaf sharing ``t``'s values: a graph built on it ends there."""
    leaf = Tensor._wrap(t.array)
    leaf.requires_grad = True
    return leaf


def _graph_backward(steps, inputs: tuple, grad: Tensor) -> tuple:
    """A fused scan's backward when its graph is wanted (``create_graph=True``).

    The scans' own backward works on raw arrays and records nothing. Instead, the cell-by-cell
    form ``steps`` runs on stand-ins of ``inputs`` and is differentiated with a graph; each
    gradient is handed back as one op on (inputs, grad) whose backward differentiates that
    graph in turn (:func:`_lift`), so gradients of any order exist. Slow, and taken only when a
    graph of the gradient is asked for.
    """
    args = inputs + (grad,)
    leaves = tuple(_stand_in(a) for a in args)
    wanted = [k for k, x in enumerate(inputs) if x.requires_grad]
    with enable_grad():
        found = autograd.grad(steps(*leaves[:-1]), [leaves[k] for k in wanted], leaves[-1],
                              create_graph=True, allow_unused=True)
    grads = [None] * len(args)
    for k, g in zip(wanted, found):
        grads[k] = g
    return _lift(grads, leaves, args)[:-1]


def _lift(values: list, leaves: tuple, originals: tuple) -> tuple:
    """``values`` (graphs on ``leaves``) as ops on ``originals``, the tensors the leaves stand for."""
    def backward(upstream, value):
        if not is_grad_enabled():
            return autograd.grad(value, leaves, upstream, retain_graph=True, allow_unused=True)
        up = _stand_in(upstream)
        with enable_grad():
            found = autograd.grad(value, leaves, up, retain_graph=True, create_graph=True, allow_unused=True)
        return _lift(list(found), leaves + (up,), originals + (upstream,))
    return tuple(None if v is None else _make(v.array, originals, lambda g, v=v: backward(g, v), "ScanBackward")
                 for v in values)


_GATES = {"RNN_TANH": 1, "RNN_RELU": 1, "LSTM": 4, "GRU": 3}


def _scan(mode: str, gx: Tensor, w_hh: Tensor, b_hh: Tensor | None, h0: Tensor, c0: Tensor | None,
          reverse: bool) -> tuple:
    """Run one layer-direction's recurrence; return (every h_t, last h, last c or None)."""
    steps = gx.shape[0]
    last = 0 if reverse else steps  # the row of the final state in a state buffer
    if mode == "LSTM":
        states = _lstm_scan(gx, w_hh, h0, c0, reverse)
        return states[0, _rows(steps, reverse)], states[0, last], states[1, last]
    if mode == "GRU":
        if b_hh is None:
            b_hh = Tensor._wrap(gx._xp.zeros(gx.shape[-1], dtype=gx.dtype))
        hs = _gru_scan(gx, w_hh, b_hh, h0, reverse)
    else:
        hs = _rnn_scan(gx, w_hh, h0, reverse, relu=mode == "RNN_RELU")
    return hs[_rows(steps, reverse)], hs[last], None


def _input_projection(mode: str, x: Tensor, w_ih: Tensor, b_ih: Tensor | None, b_hh: Tensor | None) -> Tensor:
    """x W_ihᵀ + b_ih for all time steps in one product; b_hh is folded in too, except for the GRU."""
    bias = b_ih
    if mode != "GRU" and b_hh is not None:
        bias = b_ih + b_hh
    return F.linear(x, w_ih, bias)


def _split_state(hx, lstm: bool, name: str) -> tuple:
    """(h, c) from an LSTM's ``hx`` (a pair or None); (hx, None) for the others."""
    if not lstm:
        return hx, None
    if hx is None:
        return None, None
    if not (isinstance(hx, (tuple, list)) and len(hx) == 2):
        raise TypeError(f"{name}: hx must be a tuple (h_0, c_0), got {type(hx).__name__}")
    return tuple(hx)


class RNNBase(Module):
    """What RNN, LSTM and GRU share: the stacked, optionally bidirectional parameters and the
    loop over layers and directions (PyTorch's ``nn.RNNBase``)."""

    def __init__(self, mode: str, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False, proj_size: int = 0,
                 device=None, dtype=None):
        super().__init__()
        name = type(self).__name__
        if proj_size:
            raise NotImplementedError(f"{name}: proj_size is not supported")
        if not 0 <= dropout <= 1 or isinstance(dropout, bool):
            raise ValueError(f"{name}: dropout should be a number in range [0, 1], got {dropout!r}")
        check_sizes(name, input_size=input_size)
        check_sizes(name, 1, hidden_size=hidden_size, num_layers=num_layers)
        self.mode, self.input_size, self.hidden_size, self.num_layers = mode, input_size, hidden_size, num_layers
        self.bias, self.batch_first, self.dropout = bias, batch_first, float(dropout)
        self.bidirectional, self.proj_size = bidirectional, proj_size
        gate_size = _GATES[mode] * hidden_size
        directions = 2 if bidirectional else 1
        make = lambda *shape: Parameter(empty(*shape, device=device, dtype=dtype))  # noqa: E731
        self._flat_weights_names = []
        for layer in range(num_layers):
            layer_input = input_size if layer == 0 else hidden_size * directions
            for direction in range(directions):
                suffix = f"_l{layer}" + ("_reverse" if direction else "")
                shapes = {"weight_ih": (gate_size, layer_input), "weight_hh": (gate_size, hidden_size)}
                if bias:
                    shapes.update(bias_ih=(gate_size,), bias_hh=(gate_size,))
                for kind, shape in shapes.items():
                    setattr(self, kind + suffix, make(*shape))
                    self._flat_weights_names.append(kind + suffix)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """PyTorch's default: every weight and bias from U(−1/√H, 1/√H)."""
        bound = 1.0 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            init.uniform_(p, -bound, bound)

    def _layer_parameters(self, layer: int, direction: int) -> tuple:
        suffix = f"_l{layer}" + ("_reverse" if direction else "")
        return tuple(getattr(self, kind + suffix, None) for kind in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"))

    def _initial_state(self, hx, like: Tensor, batch: int, batched: bool, what: str) -> Tensor:
        """``hx`` shaped (layers·D, N, H) (unsqueezed when unbatched), or zeros when None."""
        shape = (self.num_layers * (2 if self.bidirectional else 1), batch, self.hidden_size)
        if hx is None:
            return Tensor._wrap(like._xp.zeros(shape, dtype=like.dtype))
        expected = shape if batched else (shape[0], shape[2])
        if tuple(hx.shape) != expected:
            raise RuntimeError(f"{type(self).__name__}: expected {what} of shape {expected}, got {tuple(hx.shape)}")
        return hx if batched else ops.unsqueeze(hx, 1)

    def forward(self, input: Tensor, hx=None):
        name = type(self).__name__
        if input.ndim not in (2, 3):
            raise RuntimeError(f"{name}: expected a 2-D (unbatched) or 3-D (batched) input, got shape "
                               f"{tuple(input.shape)}")
        if input.shape[-1] != self.input_size:
            raise RuntimeError(f"{name}: input.size(-1) must be equal to input_size. Expected {self.input_size}, "
                               f"got {input.shape[-1]}")
        batched = input.ndim == 3
        x = input if batched else ops.unsqueeze(input, 1)
        if batched and self.batch_first:
            x = ops.transpose(x, 0, 1)
        batch = x.shape[1]
        lstm = self.mode == "LSTM"
        h0, c0 = _split_state(hx, lstm, name)
        h0 = self._initial_state(h0, x, batch, batched, "h_0")
        c0 = self._initial_state(c0, x, batch, batched, "c_0") if lstm else None
        directions = 2 if self.bidirectional else 1
        h_n, c_n = [], []
        for layer in range(self.num_layers):
            outputs = []
            for direction in range(directions):
                w_ih, w_hh, b_ih, b_hh = self._layer_parameters(layer, direction)
                k = layer * directions + direction
                gx = _input_projection(self.mode, x, w_ih, b_ih, b_hh)
                hs, h_last, c_last = _scan(self.mode, gx, w_hh, b_hh, h0[k], None if c0 is None else c0[k],
                                           reverse=direction == 1)
                outputs.append(hs)
                h_n.append(h_last)
                c_n.append(c_last)
            x = outputs[0] if directions == 1 else ops.cat(outputs, -1)
            if self.dropout and self.training and layer < self.num_layers - 1:
                x = F.dropout(x, self.dropout, training=True)
        if batched and self.batch_first:
            x = ops.transpose(x, 0, 1)
        h_n = ops.stack(h_n)
        c_n = ops.stack(c_n) if lstm else None
        if not batched:
            x, h_n = ops.squeeze(x, 1), ops.squeeze(h_n, 1)
            c_n = ops.squeeze(c_n, 1) if lstm else None
        return x, ((h_n, c_n) if lstm else h_n)

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        if self.mode == "RNN_RELU":
            s += ", nonlinearity='relu'"
        for attr, default in (("bias", True), ("batch_first", False), ("dropout", 0.0), ("bidirectional", False)):
            if getattr(self, attr) != default:
                s += f", {attr}={getattr(self, attr)}"
        return s


class RNN(RNNBase):
    """An Elman recurrent layer: h_t = tanh(x_t W_ihᵀ + b_ih + h_{t−1} W_hhᵀ + b_hh) (or ReLU).

    ``forward(input, h_0=None)`` returns ``(output, h_n)``: output (L, N, D·H) holds the last
    layer's h_t for every t (both directions concatenated), h_n (num_layers·D, N, H) the
    last h of every layer and direction.

    >>> import nnkit
    >>> rnn = RNN(10, 20, num_layers=2)
    >>> out, h_n = rnn(nnkit.randn(5, 3, 10))
    >>> out.shape, h_n.shape
    ((5, 3, 20), (2, 3, 20))
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, nonlinearity: str = "tanh",
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False,
                 device=None, dtype=None):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RNN: unknown nonlinearity {nonlinearity!r} (use 'tanh' or 'relu')")
        self.nonlinearity = nonlinearity
        super().__init__("RNN_TANH" if nonlinearity == "tanh" else "RNN_RELU", input_size, hidden_size,
                         num_layers, bias, batch_first, dropout, bidirectional, 0, device, dtype)


class LSTM(RNNBase):
    """A long short-term memory layer. With [i, f, g, o] = [σ, σ, tanh, σ](x_t W_ihᵀ + b_ih +
    h_{t−1} W_hhᵀ + b_hh): c_t = f·c_{t−1} + i·g and h_t = o·tanh(c_t).

    ``forward(input, (h_0, c_0)=None)`` returns ``(output, (h_n, c_n))``, shaped as for :class:`RNN`.
    ``proj_size`` is not supported.

    >>> import nnkit
    >>> lstm = LSTM(10, 20, batch_first=True, bidirectional=True)
    >>> out, (h_n, c_n) = lstm(nnkit.randn(3, 5, 10))
    >>> out.shape, h_n.shape, c_n.shape
    ((3, 5, 40), (2, 3, 20), (2, 3, 20))
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False, proj_size: int = 0,
                 device=None, dtype=None):
        super().__init__("LSTM", input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
                         proj_size, device, dtype)


class GRU(RNNBase):
    """A gated recurrent unit layer. With r = σ(W_ir x + b_ir + W_hr h + b_hr),
    z = σ(W_iz x + b_iz + W_hz h + b_hz) and n = tanh(W_in x + b_in + r·(W_hn h + b_hn)):
    h_t = (1 − z)·n + z·h_{t−1}.

    ``forward(input, h_0=None)`` returns ``(output, h_n)``, shaped as for :class:`RNN`.

    >>> import nnkit
    >>> out, h_n = GRU(4, 8)(nnkit.randn(6, 4))   # unbatched: (L, H_in)
    >>> out.shape, h_n.shape
    ((6, 8), (1, 8))
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False,
                 device=None, dtype=None):
        super().__init__("GRU", input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
                         0, device, dtype)


class RNNCellBase(Module):
    """One time step of a recurrent layer, with parameters ``weight_ih``, ``weight_hh``, ``bias_ih``,
    ``bias_hh``. It runs the same scan as the layers, over a single step."""

    def __init__(self, mode: str, input_size: int, hidden_size: int, bias: bool, device, dtype):
        super().__init__()
        check_sizes(type(self).__name__, input_size=input_size, hidden_size=hidden_size)
        self.mode, self.input_size, self.hidden_size, self.bias = mode, input_size, hidden_size, bias
        gate_size = _GATES[mode] * hidden_size
        make = lambda *shape: Parameter(empty(*shape, device=device, dtype=dtype))  # noqa: E731
        self.weight_ih = make(gate_size, input_size)
        self.weight_hh = make(gate_size, hidden_size)
        if bias:
            self.bias_ih, self.bias_hh = make(gate_size), make(gate_size)
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    reset_parameters = RNNBase.reset_parameters

    def _state(self, state: Tensor | None, x: Tensor, batched: bool) -> Tensor:
        """A state given as (N, H) ((H,) unbatched), as (N, H); zeros when None."""
        shape = (x.shape[0], self.hidden_size)
        if state is None:
            return Tensor._wrap(x._xp.zeros(shape, dtype=x.dtype))
        expected = shape if batched else shape[1:]
        if tuple(state.shape) != expected:
            raise RuntimeError(f"{type(self).__name__}: expected a hidden state of shape {expected}, "
                               f"got {tuple(state.shape)}")
        return state if batched else ops.unsqueeze(state, 0)

    def _step(self, input: Tensor, hx, lstm: bool):
        name = type(self).__name__
        if input.ndim not in (1, 2) or input.shape[-1] != self.input_size:
            raise RuntimeError(f"{name}: expected input of shape (N, {self.input_size}) or ({self.input_size},), "
                               f"got {tuple(input.shape)}")
        batched = input.ndim == 2
        x = input if batched else ops.unsqueeze(input, 0)
        h0, c0 = _split_state(hx, lstm, name)
        h0, c0 = self._state(h0, x, batched), (self._state(c0, x, batched) if lstm else None)
        gx = ops.unsqueeze(_input_projection(self.mode, x, self.weight_ih, self.bias_ih, self.bias_hh), 0)
        _, h, c = _scan(self.mode, gx, self.weight_hh, self.bias_hh, h0, c0, False)
        if not batched:
            h, c = ops.squeeze(h, 0), (ops.squeeze(c, 0) if lstm else None)
        return (h, c) if lstm else h

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if not self.bias:
            s += ", bias=False"
        if self.mode == "RNN_RELU":
            s += ", nonlinearity='relu'"
        return s


class RNNCell(RNNCellBase):
    """One step of :class:`RNN`: ``h' = tanh(x W_ihᵀ + b_ih + h W_hhᵀ + b_hh)`` (or ReLU).

    >>> import nnkit
    >>> RNNCell(3, 5)(nnkit.randn(2, 3)).shape
    (2, 5)
    """

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, nonlinearity: str = "tanh",
                 device=None, dtype=None):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RNNCell: unknown nonlinearity {nonlinearity!r} (use 'tanh' or 'relu')")
        self.nonlinearity = nonlinearity
        super().__init__("RNN_TANH" if nonlinearity == "tanh" else "RNN_RELU", input_size, hidden_size, bias,
                         device, dtype)

    def forward(self, input: Tensor, hx: Tensor | None = None) -> Tensor:
        return self._step(input, hx, lstm=False)


class LSTMCell(RNNCellBase):
    """One step of :class:`LSTM`: ``forward(input, (h, c)=None)`` returns ``(h', c')``.

    >>> import nnkit
    >>> h, c = LSTMCell(3, 5)(nnkit.randn(2, 3))
    >>> h.shape, c.shape
    ((2, 5), (2, 5))
    """

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, device=None, dtype=None):
        super().__init__("LSTM", input_size, hidden_size, bias, device, dtype)

    def forward(self, input: Tensor, hx: tuple | None = None) -> tuple:
        return self._step(input, hx, lstm=True)


class GRUCell(RNNCellBase):
    """One step of :class:`GRU`.

    >>> import nnkit
    >>> GRUCell(3, 5)(nnkit.randn(3)).shape
    (5,)
    """

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, device=None, dtype=None):
        super().__init__("GRU", input_size, hidden_size, bias, device, dtype)

    def forward(self, input: Tensor, hx: Tensor | None = None) -> Tensor:
        return self._step(input, hx, lstm=False)
