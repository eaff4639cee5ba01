"""nnkit.io: checkpoints round-trip every supported type, never pickle, survive crashes, reject bad files."""

import json
import math
import os
import pickle
import zipfile

import numpy as np
import pytest

import nnkit
import nnkit.io
import nnkit.nn as nn
from nnkit import optim
from nnkit.io import load, save


def same(a, b) -> None:
    """``a`` and ``b`` are equal, with the same types all the way down (tensors: dtype and requires_grad)."""
    assert type(a) is type(b), (type(a), type(b))
    if isinstance(a, nnkit.Tensor):
        assert a.dtype == b.dtype and a.shape == b.shape and a.requires_grad == b.requires_grad
        np.testing.assert_array_equal(a.detach().numpy(), b.detach().numpy())
    elif isinstance(a, (np.ndarray, np.generic)):
        assert a.dtype == b.dtype and np.shape(a) == np.shape(b)
        np.testing.assert_array_equal(a, b)
    elif isinstance(a, dict):
        assert list(a) == list(b)
        for k in a:
            same(a[k], b[k])
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            same(x, y)
    elif isinstance(a, float) and math.isnan(a):
        assert math.isnan(b)
    else:
        assert a == b and (not isinstance(a, float) or math.copysign(1, a) == math.copysign(1, b))


EVERYTHING = {
    "none": None, "true": True, "false": False,
    "ints": [0, -7, 2 ** 70, -(2 ** 63)],
    "floats": [0.1, -0.0, 1e-300, 1.5e300, float("inf"), float("-inf"), float("nan"), 3.0],
    "strings": ["", "plain", "ünïcødé ✓ 中文", '{"not": "json"}', "tensor"],
    "tuple": (1, (2.0, "three"), []),
    "empty": {"list": [], "tuple": (), "dict": {}},
    7: "an int key", -1: {"nested": {0: [None]}}, "\ud800 lone surrogate": 1,
    "tensors": [nnkit.tensor(np.arange(6, dtype=dt).reshape(2, 3)) for dt in
                (np.float16, np.float32, np.float64, np.int32, np.int64, np.uint8)]
    + [nnkit.tensor([True, False]), nnkit.tensor(2.5), nnkit.zeros(0, 3),
       nnkit.randn(3, 4, requires_grad=True), nnkit.randn(4, 3).transpose(0, 1)],
    "arrays": [np.arange(5, dtype=np.int16), np.eye(3, dtype=np.float32)[:, ::2], np.array("text"),
               np.zeros((2, 0)), np.array([1 + 2j]), np.array(True)],
    "numpy scalars": [np.float32(1.5), np.float64(2.5), np.int64(-3), np.bool_(True), np.uint8(200)],
}


def test_round_trip_of_every_supported_type(tmp_path):
    path = tmp_path / "everything"
    save(EVERYTHING, path)
    same(EVERYTHING, load(path))


def test_numpy_integer_keys_come_back_as_ints(tmp_path):
    save({np.int64(3): "three"}, tmp_path / "c")
    same(load(tmp_path / "c"), {3: "three"})


def test_it_writes_exactly_path_and_no_temporary_file(tmp_path):
    save({"a": 1}, tmp_path / "model.ckpt")
    save({"a": 1}, str(tmp_path / "plain"))
    assert sorted(os.listdir(tmp_path)) == ["model.ckpt", "plain"]


def test_the_file_is_an_npz_that_numpy_reads_without_pickle(tmp_path):
    path = tmp_path / "ckpt"
    w = nnkit.randn(3, 2)
    save({"model": {"w": w}, "epoch": 4}, path)
    assert zipfile.is_zipfile(path)
    with np.load(path, allow_pickle=False) as archive:
        header = archive["__nnkit__"]
        assert header.dtype == np.uint8
        doc = json.loads(header.tobytes().decode())
        assert doc["format"] == "nnkit.checkpoint" and doc["version"] == 1
        (name,) = [n for n in archive.files if n != "__nnkit__"]
        np.testing.assert_array_equal(archive[name], w.numpy())


def test_loaded_tensors_are_independent_writable_cpu_tensors(tmp_path):
    save({"w": nnkit.ones(3)}, tmp_path / "c")
    w = load(tmp_path / "c")["w"]
    w.array[0] = 5.0
    assert w.device == "cpu" and w.tolist() == [5.0, 1.0, 1.0]


def test_a_tensor_stored_twice_is_written_once_and_loaded_as_one(tmp_path):
    w = nnkit.randn(100)
    save({"a": w, "b": [w], "c": w.detach()}, tmp_path / "c")
    with np.load(tmp_path / "c") as archive:
        assert len(archive.files) == 3  # w, its detached copy (another tensor) and the header
    out = load(tmp_path / "c")
    assert out["a"] is out["b"][0] and out["c"] is not out["a"]


