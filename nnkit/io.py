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

Saving is atomic: the archive is written to a temporary file beside ``path``
(``.<name>.nnkit-save-<pid>-<random>.tmp``), flushed to disk, then renamed onto
``path``, so a crash mid-save leaves the previous checkpoint intact; the next
save to the same path removes what a killed save left behind.

Loading trusts nothing in the file: a file that is not a checkpoint, or is
truncated, corrupted or crafted (sizes that the file does not hold, a
compressed entry that would expand without bound, a structure nested
100,000 deep) raises ValueError naming it and the problem.

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
import struct
import threading
import zipfile
import zlib
from typing import Any

import numpy
from numpy.lib import format as npy_format

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
        if len(open_containers) >= _MAX_DEPTH:
            raise ValueError(f"save: the object nests deeper than {_MAX_DEPTH} levels at {where}")
        if obj is None or isinstance(obj, (bool, str)):
            return obj
        if isinstance(obj, Tensor):
            return {"tensor": self.store(obj, obj.array, where), "requires_grad": obj.requires_grad,
                    "device": obj.device.type, **_kind(obj.array)}
        if isinstance(obj, numpy.ndarray):
            return {"ndarray": self.store(obj, obj, where), **_kind(obj)}
        if isinstance(obj, numpy.generic):  # before int and float: numpy.float64 is a float
            return {"scalar": self.store(obj, numpy.asarray(obj), where), **_kind(obj)}
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
        if callable(getattr(obj, "state_dict", None)):  # a Module or an optimizer: PyTorch would pickle it
            raise TypeError(f"save: cannot store a {type(obj).__name__} object at {where or 'the top level'} (nnkit "
                            "stores no Python objects, which loading would have to run); save its state instead: "
                            "nnkit.save(model.state_dict(), path), and later model.load_state_dict(nnkit.load(path))")
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
            array = backend.to_module(array, numpy)
            self.arrays[name] = array.view(numpy.uint16) if _kind(array) else array
            self.names[id(owner)] = name
        return self.names[id(owner)]


def _kind(array) -> dict:
    """What a node adds for an array whose dtype an .npy file cannot name: bfloat16 (ml_dtypes'),
    stored as its 16-bit patterns."""
    return {"dtype": "bfloat16"} if backend.bfloat16 is not None and array.dtype == backend.bfloat16 else {}


# A save writes ".<name>.nnkit-save-<pid>-<random>.tmp" beside <name>, then renames it.
_TMP_MARK, _TMP_END = ".nnkit-save-", ".tmp"
_writing: set[str] = set()  # this process's temporary files being written right now
_writing_lock = threading.Lock()


def _write_atomically(path: str, arrays: dict) -> None:
    """Write the archive to a temporary file in ``path``'s directory, sync it, and rename it onto ``path``.

    A process killed mid-save cannot remove its temporary file; the next save to the
    same path removes such leftovers (those of processes that are no longer running).
    """
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"save: cannot write {path!r}: directory {directory!r} does not exist")
    prefix = f".{os.path.basename(path)}{_TMP_MARK}"
    _remove_stale(directory, prefix)
    tmp = os.path.join(directory, f"{prefix}{os.getpid()}-{secrets.token_hex(4)}{_TMP_END}")
    with _writing_lock:
        _writing.add(tmp)
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
    finally:
        with _writing_lock:
            _writing.discard(tmp)
    _sync_directory(directory)


def _remove_stale(directory: str, prefix: str) -> None:
    """Remove the temporary files that earlier saves to this path left behind when killed."""
    with contextlib.suppress(OSError), os.scandir(directory) as entries:
        for entry in entries:
            name = entry.name
            if not (name.startswith(prefix) and name.endswith(_TMP_END)):
                continue
            pid = name[len(prefix):-len(_TMP_END)].partition("-")[0]
            with _writing_lock:
                busy = entry.path in _writing
            if not busy and not (pid.isdigit() and int(pid) != os.getpid() and _running(int(pid))):
                with contextlib.suppress(OSError):
                    os.remove(entry.path)


def _running(pid: int) -> bool:
    """Whether process ``pid`` exists (so its save may still be under way)."""
    if os.name != "posix":
        return True  # no cheap check: leave the file
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # it exists, but belongs to someone else
        return True
    return True


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

_MAX_DEPTH = 100  # nesting of dicts, lists and tuples; a state dict needs a handful
_MAX_HEADER = 1 << 16  # bytes of an array entry's own .npy header (NumPy writes about 128)
_ZIP_MAGIC, _NPY_MAGIC = b"PK", b"\x93NUMPY"

