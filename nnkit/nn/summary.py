"""``summary(model, ...)``: a table of a model's layers, their output shapes and parameter counts.

It answers the questions of chapter 06 (and corrects seed 002): an input layer
has no parameters at all, and a dense layer from n_in to n_out has
n_in · n_out + n_out. With an input, a forward pass (no gradients, evaluation
mode, training flags restored afterwards) records each layer's output shape
through forward hooks.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Any, Sequence

from ..autograd import no_grad
from ..tensor import Tensor, zeros
from .module import Module

__all__ = ["summary", "count_parameters", "ModelSummary", "LayerRow"]


@dataclass
class LayerRow:
    """One line of the table: a module, where it sits, and what it holds."""
    name: str            # its path in the model ("0", "encoder.fc1")
    type: str            # its class name
    depth: int           # 1 for a child of the model, 2 for a grandchild, ...
    output_shape: Any    # a shape tuple, a list of them for several outputs, or None without a forward pass
    trainable: int       # parameters it holds itself that require grad (counted at its first row only)
    frozen: int          # parameters it holds itself that do not


def _shapes(output) -> Any:
    if isinstance(output, Tensor):
        return tuple(output.shape)
    if isinstance(output, (tuple, list)):
        return [_shapes(o) for o in output]
    return None


def _format_shape(shape) -> str:
    if shape is None:
        return "-"
    if isinstance(shape, tuple):
        return "(" + ", ".join(str(s) for s in shape) + ")"
    return "[" + ", ".join(_format_shape(s) for s in shape) + "]"


class ModelSummary:
    """What :func:`summary` returns: ``rows`` (a list of :class:`LayerRow`) and totals.

    ``str()`` gives a text table, and Jupyter shows an HTML one.
    """

    def __init__(self, model: Module, rows: list[LayerRow], input_shape: Any, output_shape: Any):
        self.model_name = type(model).__name__
        self.rows = rows
        self.input_shape = input_shape
        self.output_shape = output_shape
        self.trainable_params, self.total_params = count_parameters(model)
        self.frozen_params = self.total_params - self.trainable_params
        self.param_bytes = sum(p.numel() * p.dtype.itemsize for p in model.parameters())

    _HEADER = ("Layer (type)", "Output shape", "Trainable", "Frozen")

    def _cells(self) -> list[tuple[str, str, str, str]]:
        return [("  " * (r.depth - 1) + f"{r.name} ({r.type})", _format_shape(r.output_shape),
                 f"{r.trainable:,}", f"{r.frozen:,}") for r in self.rows]

    def _totals(self) -> list[str]:
        return [f"Total params: {self.total_params:,}",
                f"Trainable params: {self.trainable_params:,}",
                f"Frozen params: {self.frozen_params:,}",
                f"Params size: {self.param_bytes / 2 ** 20:.2f} MiB"]

    def __str__(self) -> str:
        cells = [self._HEADER] + self._cells()
        widths = [max(len(row[i]) for row in cells) for i in range(4)]

        def line(row):
            return "  ".join([row[0].ljust(widths[0]), row[1].ljust(widths[1])] +
                             [row[i].rjust(widths[i]) for i in (2, 3)])
        rule = "=" * len(line(cells[0]))
        body = [line(row) for row in cells[1:]] or ["(no layers)"]
        return "\n".join([f"{self.model_name}", rule, line(cells[0]), rule.replace("=", "-"), *body, rule,
                          *self._totals()])

    __repr__ = __str__

    def _repr_html_(self) -> str:
        head = "".join(f"<th>{html.escape(h)}</th>" for h in self._HEADER)
        body = "".join(
            "<tr>" + f"<td style='text-align:left;padding-left:{1 + 1.5 * (r.depth - 1)}em'>"
            f"{html.escape(r.name)} ({html.escape(r.type)})</td>"
            f"<td style='text-align:left'>{html.escape(_format_shape(r.output_shape))}</td>"
            f"<td>{r.trainable:,}</td><td>{r.frozen:,}</td></tr>" for r in self.rows)
        totals = "<br>".join(html.escape(t) for t in self._totals())
        return (f"<div><b>{html.escape(self.model_name)}</b><table><thead><tr>{head}</tr></thead>"
                f"<tbody>{body}</tbody></table><p>{totals}</p></div>")


def count_parameters(model: Module) -> tuple[int, int]:
    """``(trainable, total)``: how many numbers ``model`` trains (``requires_grad``) and holds in all.

    A parameter shared by two layers counts once, as in :meth:`Module.parameters`.

    >>> import nnkit
    >>> model = nnkit.nn.Sequential(nnkit.nn.Linear(4, 8), nnkit.nn.Linear(8, 2))
    >>> _ = model[0].requires_grad_(False)
    >>> count_parameters(model)
    (18, 58)
    """
    params = list(model.parameters())
    return sum(p.numel() for p in params if p.requires_grad), sum(p.numel() for p in params)


def _own_counts(module: Module) -> tuple[int, int]:
    params = [p for p in module._parameters.values() if p is not None]
    trainable = sum(p.numel() for p in params if p.requires_grad)
    return trainable, sum(p.numel() for p in params) - trainable


def summary(model: Module, input_size: Sequence[int] | Sequence[Sequence[int]] | None = None,
            input: Tensor | Sequence[Tensor] | None = None, dtype=None, device=None) -> ModelSummary:
    """A table of ``model``'s layers: name, type, output shape, trainable and frozen parameters.

    Give ``input_size`` (the full shape, batch dim included, or a list of shapes for
    several inputs; the input is zeros of ``dtype``) or ``input`` itself to record
    output shapes with one forward pass. Without either, the table lists the
    modules and their parameters only. Each module counts the parameters it holds
    itself, so the column adds up to the total.

    >>> import nnkit
    >>> model = nnkit.nn.Sequential(nnkit.nn.Linear(4, 8), nnkit.nn.ReLU(), nnkit.nn.Linear(8, 2))
    >>> s = summary(model, input_size=(1, 4))
    >>> [(r.name, r.output_shape, r.trainable) for r in s.rows]
    [('0', (1, 8), 40), ('1', (1, 8), 0), ('2', (1, 2), 18)]
    >>> s.total_params
    58
    """
    if input_size is not None and input is not None:
        raise ValueError("summary: give input_size or input, not both")
    names = {id(m): name for name, m in model.named_modules() if name}
    if input is None and input_size is None:
        rows = [LayerRow(name, type(m).__name__, name.count(".") + 1, None, *_own_counts(m))
                for name, m in model.named_modules() if name]
        return ModelSummary(model, rows, None, None)

    if input is None:
        sizes = [input_size] if all(isinstance(s, int) for s in input_size) else list(input_size)
        inputs = tuple(zeros(tuple(s), dtype=dtype, device=device) for s in sizes)
    else:
        inputs = (input,) if isinstance(input, Tensor) else tuple(input)
    rows: list[LayerRow] = []
    counted: set = set()
    handles = []

    def pre_hook(module, args):
        trainable, frozen = (0, 0) if id(module) in counted else _own_counts(module)
        counted.add(id(module))
        name = names[id(module)]
        # A row is added when the module starts (so parents come before children)
        # and gets its output shape when it ends.
        module_rows.setdefault(id(module), []).append(len(rows))
        rows.append(LayerRow(name, type(module).__name__, name.count(".") + 1, None, trainable, frozen))

    def hook(module, args, output):
        rows[module_rows[id(module)].pop()].output_shape = _shapes(output)

    module_rows: dict = {}
    modes = {id(m): m.training for m in model.modules()}
    for module in model.modules():
        if module is not model:
            handles.append(module.register_forward_pre_hook(pre_hook))
            handles.append(module.register_forward_hook(hook))
    try:
        model.eval()
        with no_grad():
            output = model(*inputs)
    finally:
        for h in handles:
            h.remove()
        for m in model.modules():
            m.__dict__["training"] = modes[id(m)]
    input_shape = _shapes(inputs[0]) if len(inputs) == 1 else _shapes(list(inputs))
    return ModelSummary(model, rows, input_shape, _shapes(output))
