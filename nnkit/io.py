"""Checkpoints: ``save`` and ``load`` nested structures of tensors, arrays and plain values.

A checkpoint is usually a dict such as ``{'model': model.state_dict(),
'optimizer': opt.state_dict(), 'epoch': 12}``: dicts (with str or int keys),
lists, tuples, tensors, NumPy arrays and scalars, ints, floats, strings,
booleans and None, nested at will.

The file is a NumPy ``.npz`` archive with no pickle in it, so loading one
never runs code (PyTorch's pickle-based checkpoints can). The tensors and
arrays are its entries; one more entry, ``__nnkit__``, holds the structure as
a JSON document (UTF-8 bytes in a uint8 array) that refers to the arrays by
name and records what JSON alone would lose: tuples versus lists, tensors
versus arrays, ``requires_grad``, the device, and non-finite floats. Any
NumPy can read the arrays back with ``numpy.load(path, allow_pickle=False)``.

Saving is atomic: the archive is written to a temporary file beside ``path``,
flushed to disk, then renamed onto ``path``, so a crash mid-save leaves the
previous checkpoint intact.

>>> import nnkit, os, tempfile
>>> path = os.path.join(tempfile.mkdtemp(), "ckpt.npz")
>>> nnkit.io.save({"w": nnkit.ones(2), "epoch": 3, "betas": (0.9, 0.999)}, path)
>>> nnkit.io.load(path)
{'w': tensor([1., 1.]), 'epoch': 3, 'betas': (0.9, 0.999)}
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import secrets
import zipfile
import zlib
from typing import Any

import numpy

from . import backend
from .tensor import Tensor

__all__ = ["save", "load"]

_HEADER = "__nnkit__"
_FORMAT = "nnkit.checkpoint"
_VERSION = 1


# --- save -------------------------------------------------------------------

def save(obj: Any, path: str | os.PathLike) -> None:
    """Write ``obj`` to exactly ``path`` (no extension added), atomically, without pickle.

    ``obj`` nests dicts (str or int keys), lists, tuples, tensors, NumPy arrays
    and scalars, ints, floats, strings, booleans and None. A tensor that
    appears twice is stored once and comes back as one tensor. Anything else
    raises TypeError naming where it sits, e.g. ``['model']['x']``.
    """
    path = os.fspath(path)
    arrays: dict[str, numpy.ndarray] = {}
    tree = _Encoder(arrays).encode(obj, "", ())
    header = json.dumps({"format": _FORMAT, "version": _VERSION, "tree": tree}, allow_nan=False)
    arrays[_HEADER] = numpy.frombuffer(header.encode("ascii"), dtype=numpy.uint8)
    _write_atomically(path, arrays)


class _Encoder:
    """Turns an object into a JSON tree, moving its tensors and arrays into ``arrays``."""

    def __init__(self, arrays: dict):
        self.arrays = arrays
        self.names: dict[int, str] = {}  # id of a tensor or array already stored -> its entry

    def encode(self, obj, where: str, open_containers: tuple):
        if obj is None or isinstance(obj, (bool, str)):
            return obj
        if isinstance(obj, Tensor):
            return {"tensor": self.store(obj, obj.array, where), "requires_grad": obj.requires_grad,
                    "device": obj.device.type}
        if isinstance(obj, numpy.ndarray):
            return {"ndarray": self.store(obj, obj, where)}
        if isinstance(obj, numpy.generic):  # before int and float: numpy.float64 is a float
            return {"scalar": self.store(obj, numpy.asarray(obj), where)}
        if isinstance(obj, int):
            return int(obj)
        if isinstance(obj, float):
            return float(obj) if math.isfinite(obj) else {"float": repr(float(obj))}
        if isinstance(obj, (dict, list, tuple)):
            if id(obj) in open_containers:
                raise ValueError(f"save: the object contains itself at {where or 'the top level'}")
            inner = open_containers + (id(obj),)
            if isinstance(obj, dict):
                return {"dict": [[self.key(k, where), self.encode(v, f"{where}[{k!r}]", inner)]
                                 for k, v in obj.items()]}
            items = [self.encode(v, f"{where}[{i}]", inner) for i, v in enumerate(obj)]
            return items if isinstance(obj, list) else {"tuple": items}
        raise TypeError(f"save: cannot store object of type {type(obj).__name__} at {where or 'the top level'}")

    def key(self, key, where: str):
        if isinstance(key, str):
            return key
        if isinstance(key, (int, numpy.integer)) and not isinstance(key, (bool, numpy.bool_)):
            return int(key)
        raise TypeError(f"save: dict keys must be str or int, got {key!r} of type {type(key).__name__} "
                        f"in the dict at {where or 'the top level'}")

    def store(self, owner, array, where: str) -> str:
        if id(owner) not in self.names:
            if array.dtype.hasobject:
                raise TypeError(f"save: cannot store an array of Python objects (dtype object) at "
                                f"{where or 'the top level'}: it would need pickle")
            name = f"a{len(self.arrays)}"
            self.arrays[name] = backend.to_module(array, numpy)
            self.names[id(owner)] = name
        return self.names[id(owner)]


def _write_atomically(path: str, arrays: dict) -> None:
    """Write the archive to a temporary file in ``path``'s directory, sync it, and rename it onto ``path``."""
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"save: cannot write {path!r}: directory {directory!r} does not exist")
    tmp = os.path.join(directory, f".{os.path.basename(path)}.{secrets.token_hex(6)}.tmp")
    try:
        with open(tmp, "xb") as f:
            numpy.savez(f, allow_pickle=False, **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp)
        raise
    _sync_directory(directory)