def test_unsupported_objects_raise_type_error_naming_where_they_are(tmp_path):
    with pytest.raises(TypeError, match=r"^save: cannot store object of type set at \['model'\]\['x'\]$"):
        save({"model": {"x": {1, 2}}}, tmp_path / "c")
    with pytest.raises(TypeError, match=r"object of type function at \['fns'\]\[1\]"):
        save({"fns": [None, lambda: 0]}, tmp_path / "c")
    with pytest.raises(TypeError, match="object of type object at the top level"):
        save(object(), tmp_path / "c")
    with pytest.raises(TypeError, match=r"dict keys must be str or int, got \(1, 2\) of type tuple in the dict "
                                        r"at \['a'\]"):
        save({"a": {(1, 2): 3}}, tmp_path / "c")
    with pytest.raises(TypeError, match=r"dtype object\) at \['x'\]: it would need pickle"):
        save({"x": np.array([{}, 1], dtype=object)}, tmp_path / "c")
    loop = []
    loop.append(loop)
    with pytest.raises(ValueError, match=r"contains itself at \[0\]"):
        save(loop, tmp_path / "c")
    assert os.listdir(tmp_path) == []


def test_a_crash_mid_save_leaves_the_previous_checkpoint_intact(tmp_path, monkeypatch):
    path = tmp_path / "ckpt"
    save({"epoch": 1, "w": nnkit.ones(4)}, path)
    before = path.read_bytes()
    real_write = np.lib.format.write_array
    written = []

    def write_then_fail(fp, array, *args, **kwargs):
        if written:  # the second array: write part of it, then the disk "fills up"
            fp.write(b"\x93NUMPY partial array data")
            raise OSError(28, "No space left on device")
        written.append(array)
        real_write(fp, array, *args, **kwargs)

    monkeypatch.setattr(np.lib.format, "write_array", write_then_fail)
    with pytest.raises(OSError, match="No space left"):
        save({"epoch": 2, "w": nnkit.zeros(4), "v": nnkit.zeros(1000)}, path)
    monkeypatch.undo()
    assert written and os.listdir(tmp_path) == ["ckpt"]
    assert path.read_bytes() == before
    same(load(path), {"epoch": 1, "w": nnkit.ones(4)})


def test_an_interrupted_save_cleans_up_too(tmp_path, monkeypatch):
    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(np.lib.format, "write_array", interrupt)
    with pytest.raises(KeyboardInterrupt):
        save({"w": nnkit.ones(2)}, tmp_path / "c")
    assert os.listdir(tmp_path) == []


def test_saving_into_a_missing_directory_names_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        save({}, tmp_path / "missing" / "c")


@pytest.fixture
def checkpoint(tmp_path):
    path = tmp_path / "good"
    save({"w": nnkit.ones(500), "step": 3}, path)
    return path