# What reading a malformed archive can raise, from zipfile, zlib, NumPy's header parser and json.
_MALFORMED = (ValueError, KeyError, TypeError, IndexError, EOFError, OSError, zipfile.BadZipFile, zlib.error,
              NotImplementedError, struct.error, OverflowError, RecursionError)


def load(path: str | os.PathLike, map_location=None, pickle_module=None, *, weights_only: bool | None = None,
         mmap: bool | None = None, max_bytes: int | None = None) -> Any:
    """Read back what :func:`save` wrote: the same nesting, with tensors and arrays.

    Tensors return to the device they were saved from, unless ``map_location``
    says otherwise, as in PyTorch: a device (``'cpu'``, ``'cuda'``, an
    ``nnkit.device``) for all of them; a dict from saved device to device
    (``{'cuda:0': 'cpu'}``); or a function ``f(tensor, location)`` given each
    tensor on the CPU and the name of its saved device, which returns the tensor
    to use (or None for the default). dtypes and ``requires_grad`` are kept.

    Nothing in the file is ever executed: nnkit never unpickles, so
    ``weights_only`` may be True or left out (what PyTorch's safe loading means),
    while ``weights_only=False`` and a ``pickle_module`` raise ValueError.

    Every malformed file (not a checkpoint, truncated, corrupted, or crafted)
    raises ValueError naming it and the problem, before memory is spent on it:
    each entry's declared size must match what the file holds, the structure
    may nest at most 100 deep, and the arrays together may take at most
    ``max_bytes`` once read. By default that is the file's own size, which an
    nnkit checkpoint (stored uncompressed) never exceeds; pass a larger
    ``max_bytes`` to read an archive whose entries are compressed
    (``numpy.savez_compressed``).
    """
    if weights_only is False or pickle_module is not None:
        raise ValueError("load: nnkit never unpickles (a pickle can run any code while it loads), so "
                         f"{'weights_only=False' if weights_only is False else 'a pickle_module'} cannot be honoured; "
                         "nnkit checkpoints hold tensors, arrays and plain values, which load reads without it")
    if mmap:
        raise NotImplementedError("load: mmap=True is not supported; nnkit reads the arrays into memory")
    path = os.fspath(path)
    place = _placement(map_location)
    with open(path, "rb") as f:  # a missing file or a directory raises as open() does
        size = os.fstat(f.fileno()).st_size
        limit = size if max_bytes is None else int(max_bytes)
        magic = f.read(len(_NPY_MAGIC))
        if magic.startswith(_NPY_MAGIC):
            raise ValueError(f"load: {path!r} is not an nnkit checkpoint (it holds a single NumPy array; "
                             f"read it with numpy.load)")
        if not magic.startswith(_ZIP_MAGIC):
            raise ValueError(f"load: cannot read the checkpoint {path!r}: it is not an .npz archive (a pickle, "
                             "such as a torch.save file, cannot be read: nnkit never unpickles)")
        f.seek(0)
        try:
            with zipfile.ZipFile(f) as archive:
                return _Reader(archive, size, limit, place).read(path)
        except _DeviceError as e:
            raise RuntimeError(f"load: {path!r}: {e}") from None
        except _Passthrough as e:
            raise e.error from None
        except _Refused as e:
            raise ValueError(f"load: {path!r}{e}") from None
        except _MALFORMED as e:
            raise _unreadable(path, "it is corrupted, or was not written by nnkit.save", e) from e


def _unreadable(path: str, why: str, error: BaseException) -> ValueError:
    if isinstance(error, RecursionError):
        error = ValueError("it is nested too deeply")
    return ValueError(f"load: cannot read the checkpoint {path!r}: {why} ({type(error).__name__}: {error})")


class _Refused(Exception):
    """A problem found by the checks below; its text follows the path in the ValueError."""