def _sync_directory(directory: str) -> None:
    """Make the rename itself durable (POSIX); where a directory cannot be opened, the rename still is atomic."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


# --- load -------------------------------------------------------------------

def load(path: str | os.PathLike, map_location=None) -> Any:
    """Read back what :func:`save` wrote: the same nesting, with tensors and arrays.

    Tensors return to the device they were saved from, or to ``map_location``
    (``'cpu'``, ``'cuda'`` or an ``nnkit.device``) when given; dtypes and
    ``requires_grad`` are kept. A file that is not an nnkit checkpoint, or is
    truncated or corrupted, raises ValueError naming it. Nothing in the file
    is ever executed (no pickle).
    """
    path = os.fspath(path)
    target = _target_device(map_location)
    try:
        archive = numpy.load(path, allow_pickle=False)
    except (FileNotFoundError, IsADirectoryError, PermissionError):
        raise
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as e:
        raise _unreadable(path, "it is not an .npz archive, or it is truncated", e) from e
    if not isinstance(archive, numpy.lib.npyio.NpzFile):
        raise ValueError(f"load: {path!r} is not an nnkit checkpoint (it holds a single NumPy array; "
                         f"read it with numpy.load)")
    with archive:
        if _HEADER not in archive.files:
            raise ValueError(f"load: {path!r} is not an nnkit checkpoint (a NumPy .npz archive without the "
                             f"'{_HEADER}' entry that nnkit.save writes; read it with numpy.load)")
        try:
            header = json.loads(archive[_HEADER].tobytes().decode("utf-8"))
            if not isinstance(header, dict) or header.get("format") != _FORMAT:
                raise ValueError("its header is not an nnkit checkpoint header")
            if header.get("version") != _VERSION:
                raise ValueError(f"it has format version {header.get('version')!r}, and this nnkit reads "
                                 f"version {_VERSION}")
            return _Decoder(archive, target).decode(header["tree"])
        except _DeviceError as e:
            raise RuntimeError(f"load: {path!r}: {e}") from None
        except (ValueError, KeyError, TypeError, EOFError, OSError, zipfile.BadZipFile, zlib.error) as e:
            raise _unreadable(path, "it is corrupted, or was not written by nnkit.save", e) from e


def _unreadable(path: str, why: str, error: BaseException) -> ValueError:
    if "pickle" in str(error):  # NumPy refused to unpickle; its advice (allow_pickle=True) is not ours to give
        return ValueError(f"load: cannot read the checkpoint {path!r}: {why}: it holds pickled Python objects "
                          "(or is no NumPy file at all), and nnkit never unpickles")
    return ValueError(f"load: cannot read the checkpoint {path!r}: {why} ({type(error).__name__}: {error})")


class _DeviceError(Exception):
    pass


def _target_device(map_location):
    if map_location is None:
        return None
    if isinstance(map_location, (str, backend.device)):
        return backend.device(map_location)
    raise NotImplementedError(f"load: map_location of type {type(map_location).__name__} is not supported; "
                              "pass a device such as 'cpu' or 'cuda'")


class _Decoder:
    """Rebuilds the object from the JSON tree; an entry named twice gives one array or tensor."""

    def __init__(self, archive, target):
        self.archive = archive
        self.target = target
        self.arrays: dict[str, numpy.ndarray] = {}
        self.tensors: dict[str, Tensor] = {}

    def decode(self, node):
        if node is None or isinstance(node, (bool, int, float, str)):
            return node
        if isinstance(node, list):
            return [self.decode(v) for v in node]
        if not isinstance(node, dict):
            raise TypeError(f"unexpected node {node!r}")
        if "dict" in node:
            return {k: self.decode(v) for k, v in node["dict"]}
        if "tuple" in node:
            return tuple(self.decode(v) for v in node["tuple"])
        if "float" in node:
            if node["float"] not in ("inf", "-inf", "nan"):
                raise ValueError(f"unexpected float {node['float']!r}")
            return float(node["float"])
        if "ndarray" in node:
            return self.array(node["ndarray"])
        if "scalar" in node:
            return self.array(node["scalar"])[()]
        if "tensor" in node:
            name = node["tensor"]
            if name not in self.tensors:
                self.tensors[name] = self.tensor(self.array(name), node)
            return self.tensors[name]
        raise ValueError(f"unexpected node with keys {sorted(node)}")

    def array(self, name: str) -> numpy.ndarray:
        if name not in self.arrays:
            if name not in self.archive.files:
                raise KeyError(f"the array entry {name!r} is missing")
            self.arrays[name] = self.archive[name]
        return self.arrays[name]

    def tensor(self, array: numpy.ndarray, node: dict) -> Tensor:
        device = self.target or backend.device(node["device"])
        try:
            xp = backend.module_for(device)
        except RuntimeError:
            raise _DeviceError(f"it holds tensors for {device}, which is not available here; "
                               "pass map_location='cpu'") from None
        t = Tensor._wrap(backend.to_module(array, xp))
        return t.requires_grad_(True) if node["requires_grad"] else t
