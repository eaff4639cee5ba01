"""Crafted and damaged checkpoints: every one ends in ValueError or a correct load (issue 10).

A fuzz test mutates a real checkpoint thousands of times (seeded: a failure is
reproducible from its case number), and targeted tests build the files a hostile
sender would: deep nesting, declared sizes far beyond the file, compression bombs.
"""

from __future__ import annotations

import io
import json
import math
import os
import struct
import subprocess
import sys
import time
import zipfile
import zlib

import numpy as np
import pytest

import nnkit
from nnkit import nn, optim
from nnkit.io import load, save


def _checkpoint() -> dict:
    nnkit.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 3))
    opt = optim.Adam(model.parameters(), lr=1e-3)
    model(nnkit.randn(4, 6)).sum().backward()
    opt.step()
    return {"model": model.state_dict(), "optimizer": opt.state_dict(), "epoch": 7, "loss": float("nan"),
            "history": [0.5, 0.25], "betas": (0.9, 0.999), "name": "run-1", "mask": np.arange(5) > 2,
            "scale": np.float32(2.5), "done": None}


def _same(a, b) -> bool:
    if isinstance(a, nnkit.Tensor):
        return (isinstance(b, nnkit.Tensor) and a.dtype == b.dtype and a.shape == b.shape
                and np.array_equal(a.detach().numpy(), b.detach().numpy(), equal_nan=True)
                and a.requires_grad == b.requires_grad)
    if isinstance(a, np.ndarray):
        return isinstance(b, np.ndarray) and a.dtype == b.dtype and np.array_equal(a, b)
    if isinstance(a, dict):
        return isinstance(b, dict) and list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, float) and math.isnan(a):
        return isinstance(b, float) and math.isnan(b)
    return type(a) is type(b) and a == b


def _members(data: bytes) -> list[tuple[str, bytes]]:
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        return [(i.filename, z.read(i)) for i in z.infolist()]


def _zip(members, compression=zipfile.ZIP_STORED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression) as z:
        for name, payload in members:
            z.writestr(name, payload)
    return buf.getvalue()


