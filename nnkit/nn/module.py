"""``Module`` and ``Parameter``: how a network keeps track of its pieces.

A module registers what is assigned to its attributes: a :class:`Parameter`
goes to ``_parameters``, a sub-``Module`` to ``_modules``, and a tensor given to
:meth:`Module.register_buffer` to ``_buffers`` (state that is saved but not
trained, such as BatchNorm's running mean). Everything else (``parameters()``,
``state_dict()``, ``to()``, ``train()``) walks these three ordered dicts, so
their names (``0.weight``, ``bn.running_mean``) are PyTorch's.
"""

from __future__ import annotations

import itertools
from collections import OrderedDict
from typing import Any, Callable, Iterable, Iterator, NamedTuple

import numpy

from .. import backend, ops
from ..autograd import RemovableHandle, no_grad, zero_grads
from ..tensor import Tensor, empty

__all__ = ["Parameter", "Module", "Sequential", "ModuleList", "ModuleDict", "RemovableHandle"]


def check_sizes(layer: str, minimum: int = 0, **sizes) -> None:
    """Raise an error naming ``layer`` and the argument when a size is not an int, or is below ``minimum``.

    >>> check_sizes("Linear", in_features=-1)
    Traceback (most recent call last):
    ...
    ValueError: Linear: in_features must be an int >= 0, got -1
    """
    for name, value in sizes.items():
        if isinstance(value, bool) or not isinstance(value, (int, numpy.integer)):
            raise TypeError(f"{layer}: {name} must be an int, got {value!r} of type {type(value).__name__}")
        if value < minimum:
            raise ValueError(f"{layer}: {name} must be an int >= {minimum}, got {value}")


class Parameter(Tensor):
    """A tensor that a :class:`Module` registers as trainable when assigned to it.

    It shares memory with ``data`` and requires a gradient by default.

    >>> import nnkit
    >>> p = Parameter(nnkit.zeros(2))
    >>> p.requires_grad
    True
    """

    __slots__ = ()

    def __init__(self, data: Tensor | None = None, requires_grad: bool = True):
        super().__init__(empty(0) if data is None else data, requires_grad=requires_grad)

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()


class _IncompatibleKeys(NamedTuple):
    """What ``load_state_dict`` returns: the keys it missed and the keys it did not use."""
    missing_keys: list
    unexpected_keys: list


def _shape(t) -> str:
    return str(list(t.shape))


def _array_for(value, target: Tensor):
    """``value`` (an nnkit tensor, a NumPy or CuPy array, anything with ``__array__``,
    a torch tensor included) as an array in ``target``'s array module."""
    array = value.array if isinstance(value, Tensor) else value
    if not (isinstance(array, numpy.ndarray) or backend.xp_of(array) is not numpy):
        array = numpy.asarray(array)
    return backend.to_module(array, target._xp)


def _parse_to(args, kwargs) -> tuple:
    """``to``'s arguments as (device or None, dtype or None); a module takes float dtypes only."""
    dev, dtype = ops.base.to_arguments(args, kwargs)
    if dtype is not None and not (backend.is_floating(dtype) or dtype.kind == "c"):
        raise TypeError(f"Module.to: only floating-point dtypes are accepted, got {dtype}")
    return (None if dev is None else backend.device(dev)), dtype


