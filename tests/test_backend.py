"""nnkit.backend: devices, the GPU check, the default device and dtype, randomness.

The tests marked ``gpu`` run the same computations on CUDA and compare them with
the CPU; they are skipped where ``nnkit.cuda.is_available()`` is False.
"""

import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest

import nnkit
from nnkit import backend

REPO = Path(__file__).resolve().parents[1]


# --- devices -------------------------------------------------------------------------------

def test_device_objects():
    cpu, gpu = nnkit.device("cpu"), nnkit.device("cuda:1")
    assert cpu.type == "cpu" and cpu.index is None
    assert gpu.type == "cuda" and gpu.index == 1
    assert str(gpu) == "cuda:1" and repr(gpu) == "device(type='cuda', index=1)" and repr(cpu) == "device(type='cpu')"
    assert nnkit.device(gpu) == gpu and nnkit.device("cuda", 0) == "cuda:0" == nnkit.device("cuda")
    assert cpu == "cpu" and cpu != "cuda" and cpu != "tpu" and hash(cpu) == hash(nnkit.device("cpu:0"))


@pytest.mark.parametrize("spec, message", [("tpu", "expected 'cpu' or 'cuda', got 'tpu'"), ("cpu:1", "cpu has no index 1")])
def test_bad_device_specs_raise(spec, message):
    with pytest.raises(ValueError, match=message):
        nnkit.device(spec)


def test_dtypes_are_numpy_dtypes():
    assert nnkit.float32 == np.float32 and nnkit.int64 == np.int64 and nnkit.bool == np.bool_
    assert nnkit.ones(1).dtype == nnkit.float32


def test_module_for_a_device():
    assert backend.module_for("cpu") is np and backend.xp_of(np.ones(1)) is np
    assert nnkit.ones(2)._xp is np


def test_scatter_add_accumulates_repeated_indices():
    target = np.zeros(3)
    backend.scatter_add(np, target, np.array([0, 2, 0]), np.array([1.0, 2.0, 3.0]))
    assert target.tolist() == [4.0, 0.0, 2.0]


# --- is a GPU there? ------------------------------------------------------------------------

@pytest.fixture
def fake_cupy(monkeypatch):
    """Install a stand-in ``cupy`` module and make the backend look for it again."""
    def install(available=None, broken=False):
        if broken:
            module = None  # "import cupy" raises ImportError
        else:
            module = types.ModuleType("cupy")
            module.is_available = lambda: available
        monkeypatch.setitem(sys.modules, "cupy", module)
        monkeypatch.setattr(backend, "_cupy", None)
        monkeypatch.setattr(backend, "_cupy_checked", False)
    return install


@pytest.mark.parametrize("available, broken, expected", [(True, False, True), (False, False, False),
                                                         (None, True, False)],
                         ids=["cupy_sees_a_gpu", "cupy_without_gpu", "cupy_missing"])
def test_cuda_is_available_is_decided_by_cupy_is_available(fake_cupy, available, broken, expected):
    fake_cupy(available, broken)
    assert nnkit.cuda.is_available() is expected


def test_an_importable_cupy_without_a_gpu_counts_as_no_gpu(fake_cupy):
    fake_cupy(available=False)
    with pytest.raises(RuntimeError, match="device 'cuda' requested, but no CUDA GPU is available"):
        nnkit.zeros(2, device="cuda")


@pytest.mark.parametrize("op", ["add", "mul", "matmul", "maximum"])
def test_tensors_on_two_devices_cannot_be_combined(monkeypatch, op):
    class GpuArray:
        """Stands in for cupy.ndarray: a tensor holding one is on 'cuda'."""
        dtype, shape, ndim = np.dtype(np.float32), (2, 2), 2
    fake = types.ModuleType("cupy")
    fake.ndarray = GpuArray
    monkeypatch.setattr(backend, "_cupy", fake)
    on_gpu = nnkit.Tensor._wrap(GpuArray())
    assert on_gpu.device == "cuda"
    with pytest.raises(RuntimeError, match=f"{op}: expected both tensors on the same device, got cpu and cuda"):
        getattr(nnkit.ops, op)(nnkit.ones(2, 2), on_gpu)


@pytest.mark.skipif(nnkit.cuda.is_available(), reason="needs a machine without a GPU")
@pytest.mark.parametrize("move", [lambda: nnkit.ones(2).to("cuda"), lambda: nnkit.ones(2).cuda(),
                                  lambda: nnkit.zeros(2, device="cuda"), lambda: nnkit.tensor([1.0], device="cuda"),
                                  lambda: nnkit.randn(2, device=nnkit.device("cuda")),
                                  lambda: nnkit.backend.set_default_device("cuda")],
                         ids=["to", "cuda", "zeros", "tensor", "randn", "set_default_device"])
def test_asking_for_cuda_without_a_gpu_raises_a_clear_error(move):
    with pytest.raises(RuntimeError, match="no CUDA GPU is available"):
        move()
    assert backend.get_default_device() == "cpu"


# --- defaults -------------------------------------------------------------------------------

def run_python(code: str, **env) -> str:
    import os
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                            env={**os.environ, **env}, timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_nnkit_device_environment_variable_sets_the_default_device():
    code = ("import nnkit\nprint(nnkit.backend.get_default_device())\n"
            "try:\n    print(nnkit.zeros(1).device)\nexcept RuntimeError as e:\n    print(e)")
    assert run_python(code, NNKIT_DEVICE="cpu").splitlines() == ["cpu", "cpu"]
    cuda = run_python(code, NNKIT_DEVICE="cuda").splitlines()
    assert cuda[0] == "cuda"
    assert cuda[1] == "cuda" if nnkit.cuda.is_available() else "no CUDA GPU is available" in cuda[1]