def _npy(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array(buf, array, allow_pickle=False)
    return buf.getvalue()


def _header(tree) -> bytes:
    text = json.dumps({"format": "nnkit.checkpoint", "version": 1, "tree": tree})
    return _npy(np.frombuffer(text.encode(), np.uint8))


def _crafted_tree(rng):
    """A header tree that nnkit.save would never write (or, now and then, one it would)."""
    def pick(options):
        return options[int(rng.integers(len(options)))]

    kind = rng.integers(9)
    if kind == 0:
        depth = pick([99, 101, 300])
        return json.loads("[" * depth + "]" * depth)
    if kind == 1:
        return {"tensor": pick(["a0", "a1", "a99", 3, None, ["a0"]]), "requires_grad": pick([True, False, 1]),
                "device": pick(["cpu", "tpu", 1])}
    if kind == 2:
        return {"dict": [[pick(["k", 1, 1.5, True, None, ["k"]]), 1]] * int(rng.integers(1, 3))}
    if kind == 3:
        return {"dict": pick([5, "x", [[1]], [[1, 2, 3]], None])}
    if kind == 4:
        return {"scalar": pick(["a0", "a1", 0])}
    if kind == 5:
        return {"float": pick(["inf", "1e999", "nan ", 3, None])}
    if kind == 6:
        return {"tuple": pick([5, "ab", None, {"a": 1}])}
    if kind == 7:
        return pick([{"ndarray": "a1", "extra": 1}, {}, {"what": 1}, 1e308, "s", {"ndarray": ["a1"]}])
    return {"tensor": "a0", "requires_grad": True, "device": "cpu"}  # a0 holds int64


def _mutate(data: bytes, rng, members) -> tuple[bytes, bool]:
    """One mutation of ``data``, and whether it is still ``data``'s checkpoint if it loads (bytes
    changed in place) or may be another well-formed one (a rebuilt archive: members renamed,
    dropped or crafted)."""
    kind = rng.integers(8)
    out = bytearray(data)
    if kind == 0:  # bit flips
        for _ in range(int(rng.integers(1, 9))):
            out[rng.integers(len(out))] ^= 1 << int(rng.integers(8))
    elif kind == 1:  # a run of random bytes
        start = int(rng.integers(len(out)))
        n = int(rng.integers(1, 64))
        out[start:start + n] = rng.integers(0, 256, size=len(out[start:start + n]), dtype=np.uint8).tobytes()
    elif kind == 2:  # truncation
        out = out[:int(rng.integers(len(out)))]
    elif kind == 3:  # bytes inserted or deleted
        at = int(rng.integers(len(out)))
        if rng.integers(2):
            out[at:at] = rng.integers(0, 256, size=int(rng.integers(1, 16)), dtype=np.uint8).tobytes()
        else:
            del out[at:at + int(rng.integers(1, 16))]
    elif kind == 4:  # members swapped: names exchanged, one member's bytes under another's name
        names = [n for n, _ in members]
        payloads = [p for _, p in members]
        i, j = rng.choice(len(members), size=2, replace=False)
        if rng.integers(2):
            names[i], names[j] = names[j], names[i]
        else:
            payloads[i] = payloads[j]
        return _zip(list(zip(names, payloads))), False
    elif kind == 5:  # a member dropped or duplicated
        chosen = list(members)
        i = int(rng.integers(len(chosen)))
        if rng.integers(2):
            del chosen[i]
        else:
            chosen.append(chosen[i])
        return _zip(chosen), False
    elif kind == 6:  # a crafted header
        arrays = [("a0.npy", _npy(np.arange(3))), ("a1.npy", _npy(np.ones((2, 2))))]
        return _zip(arrays + [("__nnkit__.npy", _header(_crafted_tree(rng)))]), False
    else:  # a crafted array header: a declared shape that the entry does not hold
        shape = tuple(int(s) for s in rng.choice([0, 1, 3, 10**6, 10**12, 2**62], size=int(rng.integers(1, 4))))
        head = f"{{'descr': '<f8', 'fortran_order': False, 'shape': {shape}, }}".encode()
        head = b"\x93NUMPY\x01\x00" + struct.pack("<H", len(head) + 1) + head + b"\n"
        body = head + bytes(int(rng.integers(0, 64)))
        named = [(n, body if n == "a0.npy" else p) for n, p in members]
        return _zip(named), False
    return bytes(out), True


@pytest.mark.filterwarnings("ignore:Duplicate name")  # zipfile's, while building the duplicated members
def test_thousands_of_mutations_end_in_value_error_or_a_correct_load(tmp_path):
    original = _checkpoint()
    path = tmp_path / "ckpt"
    save(original, path)
    data = path.read_bytes()
    members = _members(data)
    rng = np.random.default_rng(20261204)
    outcomes = {"loaded": 0, "refused": 0}
    start = time.perf_counter()
    for case in range(3000):
        mutated, same_checkpoint = _mutate(data, rng, members)
        path.write_bytes(mutated)
        try:
            result = load(path)
        except ValueError as e:
            assert str(path) in str(e), f"case {case}: {e}"
            outcomes["refused"] += 1
            continue
        except Exception as e:  # noqa: BLE001 - the point of the test
            pytest.fail(f"case {case}: {type(e).__name__}: {e}")
        # It loaded: with bytes changed in place, it must be the checkpoint itself (a flip in a
        # field that nothing reads, a zip comment, a timestamp).
        assert not same_checkpoint or _same(result, original), f"case {case} loaded something else"
        outcomes["loaded"] += 1
    assert outcomes["refused"] > 2500 and time.perf_counter() - start < 60


def test_a_header_nested_100_000_deep_is_refused(tmp_path):
    path = tmp_path / "deep"
    depth = 100_000
    text = '{"format": "nnkit.checkpoint", "version": 1, "tree": ' + "[" * depth + "]" * depth + "}"
    path.write_bytes(_zip([("__nnkit__.npy", _npy(np.frombuffer(text.encode(), np.uint8)))]))
    with pytest.raises(ValueError, match="deep.*nested too deeply"):
        load(path)
    shallow = json.loads("[" * 150 + "]" * 150)
    path.write_bytes(_zip([("__nnkit__.npy", _header(shallow))]))
    with pytest.raises(ValueError, match="deeper than 100 levels"):
        load(path)
    with pytest.raises(ValueError, match="deeper than 100 levels"):
        save(shallow, tmp_path / "deep2")


def test_an_entry_declaring_10_to_the_12_floats_is_refused_before_reading(tmp_path):
    path = tmp_path / "huge"
    head = b"{'descr': '<f8', 'fortran_order': False, 'shape': (1000000000000,), }"
    head = b"\x93NUMPY\x01\x00" + struct.pack("<H", len(head) + 1) + head + b"\n"
    path.write_bytes(_zip([("a0.npy", head + bytes(80)), ("__nnkit__.npy", _header({"ndarray": "a0"}))]))
    with pytest.raises(ValueError, match=r"huge'.*entry 'a0' declares 1000000000000 values of float64"):
        load(path)


def _deflate_bomb() -> bytes:
    """An archive whose entry 'a0' is 1 GiB of float64 zeros deflated into about 1 MB.

    Deflating 1 GiB takes seconds, so the stream is assembled: after a full flush,
    each further MiB of zeros deflates to the same bytes. The entry is written as a
    stored one, then its local and central headers are patched to say deflated,
    with the true CRC and size."""
    head = io.BytesIO()
    np.lib.format.write_array_header_1_0(head, {"descr": "<f8", "fortran_order": False, "shape": (2**27,)})
    head, zeros = head.getvalue(), bytes(1 << 20)
    z = zlib.compressobj(9, zlib.DEFLATED, -15)
    first = z.compress(head) + z.flush(zlib.Z_FULL_FLUSH)
    chunk = z.compress(zeros) + z.flush(zlib.Z_FULL_FLUSH)
    stream = first + chunk * 1024 + z.flush()
    crc = zlib.crc32(head)
    for _ in range(1024):
        crc = zlib.crc32(zeros, crc)
    data = bytearray(_zip([("a0.npy", stream), ("__nnkit__.npy", _header({"ndarray": "a0"}))]))
    local, central = data.index(b"PK\x03\x04"), data.index(b"PK\x01\x02")
    for at in (local + 8, central + 10):  # method, then CRC, compressed size, size
        struct.pack_into("<HHHI", data, at, zipfile.ZIP_DEFLATED, *struct.unpack_from("<HH", data, at + 2), crc)
        struct.pack_into("<I", data, at + 14, len(head) + (1 << 30))
    return bytes(data)


def test_a_compressed_entry_that_would_expand_to_a_gigabyte_is_refused(tmp_path):
    path = tmp_path / "bomb"
    path.write_bytes(_deflate_bomb())
    assert path.stat().st_size < 2 << 20
    with pytest.raises(ValueError, match=r"bomb'.*would take 10737\d{5} bytes once read.*max_bytes"):
        load(path)


def test_max_bytes_lets_a_real_compressed_archive_load_and_limits_any(tmp_path):
    values = np.arange(10_000, dtype=np.float32)
    header = np.frombuffer(json.dumps({"format": "nnkit.checkpoint", "version": 1,
                                       "tree": {"ndarray": "a0"}}).encode(), np.uint8)
    np.savez_compressed(tmp_path / "c.npz", a0=values, __nnkit__=header)
    with pytest.raises(ValueError, match="max_bytes"):
        load(tmp_path / "c.npz")
    assert np.array_equal(load(tmp_path / "c.npz", max_bytes=10**6), values)
    save({"w": nnkit.ones(1000)}, tmp_path / "plain")
    with pytest.raises(ValueError, match="more than the limit of 1000 bytes"):
        load(tmp_path / "plain", max_bytes=1000)


def test_other_compression_methods_and_encryption_are_refused(tmp_path):
    path = tmp_path / "bz"
    path.write_bytes(_zip([("__nnkit__.npy", _header(None))], zipfile.ZIP_BZIP2))
    with pytest.raises(ValueError, match="compression method 12"):
        load(path, max_bytes=10**6)


_KILLED_SAVE = """
import sys, nnkit
big = {"w": nnkit.zeros(4_000_000)}
print("ready", flush=True)
while True:
    nnkit.save(big, sys.argv[1])
"""


def test_a_killed_save_leaves_no_temporary_file_after_the_next_save(tmp_path):
    path = tmp_path / "ckpt"
    leftovers = []
    for _ in range(3):
        child = subprocess.Popen([sys.executable, "-c", _KILLED_SAVE, str(path)], stdout=subprocess.PIPE,
                                 env={**os.environ, "PYTHONPATH": os.path.dirname(os.path.dirname(nnkit.__file__))})
        assert child.stdout.readline().strip() == b"ready"
        deadline = time.monotonic() + 20
        while not [n for n in os.listdir(tmp_path) if n.endswith(".tmp")] and time.monotonic() < deadline:
            time.sleep(0.001)
        child.kill()
        child.wait()
        leftovers += [n for n in os.listdir(tmp_path) if n.endswith(".tmp")]
    assert leftovers, "no save was caught mid-way"
    assert all(n.startswith(".ckpt.nnkit-save-") for n in leftovers)
    save({"w": nnkit.ones(2)}, path)
    assert os.listdir(tmp_path) == ["ckpt"]
    assert load(path)["w"].tolist() == [1.0, 1.0]


def test_a_save_leaves_alone_the_temporary_files_of_running_saves_and_other_paths(tmp_path):
    running = tmp_path / f".ckpt.nnkit-save-{os.getppid()}-abcd.tmp"  # the parent process is alive
    other = tmp_path / ".other.nnkit-save-1-abcd.tmp"
    running.write_bytes(b"partial")
    other.write_bytes(b"partial")
    save({}, tmp_path / "ckpt")
    assert sorted(os.listdir(tmp_path)) == sorted(["ckpt", running.name, other.name])