class Module:
    """The base class of every layer and model.

    Subclasses call ``super().__init__()`` first, assign parameters and
    submodules as attributes, and define ``forward``; calling the module runs
    ``forward`` (and any hooks).

    >>> import nnkit
    >>> class Affine(Module):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.scale = Parameter(nnkit.ones(3))
    ...     def forward(self, x):
    ...         return x * self.scale
    >>> [name for name, _ in Affine().named_parameters()]
    ['scale']
    """

    training: bool

    def __init__(self) -> None:
        d = self.__dict__
        d["training"] = True
        d["_parameters"] = OrderedDict()
        d["_buffers"] = OrderedDict()
        d["_non_persistent_buffers_set"] = set()
        d["_modules"] = OrderedDict()
        d["_forward_pre_hooks"] = OrderedDict()
        d["_forward_hooks"] = OrderedDict()

    def forward(self, *args, **kwargs):
        raise NotImplementedError(f'Module [{type(self).__name__}] is missing the required "forward" function')

    def __call__(self, *args, **kwargs):
        if not (self._forward_pre_hooks or self._forward_hooks):
            return self.forward(*args, **kwargs)
        for hook in list(self._forward_pre_hooks.values()):
            result = hook(self, args)
            if result is not None:
                args = result if isinstance(result, tuple) else (result,)
        output = self.forward(*args, **kwargs)
        for hook in list(self._forward_hooks.values()):
            result = hook(self, args, output)
            if result is not None:
                output = result
        return output

    # --- hooks -------------------------------------------------------------
    def register_forward_pre_hook(self, hook: Callable) -> RemovableHandle:
        """Call ``hook(module, args)`` before each forward; a non-None result replaces the args."""
        handle = RemovableHandle(self._forward_pre_hooks)
        self._forward_pre_hooks[handle.id] = hook
        return handle

    def register_forward_hook(self, hook: Callable) -> RemovableHandle:
        """Call ``hook(module, args, output)`` after each forward; a non-None result replaces the output."""
        handle = RemovableHandle(self._forward_hooks)
        self._forward_hooks[handle.id] = hook
        return handle

    # --- registration ------------------------------------------------------
    def _check_name(self, name: str, what: str) -> None:
        if "_parameters" not in self.__dict__:
            raise AttributeError(f"cannot assign {what} before Module.__init__() call")
        if not isinstance(name, str):
            raise TypeError(f"{what} name should be a string, got {type(name).__name__}")
        if name == "" or "." in name:
            raise KeyError(f"{what} name can't be empty or contain \".\", got {name!r}")

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        """Register ``param`` (or ``None``, for an optional parameter such as a missing bias) as ``name``."""
        self._check_name(name, "parameter")
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"cannot assign '{type(param).__name__}' object to parameter '{name}' "
                            "(nnkit.nn.Parameter or None required)")
        if name in self.__dict__ or name in self._modules or name in self._buffers:
            raise KeyError(f"attribute '{name}' already exists")
        self._parameters[name] = param

    def register_buffer(self, name: str, tensor: Tensor | None, persistent: bool = True) -> None:
        """Register ``tensor`` as state that is not trained; ``persistent`` ones go into ``state_dict``."""
        self._check_name(name, "buffer")
        if tensor is not None and not isinstance(tensor, Tensor):
            raise TypeError(f"cannot assign '{type(tensor).__name__}' object to buffer '{name}' "
                            "(nnkit Tensor or None required)")
        if name in self.__dict__ or name in self._modules or name in self._parameters:
            raise KeyError(f"attribute '{name}' already exists")
        self._buffers[name] = tensor
        if persistent:
            self._non_persistent_buffers_set.discard(name)
        else:
            self._non_persistent_buffers_set.add(name)

    def add_module(self, name: str, module: "Module | None") -> None:
        """Register ``module`` as the child ``name``."""
        self._check_name(name, "module")
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"{type(module).__name__} is not a Module subclass")
        if name in self.__dict__ or name in self._parameters or name in self._buffers:
            raise KeyError(f"attribute '{name}' already exists")
        self._modules[name] = module

    register_module = add_module

    def __setattr__(self, name: str, value: Any) -> None:
        d = self.__dict__
        if isinstance(value, Parameter):
            self._check_name(name, "parameter")
            self._forget(name, keep="_parameters")
            self._parameters[name] = value
        elif isinstance(value, Module):
            self._check_name(name, "module")
            self._forget(name, keep="_modules")
            self._modules[name] = value
        elif "_parameters" in d and name in d["_parameters"]:
            if value is not None:
                raise TypeError(f"cannot assign '{type(value).__name__}' as parameter '{name}' "
                                "(nnkit.nn.Parameter or None expected)")
            d["_parameters"][name] = None
        elif "_modules" in d and name in d["_modules"]:
            if value is not None:
                raise TypeError(f"cannot assign '{type(value).__name__}' as child module '{name}' "
                                "(nnkit.nn.Module or None expected)")
            d["_modules"][name] = None
        elif "_buffers" in d and name in d["_buffers"]:
            if value is not None and not isinstance(value, Tensor):
                raise TypeError(f"cannot assign '{type(value).__name__}' as buffer '{name}' "
                                "(nnkit Tensor or None expected)")
            d["_buffers"][name] = value
        else:
            object.__setattr__(self, name, value)

    def _forget(self, name: str, keep: str = "") -> None:
        """Drop ``name`` from wherever it is registered, except from the registry ``keep``
        (where reassigning it keeps its place in the order)."""
        self.__dict__.pop(name, None)
        for registry in ("_parameters", "_modules", "_buffers"):
            if registry != keep:
                getattr(self, registry).pop(name, None)
        self._non_persistent_buffers_set.discard(name)

    def __getattr__(self, name: str) -> Any:
        # Only called when normal lookup fails: the registered parameters, buffers and modules.
        d = self.__dict__
        for registry in ("_parameters", "_buffers", "_modules"):
            if registry in d and name in d[registry]:
                return d[registry][name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __delattr__(self, name: str) -> None:
        if name in self._parameters or name in self._buffers or name in self._modules:
            self._forget(name)
        else:
            object.__delattr__(self, name)

    def __dir__(self) -> list:
        return sorted(set(super().__dir__()) | set(self._parameters) | set(self._buffers) | set(self._modules))

    # --- walking the tree ---------------------------------------------------
    def named_modules(self, memo: set | None = None, prefix: str = "", remove_duplicate: bool = True
                      ) -> Iterator[tuple[str, "Module"]]:
        """Yield ``(name, module)`` for this module (name ``prefix``) and every descendant, depth first."""
        if memo is None:
            memo = set()
        if remove_duplicate:
            if id(self) in memo:
                return
            memo.add(id(self))
        yield prefix, self
        for name, module in self._modules.items():
            if module is not None:
                yield from module.named_modules(memo, prefix + ("." if prefix else "") + name, remove_duplicate)

    def modules(self) -> Iterator["Module"]:
        """Yield this module and every module below it, each once."""
        for _, module in self.named_modules():
            yield module

    def named_children(self) -> Iterator[tuple[str, "Module"]]:
        """Yield ``(name, module)`` for the direct submodules."""
        seen = set()
        for name, module in self._modules.items():
            if module is not None and id(module) not in seen:
                seen.add(id(module))
                yield name, module

    def children(self) -> Iterator["Module"]:
        """Yield the direct submodules."""
        for _, module in self.named_children():
            yield module

    def _named_members(self, registry: str, prefix: str, recurse: bool, remove_duplicate: bool = True):
        seen = set()
        modules = self.named_modules(prefix=prefix, remove_duplicate=remove_duplicate) if recurse \
            else [(prefix, self)]
        for module_prefix, module in modules:
            for name, value in getattr(module, registry).items():
                if value is None or (remove_duplicate and id(value) in seen):
                    continue
                seen.add(id(value))
                yield module_prefix + ("." if module_prefix else "") + name, value

    def named_parameters(self, prefix: str = "", recurse: bool = True, remove_duplicate: bool = True
                         ) -> Iterator[tuple[str, Parameter]]:
        """Yield ``(name, parameter)``; a parameter shared by two modules comes once, under its first name.

        >>> import nnkit
        >>> model = Sequential(nnkit.nn.Linear(2, 3), nnkit.nn.ReLU(), nnkit.nn.Linear(3, 1))
        >>> [name for name, _ in model.named_parameters()]
        ['0.weight', '0.bias', '2.weight', '2.bias']
        """
        return self._named_members("_parameters", prefix, recurse, remove_duplicate)

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        """Yield every parameter (only this module's own with ``recurse=False``), each once:
        what an optimizer is given."""
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_buffers(self, prefix: str = "", recurse: bool = True, remove_duplicate: bool = True
                      ) -> Iterator[tuple[str, Tensor]]:
        """Yield ``(name, buffer)`` for the registered buffers (running statistics and the like)."""
        return self._named_members("_buffers", prefix, recurse, remove_duplicate)

    def buffers(self, recurse: bool = True) -> Iterator[Tensor]:
        """Yield every registered buffer, each once."""
        for _, b in self.named_buffers(recurse=recurse):
            yield b

    def get_submodule(self, target: str) -> "Module":
        """The submodule at the dotted path ``target`` (``""`` is this module)."""
        module = self
        for part in target.split(".") if target else []:
            child = module._modules.get(part)
            if not isinstance(child, Module):
                raise AttributeError(f"{type(module).__name__} has no submodule '{part}' (looking up '{target}')")
            module = child
        return module

    def get_parameter(self, target: str) -> Parameter:
        """The parameter at the dotted path ``target`` (``"encoder.0.weight"``)."""
        module_path, _, name = target.rpartition(".")
        module = self.get_submodule(module_path)
        if name not in module._parameters:
            raise AttributeError(f"{type(module).__name__} has no parameter '{name}' (looking up '{target}')")
        return module._parameters[name]

    # --- modes and bulk changes ----------------------------------------------
    def train(self, mode: bool = True) -> "Module":
        """Set training mode (``mode=True``) or evaluation mode on this module and all below it."""
        if not isinstance(mode, bool):
            raise ValueError(f"train: mode is expected to be a boolean, got {type(mode).__name__}")
        self.__dict__["training"] = mode
        for module in self.children():  # through train(), so that a subclass may override it
            module.train(mode)
        return self

    def eval(self) -> "Module":
        """Evaluation mode: Dropout passes its input through, BatchNorm uses its running statistics."""
        return self.train(False)

    def requires_grad_(self, requires_grad: bool = True) -> "Module":
        """Freeze (``False``) or unfreeze every parameter."""
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Reset the gradients: to ``None`` by default, or to zeros."""
        zero_grads(self.parameters(), set_to_none)

    def apply(self, fn: Callable[["Module"], Any]) -> "Module":
        """Call ``fn`` on every submodule (children first) and on this module; return this module.

        >>> import nnkit
        >>> def init_weights(m):
        ...     if isinstance(m, nnkit.nn.Linear):
        ...         nnkit.nn.init.zeros_(m.weight)
        >>> model = Sequential(nnkit.nn.Linear(2, 2)).apply(init_weights)
        >>> float(model[0].weight.abs().sum())
        0.0
        """
        for module in self.children():
            module.apply(fn)
        fn(self)
        return self

    def _apply_to_tensors(self, convert: Callable) -> "Module":
        """Replace the values of every parameter, gradient and buffer by ``convert(array)``, in
        place: the Parameter objects stay the same, so an optimizer holding them still works."""
        with no_grad():
            for module in self.modules():
                for t in itertools.chain(module._parameters.values(), module._buffers.values()):
                    if t is None:
                        continue
                    t.array = convert(t.array)
                    if t.grad is not None:
                        t.grad.array = convert(t.grad.array)
        return self

    def to(self, *args, **kwargs) -> "Module":
        """Move (``to("cuda")``) and/or cast (``to(nnkit.float64)``) the parameters and buffers, in place.

        Only floating-point tensors are cast; integer buffers (``num_batches_tracked``) keep their dtype.
        """
        dev, dtype = _parse_to(args, kwargs)
        xp = backend.module_for(dev) if dev is not None else None

        def convert(array):
            if xp is not None:
                array = backend.to_module(array, xp)
            if dtype is not None and (backend.is_floating(array.dtype) or array.dtype.kind == "c") \
                    and array.dtype != dtype:
                array = array.astype(dtype)
            return array
        return self._apply_to_tensors(convert)

    def cpu(self) -> "Module":
        """Move every parameter and buffer to the CPU, in place."""
        return self.to("cpu")

    def cuda(self, device: Any = None) -> "Module":
        """Move every parameter and buffer to the GPU, in place."""
        if isinstance(device, int):
            device = backend.device("cuda", device)
        return self.to("cuda" if device is None else device)

    def float(self) -> "Module":
        """Cast the floating-point parameters and buffers to float32, in place."""
        return self.to(backend.float32)

    def double(self) -> "Module":
        """Cast the floating-point parameters and buffers to float64, in place (for gradchecks)."""
        return self.to(backend.float64)

    def half(self) -> "Module":
        """Cast the floating-point parameters and buffers to float16, in place."""
        return self.to(backend.float16)

    def bfloat16(self) -> "Module":
        """Cast the floating-point parameters and buffers to bfloat16 (needs ml_dtypes), in place."""
        return self.to(backend.bfloat16)

    # --- saving and loading --------------------------------------------------
    def state_dict(self, *, destination: OrderedDict | None = None, prefix: str = "", keep_vars: bool = False
                   ) -> OrderedDict:
        """An ordered dict from names (``"0.weight"``, ``"bn.running_mean"``) to tensors.

        Parameters come first, then persistent buffers, module by module, as in
        PyTorch. The tensors share memory with the module; they are detached
        unless ``keep_vars``.

        >>> import nnkit
        >>> list(nnkit.nn.BatchNorm1d(3).state_dict())
        ['weight', 'bias', 'running_mean', 'running_var', 'num_batches_tracked']
        """
        destination = OrderedDict() if destination is None else destination
        for name, p in self._parameters.items():
            if p is not None:
                destination[prefix + name] = p if keep_vars else p.detach()
        for name, b in self._buffers.items():
            if b is not None and name not in self._non_persistent_buffers_set:
                destination[prefix + name] = b if keep_vars else b.detach()
        for name, module in self._modules.items():
            if module is not None:
                module.state_dict(destination=destination, prefix=prefix + name + ".", keep_vars=keep_vars)
        return destination

    def load_state_dict(self, state_dict: dict, strict: bool = True, assign: bool = False) -> _IncompatibleKeys:
        """Copy values from ``state_dict`` into this module's parameters and buffers, in place.

        Values may be nnkit tensors, NumPy arrays or anything NumPy can convert
        (a torch tensor's ``state_dict`` too). With ``strict`` a missing or an
        unexpected key is an error; a shape mismatch is always one. Returns the
        named tuple ``(missing_keys, unexpected_keys)``.
        """
        if assign:
            raise NotImplementedError("load_state_dict: assign=True is not supported; values are copied in place")
        if not hasattr(state_dict, "keys"):
            raise TypeError(f"load_state_dict: expected a dict-like state_dict, got {type(state_dict).__name__}")
        own = self.state_dict(keep_vars=True)
        missing = [k for k in own if k not in state_dict]
        unexpected = [k for k in state_dict if k not in own]
        errors = []
        if strict:
            if unexpected:
                errors.append("Unexpected key(s) in state_dict: " + ", ".join(f'"{k}"' for k in unexpected) + ".")
            if missing:
                errors.append("Missing key(s) in state_dict: " + ", ".join(f'"{k}"' for k in missing) + ".")
        arrays = {}
        for key, target in own.items():
            if key not in state_dict:
                continue
            array = _array_for(state_dict[key], target)
            if tuple(array.shape) != tuple(target.shape):
                errors.append(f"size mismatch for {key}: copying a param with shape {_shape(array)} from "
                              f"checkpoint, the shape in current model is {_shape(target)}.")
            else:
                arrays[key] = array
        if errors:
            raise RuntimeError(f"Error(s) in loading state_dict for {type(self).__name__}:\n\t"
                               + "\n\t".join(errors))
        for key, array in arrays.items():
            own[key].array[...] = array  # casts to the model's dtype, as copy_ does
        return _IncompatibleKeys(missing, unexpected)

    # --- printing ------------------------------------------------------------
    def extra_repr(self) -> str:
        """The text inside this module's parentheses in ``repr``; layers override it."""
        return ""

    def _get_name(self) -> str:
        return type(self).__name__

    def __repr__(self) -> str:
        lines = self.extra_repr().split("\n") if self.extra_repr() else []
        for name, module in self._modules.items():
            child = repr(module).replace("\n", "\n  ")
            lines.append(f"({name}): {child}")
        if not self._modules and len(lines) <= 1:
            return f"{self._get_name()}({lines[0] if lines else ''})"
        return self._get_name() + "(\n  " + "\n  ".join(lines) + "\n)"


def _renumber(container: Module, modules: list) -> None:
    """Hold ``modules`` under the names ``"0"``, ``"1"``, ... (after an insertion or a deletion)."""
    container._modules.clear()
    for i, m in enumerate(modules):
        container.add_module(str(i), m)


class Sequential(Module):
    """Modules called one after another, each on the previous one's output.

    Built from modules (named ``"0"``, ``"1"``, ...) or from an ``OrderedDict`` of named ones.

    >>> import nnkit
    >>> model = Sequential(nnkit.nn.Linear(4, 8), nnkit.nn.ReLU(), nnkit.nn.Linear(8, 2))
    >>> model(nnkit.randn(5, 4)).shape
    (5, 2)
    """

    def __init__(self, *args: Module):
        super().__init__()
        if len(args) == 1 and isinstance(args[0], OrderedDict):
            for name, module in args[0].items():
                self.add_module(name, module)
        else:
            for i, module in enumerate(args):
                self.add_module(str(i), module)

    def forward(self, input):
        for module in self._modules.values():
            input = module(input)
        return input

    def _key(self, idx: int) -> str:
        n = len(self._modules)
        if not -n <= idx < n:
            raise IndexError(f"index {idx} is out of range for {type(self).__name__} of length {n}")
        return list(self._modules)[idx % n]

    def __getitem__(self, idx: int | slice) -> Module:
        if isinstance(idx, slice):
            return type(self)(OrderedDict(list(self._modules.items())[idx]))
        return self._modules[self._key(idx)]

    def __setitem__(self, idx: int, module: Module) -> None:
        self.add_module(self._key(idx), module)

    def __delitem__(self, idx: int | slice) -> None:
        """Delete, then rename the rest ``"0"``, ``"1"``, ... (as PyTorch does, even for named modules)."""
        keys = list(self._modules)[idx] if isinstance(idx, slice) else [self._key(idx)]
        _renumber(self, [m for k, m in self._modules.items() if k not in keys])

    def pop(self, idx: int | slice) -> Module:
        """Remove and return the module(s) at ``idx``; the rest are renumbered."""
        module = self[idx]
        del self[idx]
        return module

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())

    def append(self, module: Module) -> "Sequential":
        """Add ``module`` at the end (named by its position)."""
        self.add_module(str(len(self)), module)
        return self

    def extend(self, modules: Iterable[Module]) -> "Sequential":
        """Append each of ``modules``."""
        for module in modules:
            self.append(module)
        return self

    def insert(self, index: int, module: Module) -> "Sequential":
        """Insert ``module`` before position ``index``; the modules are renamed ``"0"``, ``"1"``, ..."""
        n = len(self._modules)
        if not -n <= index <= n:
            raise IndexError(f"index {index} is out of range for Sequential of length {n}")
        modules = list(self._modules.values())
        modules.insert(index, module)
        _renumber(self, modules)
        return self


class ModuleList(Module):
    """A list of modules whose parameters the parent module sees (a plain list would hide them).

    >>> import nnkit
    >>> layers = ModuleList([nnkit.nn.Linear(3, 3) for _ in range(2)])
    >>> len(list(layers.parameters()))
    4
    """

    def __init__(self, modules: Iterable[Module] | None = None):
        super().__init__()
        if modules is not None:
            self.extend(modules)

    def _index(self, idx: int) -> str:
        n = len(self._modules)
        if not -n <= idx < n:
            raise IndexError(f"index {idx} is out of range for ModuleList of length {n}")
        return str(idx % n)

    def __getitem__(self, idx: int | slice):
        if isinstance(idx, slice):
            return type(self)(list(self._modules.values())[idx])
        return self._modules[self._index(idx)]

    def __setitem__(self, idx: int, module: Module) -> None:
        self.add_module(self._index(idx), module)

    def __delitem__(self, idx: int | slice) -> None:
        modules = list(self._modules.values())
        del modules[idx if isinstance(idx, slice) else int(self._index(idx))]
        _renumber(self, modules)

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())

    def __iadd__(self, modules: Iterable[Module]) -> "ModuleList":
        return self.extend(modules)

    def append(self, module: Module) -> "ModuleList":
        """Add ``module`` at the end."""
        self.add_module(str(len(self)), module)
        return self

    def extend(self, modules: Iterable[Module]) -> "ModuleList":
        """Append each of ``modules``."""
        for module in modules:
            self.append(module)
        return self

    def insert(self, index: int, module: Module) -> None:
        """Insert ``module`` before position ``index``; the modules are renumbered."""
        modules = list(self._modules.values())
        modules.insert(index, module)
        _renumber(self, modules)

    def pop(self, idx: int | slice):
        """Remove and return the module(s) at ``idx``; the rest are renumbered."""
        module = self[idx]
        del self[idx]
        return module

    def forward(self, *args, **kwargs):
        raise NotImplementedError("ModuleList has no forward: iterate over it and call its modules")