def test_set_default_device_to_cpu():
    backend.set_default_device("cpu")
    assert backend.get_default_device() == "cpu" and nnkit.zeros(1).device == "cpu"


def test_default_dtype_can_be_changed_to_another_float():
    assert nnkit.get_default_dtype() == nnkit.float32
    nnkit.set_default_dtype(nnkit.float64)
    try:
        assert nnkit.tensor(1.0).dtype == nnkit.float64 and nnkit.zeros(2).dtype == nnkit.float64
        assert nnkit.tensor([1, 2]).dtype == nnkit.int64
        assert (nnkit.tensor([1]) / 2).dtype == nnkit.float64
    finally:
        nnkit.set_default_dtype(nnkit.float32)
    with pytest.raises(TypeError, match="only floating-point types are supported as the default type, got nnkit.int64"):
        nnkit.set_default_dtype(nnkit.int64)


# --- randomness -------------------------------------------------------------------------------

RANDOM = {
    "randn": lambda g: nnkit.randn(3, 2, generator=g),
    "rand": lambda g: nnkit.rand(4, generator=g),
    "randint": lambda g: nnkit.randint(0, 100, (5,), generator=g),
    "randperm": lambda g: nnkit.randperm(8, generator=g),
    "normal": lambda g: nnkit.normal(0.0, 2.0, (3,), generator=g),
    "uniform_": lambda g: nnkit.zeros(3).uniform_(generator=g),
    "normal_": lambda g: nnkit.zeros(3).normal_(generator=g),
    "multinomial": lambda g: nnkit.multinomial(nnkit.tensor([0.2, 0.3, 0.5]), 6, replacement=True, generator=g),
}


@pytest.mark.parametrize("name", RANDOM)
def test_manual_seed_makes_every_random_op_reproducible(name):
    draw = RANDOM[name]
    nnkit.manual_seed(123)
    first = draw(None).tolist()
    nnkit.manual_seed(123)
    assert draw(None).tolist() == first
    nnkit.manual_seed(124)
    assert draw(None).tolist() != first


@pytest.mark.parametrize("name", RANDOM)
def test_a_generator_gives_its_own_reproducible_stream(name):
    draw = RANDOM[name]
    first = draw(nnkit.Generator().manual_seed(7)).tolist()
    nnkit.manual_seed(0)
    state = backend.default_generator.get_state()
    assert draw(nnkit.Generator().manual_seed(7)).tolist() == first
    assert backend.default_generator.get_state() == state  # the global stream was not touched


def test_generator_state_can_be_saved_and_restored():
    g = nnkit.Generator().manual_seed(5)
    assert g.initial_seed() == 5
    state = g.get_state()
    a = nnkit.randn(4, generator=g).tolist()
    g.set_state(state)
    assert nnkit.randn(4, generator=g).tolist() == a
    assert nnkit.manual_seed(9) is backend.default_generator


# --- the same computations on a GPU --------------------------------------------------------------

def small_network(device):
    nnkit.manual_seed(0)
    x = nnkit.randn(16, 4, device=device)
    w = nnkit.randn(4, 3, device=device, requires_grad=True)
    b = nnkit.zeros(3, device=device, requires_grad=True)
    loss = (x @ w + b).tanh().log_softmax(-1)[nnkit.arange(16, device=device), nnkit.arange(16, device=device) % 3]
    loss = -loss.mean()
    loss.backward()
    return loss, w.grad, b.grad


@pytest.mark.gpu
def test_a_small_network_gives_the_same_loss_and_gradients_on_cuda():
    on_cpu, on_gpu = small_network("cpu"), small_network("cuda")
    assert on_gpu[0].device == "cuda" and on_gpu[1].device == "cuda"
    for c, g in zip(on_cpu, on_gpu):
        np.testing.assert_allclose(g.cpu().numpy(), c.numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.gpu
def test_moving_between_devices_keeps_values_and_gradients():
    x = nnkit.tensor([1.0, 2.0], requires_grad=True)
    y = x.cuda()
    assert y.device == "cuda" and y.is_cuda and y.cpu().tolist() == [1.0, 2.0]
    (y * y).sum().backward()
    assert x.grad.device == "cpu" and x.grad.tolist() == [2.0, 4.0]
    with pytest.raises(TypeError, match="the tensor is on cuda"):
        y.detach().numpy()


@pytest.mark.gpu
def test_a_seed_gives_the_same_numbers_on_cpu_and_cuda():
    nnkit.manual_seed(3)
    a = nnkit.randn(5)
    nnkit.manual_seed(3)
    b = nnkit.randn(5, device="cuda")
    assert b.cpu().tolist() == a.tolist()


def test_rng_state_round_trips_through_a_checkpoint(tmp_path):
    nnkit.manual_seed(1)
    state = nnkit.get_rng_state()
    first = nnkit.randn(5).numpy()
    nnkit.save({"rng": state}, tmp_path / "rng.npz")
    nnkit.manual_seed(99)
    nnkit.set_rng_state(nnkit.load(tmp_path / "rng.npz")["rng"])
    np.testing.assert_array_equal(nnkit.randn(5).numpy(), first)
    assert nnkit.default_generator is nnkit.backend.default_generator