class _Reader:
    """Checks an archive's entries against the file, then reads its header and its arrays."""

    def __init__(self, archive: zipfile.ZipFile, size: int, limit: int, place):
        self.archive, self.place = archive, place
        self.entries: dict[str, zipfile.ZipInfo] = {}
        total = 0
        for info in archive.infolist():
            name = info.filename[:-4] if info.filename.endswith(".npy") else info.filename
            if name in self.entries:
                raise _Refused(f" is corrupted: it has two entries named {name!r}")
            if info.flag_bits & 0x1:
                raise _Refused(f" is not an nnkit checkpoint: its entry {name!r} is encrypted")
            if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
                raise _Refused(f" is not an nnkit checkpoint: its entry {name!r} uses compression method "
                               f"{info.compress_type} (nnkit reads stored and deflated entries)")
            stored = info.compress_type == zipfile.ZIP_STORED
            if (stored and info.compress_size != info.file_size) or info.header_offset + info.compress_size > size:
                raise _Refused(f" is truncated or corrupted: its entry {name!r} declares {info.compress_size} "
                               f"bytes at offset {info.header_offset}, beyond the file's {size} bytes")
            self.entries[name] = info
            total += info.file_size
        if total > limit:
            raise _Refused(f": its entries would take {total} bytes once read, more than the limit of {limit} "
                           "bytes (max_bytes; by default the file's own size, which an nnkit checkpoint never "
                           "exceeds: pass max_bytes to read a compressed archive)")
        self.arrays: dict[str, numpy.ndarray] = {}
        self.tensors: dict[str, Tensor] = {}

    def read(self, path: str):
        if _HEADER not in self.entries:
            raise _Refused(f" is not an nnkit checkpoint (a NumPy .npz archive without the '{_HEADER}' entry "
                           "that nnkit.save writes; read it with numpy.load)")
        raw = self.array(_HEADER)
        if raw.dtype != numpy.uint8 or raw.ndim != 1:
            raise _Refused(f" is corrupted: its header entry is {raw.dtype} of shape {raw.shape}, not bytes")
        header = json.loads(raw.tobytes().decode("utf-8"))
        if not isinstance(header, dict) or header.get("format") != _FORMAT:
            raise ValueError("its header is not an nnkit checkpoint header")
        if header.get("version") != _VERSION:
            raise ValueError(f"it has format version {header.get('version')!r}, and this nnkit reads "
                             f"version {_VERSION}")
        return self.decode(header.get("tree"), 0)

    def decode(self, node, depth: int):
        if node is None or isinstance(node, (bool, int, float, str)):
            return node
        if depth >= _MAX_DEPTH:
            raise _Refused(f": its structure nests deeper than {_MAX_DEPTH} levels")
        if isinstance(node, list):
            return [self.decode(v, depth + 1) for v in node]
        if not isinstance(node, dict) or len(node) - ("dtype" in node) not in (1, 3):
            raise ValueError(f"unexpected node of type {type(node).__name__}")
        if "dict" in node:
            items = node["dict"]
            if not isinstance(items, list) or any(not isinstance(kv, list) or len(kv) != 2 or isinstance(kv[0], bool)
                                                  or not isinstance(kv[0], (str, int)) for kv in items):
                raise ValueError("a dict node is not a list of [key, value] pairs with str or int keys")
            return {k: self.decode(v, depth + 1) for k, v in items}
        if "tuple" in node:
            if not isinstance(node["tuple"], list):
                raise ValueError("a tuple node does not hold a list")
            return tuple(self.decode(v, depth + 1) for v in node["tuple"])
        if "float" in node:
            if node["float"] not in ("inf", "-inf", "nan"):
                raise ValueError(f"unexpected float {node['float']!r}")
            return float(node["float"])
        if "ndarray" in node:
            return self.typed(node["ndarray"], node)
        if "scalar" in node:
            array = self.typed(node["scalar"], node)
            if array.ndim != 0:
                raise ValueError(f"the scalar entry {node['scalar']!r} has shape {array.shape}")
            return array[()]
        if "tensor" in node:
            name = node["tensor"]
            if name not in self.tensors:
                self.tensors[name] = self.tensor(self.typed(name, node), node)
            return self.tensors[name]
        raise ValueError(f"unexpected node with keys {sorted(map(str, node))}")

    def array(self, name) -> numpy.ndarray:
        if not isinstance(name, str) or name not in self.entries:
            raise KeyError(f"the array entry {name!r} is missing")
        if name not in self.arrays:
            self.arrays[name] = self.read_entry(name, self.entries[name])
        return self.arrays[name]

    def typed(self, name, node: dict) -> numpy.ndarray:
        """The array of entry ``name``, read as the dtype its node names (bfloat16 is stored as uint16)."""
        array = self.array(name)
        if "dtype" not in node:
            return array
        if node["dtype"] != "bfloat16" or array.dtype != numpy.uint16:
            raise ValueError(f"the entry {name!r} is {array.dtype}, marked as dtype {node['dtype']!r}")
        if backend.bfloat16 is None:
            raise _Refused(f" holds bfloat16 values (entry {name!r}); install the ml_dtypes package to read them")
        return array.view(backend.bfloat16.dtype)

    def read_entry(self, name: str, info: zipfile.ZipInfo) -> numpy.ndarray:
        """One .npy entry, its declared shape checked against the entry's size before reading."""
        with self.archive.open(info) as member:
            version = npy_format.read_magic(member)
            if version == (1, 0):
                shape, fortran, dtype = npy_format.read_array_header_1_0(member, max_header_size=_MAX_HEADER)
            elif version == (2, 0):
                shape, fortran, dtype = npy_format.read_array_header_2_0(member, max_header_size=_MAX_HEADER)
            else:
                raise ValueError(f"the entry {name!r} has .npy format version {version}")
            if dtype.hasobject:
                raise _Refused(f" holds pickled Python objects in its entry {name!r}, and nnkit never unpickles")
            count = math.prod(shape)
            if dtype.itemsize == 0 or count * dtype.itemsize != info.file_size - member.tell():
                raise _Refused(f" is corrupted: its entry {name!r} declares {count} values of {dtype} (shape "
                               f"{shape}), but holds {info.file_size - member.tell()} bytes of data")
            array = numpy.empty(count, dtype=dtype)
            data = memoryview(array.view(numpy.uint8))
            filled = 0
            while filled < len(data):
                n = member.readinto(data[filled:filled + (1 << 24)])  # in 16 MiB pieces: no second full copy
                if not n:
                    raise EOFError(f"the entry {name!r} ends after {filled} of {len(data)} bytes")
                filled += n
            member.read(1)  # reaching the end checks the entry's CRC
        return array.reshape(shape[::-1]).T if fortran else array.reshape(shape)

    def tensor(self, array: numpy.ndarray, node: dict) -> Tensor:
        requires_grad, device = node.get("requires_grad"), node.get("device")
        if not isinstance(requires_grad, bool) or device not in ("cpu", "cuda"):
            raise ValueError(f"a tensor node has requires_grad={requires_grad!r} and device={device!r}")
        floating = backend.dtype(array.dtype).is_floating_point if array.dtype.kind in "fV" else False
        if (array.dtype.kind not in "biufc" and not floating) or (requires_grad and not floating
                                                                  and array.dtype.kind != "c"):
            raise ValueError(f"a tensor entry has dtype {array.dtype}"
                             + (" and requires_grad" if requires_grad else ""))
        t = self.place(array, device)
        return t.requires_grad_(True) if requires_grad and not t.requires_grad else t