class ModuleDict(Module):
    """A dict of modules, registered under their keys.

    >>> import nnkit
    >>> heads = ModuleDict({"a": nnkit.nn.Linear(2, 1), "b": nnkit.nn.Linear(2, 3)})
    >>> heads["b"].out_features
    3
    """

    def __init__(self, modules: dict | Iterable[tuple[str, Module]] | None = None):
        super().__init__()
        if modules is not None:
            self.update(modules)

    def __getitem__(self, key: str) -> Module:
        return self._modules[key]

    def __setitem__(self, key: str, module: Module) -> None:
        self.add_module(key, module)

    def __delitem__(self, key: str) -> None:
        del self._modules[key]

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[str]:
        return iter(self._modules)

    def __contains__(self, key: str) -> bool:
        return key in self._modules

    def keys(self):
        """The names, in insertion order."""
        return self._modules.keys()

    def items(self):
        """The (name, module) pairs, in insertion order."""
        return self._modules.items()

    def values(self):
        """The modules, in insertion order."""
        return self._modules.values()

    def pop(self, key: str) -> Module:
        """Remove and return the module named ``key``."""
        return self._modules.pop(key)

    def clear(self) -> None:
        """Remove every module."""
        self._modules.clear()

    def update(self, modules: dict | Iterable[tuple[str, Module]]) -> None:
        """Add (or replace) modules from a dict or from (name, module) pairs."""
        for key, module in (modules.items() if hasattr(modules, "items") else modules):
            self[key] = module

    def forward(self, *args, **kwargs):
        raise NotImplementedError("ModuleDict has no forward: call the modules it holds")