def test_truncated_files_raise_value_error_naming_the_path(checkpoint):
    data = checkpoint.read_bytes()
    for size in (0, 10, len(data) // 2, len(data) - 1):
        checkpoint.write_bytes(data[:size])
        with pytest.raises(ValueError, match=f"cannot read the checkpoint '{checkpoint}'"):
            load(checkpoint)


def test_corrupted_bytes_are_caught(checkpoint):
    data = bytearray(checkpoint.read_bytes())
    for where in (data.find(b"\x93NUMPY") + 300, data.find(b'"format"')):  # array data, then the header
        corrupt = bytearray(data)
        corrupt[where] ^= 0xFF
        checkpoint.write_bytes(corrupt)
        with pytest.raises(ValueError, match=f"'{checkpoint}': it is corrupted.*CRC"):
            load(checkpoint)


def test_files_that_are_not_nnkit_checkpoints_are_refused(tmp_path):
    np.savez(tmp_path / "plain.npz", x=np.ones(2))
    with pytest.raises(ValueError, match="plain.npz' is not an nnkit checkpoint .*without the '__nnkit__' entry"):
        load(tmp_path / "plain.npz")
    np.save(tmp_path / "one.npy", np.ones(2))
    with pytest.raises(ValueError, match="one.npy' is not an nnkit checkpoint .*single NumPy array"):
        load(tmp_path / "one.npy")
    (tmp_path / "text").write_text("hello")
    with pytest.raises(ValueError, match="'.*text'.*nnkit never unpickles"):
        load(tmp_path / "text")
    with pytest.raises(FileNotFoundError):
        load(tmp_path / "absent")


class _Trap:
    """Unpickling this would create a file: loading must never run it."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def test_pickles_are_never_unpickled(tmp_path):
    trap = str(tmp_path / "trap-was-sprung")
    with open(tmp_path / "evil.pkl", "wb") as f:
        pickle.dump({"w": _Trap(trap)}, f)
    with pytest.raises(ValueError, match="nnkit never unpickles"):
        load(tmp_path / "evil.pkl")
    # A checkpoint whose array entry is a pickled object array
    header = {"format": "nnkit.checkpoint", "version": 1, "tree": {"ndarray": "a0"}}
    obj = np.empty(1, dtype=object)
    obj[0] = _Trap(trap)
    np.savez(tmp_path / "evil.npz", a0=obj, __nnkit__=np.frombuffer(json.dumps(header).encode(), np.uint8))
    with pytest.raises(ValueError, match="pickled Python objects"):
        load(tmp_path / "evil.npz")
    assert not os.path.exists(trap)


def test_a_malformed_structure_is_a_clear_error(tmp_path):
    for tree in ({"tensor": "a7", "requires_grad": False, "device": "cpu"}, {"what": 1}, {"float": "1e400"}):
        header = {"format": "nnkit.checkpoint", "version": 1, "tree": tree}
        np.savez(tmp_path / "bad.npz", __nnkit__=np.frombuffer(json.dumps(header).encode(), np.uint8))
        with pytest.raises(ValueError, match="bad.npz'.* was not written by nnkit.save"):
            load(tmp_path / "bad.npz")
    header = {"format": "nnkit.checkpoint", "version": 99, "tree": None}
    np.savez(tmp_path / "new.npz", __nnkit__=np.frombuffer(json.dumps(header).encode(), np.uint8))
    with pytest.raises(ValueError, match="format version 99"):
        load(tmp_path / "new.npz")


def test_map_location(tmp_path):
    save({"w": nnkit.ones(2, requires_grad=True)}, tmp_path / "c")
    w = load(tmp_path / "c", map_location="cpu")["w"]
    assert w.device == "cpu" and w.requires_grad
    assert load(tmp_path / "c", map_location=nnkit.device("cpu"))["w"].device == "cpu"
    assert load(tmp_path / "c", map_location={"cuda:0": "cpu"})["w"].device == "cpu"
    with pytest.raises(TypeError, match="map_location must be a device, a dict of devices or a function"):
        load(tmp_path / "c", map_location=3)


def test_map_location_as_a_function_of_each_tensor_and_its_location(tmp_path):
    save({"w": nnkit.ones(2, requires_grad=True), "i": nnkit.arange(3)}, tmp_path / "c")
    seen = []

    def place(t, location):
        seen.append((location, t.device.type))
        return t * 2 if t.dtype == nnkit.int64 else None  # None: where it was saved

    loaded = load(tmp_path / "c", map_location=place)
    assert sorted(seen) == [("cpu", "cpu"), ("cpu", "cpu")]
    assert loaded["i"].tolist() == [0, 2, 4] and loaded["w"].tolist() == [1.0, 1.0] and loaded["w"].requires_grad
    with pytest.raises(TypeError, match="map_location returned a int"):
        load(tmp_path / "c", map_location=lambda t, location: 3)
    with pytest.raises(ZeroDivisionError):  # the function's own error, not taken for a corrupted file
        load(tmp_path / "c", map_location=lambda t, location: 1 / 0)
    with pytest.raises(TypeError, match="'tpu' is not a device"):
        load(tmp_path / "c", map_location="tpu")


def test_weights_only_is_what_nnkit_always_does(tmp_path):
    save({"w": nnkit.ones(2)}, tmp_path / "c")
    assert load(tmp_path / "c", weights_only=True)["w"].tolist() == [1.0, 1.0]
    with pytest.raises(ValueError, match="nnkit never unpickles.*weights_only=False"):
        load(tmp_path / "c", weights_only=False)
    with pytest.raises(ValueError, match="pickle_module"):
        load(tmp_path / "c", pickle_module=pickle)
    with pytest.raises(NotImplementedError, match="mmap=True"):
        load(tmp_path / "c", mmap=True)


@pytest.mark.parametrize("make", [lambda: nn.Linear(2, 2), lambda: optim.SGD(nn.Linear(2, 2).parameters(), lr=0.1)])
def test_saving_a_model_or_an_optimizer_says_to_save_its_state_dict(tmp_path, make):
    obj = make()
    with pytest.raises(TypeError, match=rf"cannot store a {type(obj).__name__} object.*state_dict\(\)"):
        save(obj, tmp_path / "c")
    with pytest.raises(TypeError, match=r"at \['model'\].*state_dict"):
        save({"model": obj}, tmp_path / "c")
    assert not (tmp_path / "c").exists()


def test_bfloat16_round_trips(tmp_path):
    w = nnkit.tensor([1.5, -2.25], dtype=nnkit.bfloat16, requires_grad=True)
    array = np.array([0.5, 3.0], dtype=nnkit.bfloat16)
    save({"w": w, "a": array, "s": array[1]}, tmp_path / "c")
    loaded = load(tmp_path / "c")
    same(loaded["w"], w)
    same(loaded["a"], array)
    assert loaded["s"].dtype == nnkit.bfloat16 and float(loaded["s"]) == 3.0
    with np.load(tmp_path / "c", allow_pickle=False) as raw:  # stored as the 16-bit patterns
        assert raw["a0"].dtype == np.uint16


def test_a_checkpoint_saved_on_a_gpu_needs_map_location_where_there_is_none(tmp_path):
    if nnkit.cuda.is_available():
        pytest.skip("this machine has a GPU")
    header = {"format": "nnkit.checkpoint", "version": 1,
              "tree": {"tensor": "a0", "requires_grad": False, "device": "cuda"}}
    np.savez(tmp_path / "gpu.npz", a0=np.ones(2, np.float32),
             __nnkit__=np.frombuffer(json.dumps(header).encode(), np.uint8))
    with pytest.raises(RuntimeError, match="gpu.npz'.*cuda.*map_location='cpu'"):
        load(tmp_path / "gpu.npz")
    assert load(tmp_path / "gpu.npz", map_location="cpu").tolist() == [1.0, 1.0]


@pytest.mark.gpu
def test_gpu_tensors_round_trip_to_their_device_or_to_map_location(tmp_path):
    w = nnkit.randn(3, device="cuda")
    save({"w": w}, tmp_path / "c")
    back = load(tmp_path / "c")["w"]
    assert back.device == "cuda" and back.tolist() == w.tolist()
    assert load(tmp_path / "c", map_location="cpu")["w"].device == "cpu"


# --- a model's checkpoint, end to end ---------------------------------------------

def make_model():
    return nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 2))


def test_model_state_dict_round_trip_restores_the_model(tmp_path):
    nnkit.manual_seed(0)
    model = make_model()
    x = nnkit.randn(16, 4)
    model(x)  # updates the batch-norm running statistics
    model.eval()
    save({"model": model.state_dict(), "epoch": 3}, tmp_path / "ckpt")
    ckpt = load(tmp_path / "ckpt")
    assert ckpt["model"]["1.num_batches_tracked"].dtype == np.int64 and ckpt["epoch"] == 3
    fresh = make_model()
    fresh.load_state_dict(ckpt["model"])
    fresh.eval()
    np.testing.assert_array_equal(fresh(x).detach().numpy(), model(x).detach().numpy())


def test_loading_a_checkpoint_that_does_not_fit_names_the_parameter_and_shapes(tmp_path):
    save(make_model().state_dict(), tmp_path / "ckpt")
    wider = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 3))
    with pytest.raises(RuntimeError, match=r"3\.weight.*\[2, 8\].*\[3, 8\]"):
        wider.load_state_dict(load(tmp_path / "ckpt"))
    ckpt = load(tmp_path / "ckpt")
    del ckpt["0.bias"]
    with pytest.raises(RuntimeError, match="Missing key.*0.bias"):
        make_model().load_state_dict(ckpt)


def test_resuming_training_from_a_checkpoint_matches_uninterrupted_training(tmp_path):
    nnkit.manual_seed(1)
    x, y = nnkit.randn(32, 4), nnkit.randn(32, 2)
    init = make_model().state_dict()

    def build():
        model = make_model()
        model.load_state_dict(init)
        opt = optim.AdamW(model.parameters(), lr=0.01)
        sched = optim.lr_scheduler.OneCycleLR(opt, max_lr=0.05, total_steps=10)
        return model, opt, sched

    def train(model, opt, sched, steps):
        for _ in range(steps):
            opt.zero_grad()
            ((model(x) - y) ** 2).mean().backward()
            opt.step()
            sched.step()

    straight = build()
    train(*straight, 10)
    model, opt, sched = build()
    train(model, opt, sched, 4)
    save({"model": model.state_dict(), "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
          "step": 4}, tmp_path / "ckpt")
    ckpt = load(tmp_path / "ckpt")
    model, opt, sched = build()
    model.load_state_dict(ckpt["model"])
    opt.load_state_dict(ckpt["optimizer"])
    sched.load_state_dict(ckpt["scheduler"])
    train(model, opt, sched, 10 - ckpt["step"])
    for (name, a), b in zip(straight[0].state_dict().items(), model.state_dict().values()):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=name)