class _DeviceError(Exception):
    pass


class _Passthrough(Exception):
    """An error of the caller's map_location (or about what it returned), raised as it is,
    not taken for a sign of a corrupted file."""

    def __init__(self, error: BaseException):
        super().__init__(str(error))
        self.error = error


def _on(array: numpy.ndarray, device) -> Tensor:
    try:
        xp = backend.module_for(device)
    except RuntimeError:
        raise _DeviceError(f"it holds tensors for {device}, which is not available here; "
                           "pass map_location='cpu'") from None
    return Tensor._wrap(backend.to_module(array, xp))


def _device(spec, what: str):
    try:
        return backend.device(spec)
    except ValueError:
        raise TypeError(f"load: map_location {what} {spec!r} is not a device ('cpu', 'cuda', 'cuda:0'...)") from None


def _placement(map_location):
    """How ``load`` places each tensor: a function of (array, name of the saved device) giving the tensor."""
    if map_location is None:
        return lambda array, saved: _on(array, saved)
    if isinstance(map_location, (str, backend.device)):
        target = _device(map_location, "device")
        return lambda array, saved: _on(array, target)
    if isinstance(map_location, dict):
        table = {_device(k, "key"): _device(v, "value") for k, v in map_location.items()}
        return lambda array, saved: _on(array, table.get(backend.device(saved), saved))
    if callable(map_location):
        def place(array, saved):
            try:
                moved = map_location(Tensor._wrap(array), saved)
            except Exception as e:  # noqa: BLE001 - the caller's own error, passed on unchanged
                raise _Passthrough(e) from e
            if moved is None:
                return _on(array, saved)
            if not isinstance(moved, Tensor):
                raise _Passthrough(TypeError(f"load: map_location returned a {type(moved).__name__}; expected a "
                                             "Tensor or None"))
            return moved
        return place
    raise TypeError(f"load: map_location must be a device, a dict of devices or a function, got "
                    f"{type(map_location).__name__}")
