"""Shared fixtures of nnkit's tests: the ``gpu`` marker's skip and a seeded ``rng``."""

import zlib

import numpy as np
import pytest

import nnkit

NO_GPU = "no CUDA GPU (cupy.is_available() is False)"


def pytest_collection_modifyitems(config, items):
    """Tests marked ``gpu`` run only where ``nnkit.cuda.is_available()``."""
    if nnkit.cuda.is_available():
        return
    skip = pytest.mark.skip(reason=NO_GPU)
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def rng(request) -> np.random.Generator:
    """A NumPy generator seeded by the test's id: the same numbers on every run,
    whatever order the tests run in."""
    return np.random.default_rng(zlib.crc32(request.node.nodeid.encode()))
