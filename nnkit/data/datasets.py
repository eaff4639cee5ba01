"""Image datasets: scikit-learn's digits (bundled), MNIST and Fashion-MNIST (downloaded once, then cached).

Each is a :class:`~nnkit.data.Dataset` of ``(image, label)`` pairs: the image a
float tensor ``(1, H, W)`` with values in [0, 1] (what torchvision gives after
``ToTensor()``; nnkit has no PIL images), the label an int. ``transform`` and
``target_transform`` are applied to each; ``.data`` holds all images and
``.targets`` all labels, as in torchvision.

MNIST and Fashion-MNIST are fetched on demand from the mirrors in ``mirrors``
(tried in order), stored under ``root/<Name>/raw/`` as the original gzipped IDX
files, and checked against the SHA-256 in ``resources`` on every load, so a
truncated or tampered file is never used. Without a network, download the four
files by hand into that folder.

>>> train = Digits(train=True)
>>> image, label = train[0]
>>> image.shape, type(label).__name__, len(train)
((1, 8, 8), 'int', 1347)
"""

from __future__ import annotations

import gzip
import hashlib
import os
import tempfile
from typing import Callable, ClassVar

import numpy as np

from .. import backend
from ..tensor import Tensor
from .dataloader import default_collate
from .dataset import Dataset
from .synthetic import load_digits, train_test_split

__all__ = ["Digits", "MNIST", "FashionMNIST", "read_idx"]


class _ImageDataset(Dataset):
    """Labelled grey images held in memory: ``data`` (N, H, W), uint8 or float in [0, 1]; ``targets`` (N,)."""

    classes: ClassVar[list[str]] = []

    def __init__(self, data: np.ndarray, targets: np.ndarray, transform: Callable | None,
                 target_transform: Callable | None):
        self.data = Tensor._wrap(data)
        self.targets = Tensor._wrap(targets.astype(np.int64, copy=False))
        self.transform = transform
        self.target_transform = target_transform

    def _images(self, index) -> np.ndarray:
        """Float images ``(..., 1, H, W)`` in [0, 1] at ``index`` (an int or an array of them)."""
        images = self.data.array[index]
        if images.dtype == np.uint8:
            dtype = backend.get_default_dtype()
            images = images.astype(dtype) / np.array(255, dtype)
        return images[..., None, :, :]

    def __getitem__(self, index: int) -> tuple:
        image, target = Tensor._wrap(self._images(index)), int(self.targets.array[index])
        if self.transform is not None:
            image = self.transform(image)
        if self.target_transform is not None:
            target = self.target_transform(target)
        return image, target

    def __len__(self) -> int:
        return self.data.shape[0]

    def _fetch_batch(self, indices: np.ndarray) -> list:
        # One indexing operation (and one call of a batch-aware transform) per batch.
        per_sample = self.transform is not None and not getattr(self.transform, "batched", False)
        if per_sample or self.target_transform is not None:
            return default_collate([self[i] for i in indices.tolist()])
        images = Tensor._wrap(self._images(indices))
        if self.transform is not None:
            images = self.transform(images)
        return [images, Tensor._wrap(self.targets.array[indices])]

    def __repr__(self) -> str:
        return f"{type(self).__name__}({len(self)} images of shape {(1,) + tuple(self.data.shape[1:])}, " \
               f"{len(self.classes)} classes)"


class Digits(_ImageDataset):
    """scikit-learn's 1,797 handwritten digits as 8x8 images, split once into train and test parts.

    The split is :func:`nnkit.data.train_test_split` with ``test_size`` and
    ``seed``, so ``Digits(train=True)`` and ``Digits(train=False)`` with the same
    arguments never share an image. Images are ``(1, 8, 8)`` floats in [0, 1].
    """

    classes = [str(d) for d in range(10)]

    def __init__(self, train: bool = True, transform: Callable | None = None,
                 target_transform: Callable | None = None, test_size: float = 0.25, seed: int = 0):
        images, labels = load_digits(images=True)
        x_train, x_test, y_train, y_test = train_test_split(images, labels, test_size=test_size, seed=seed)
        self.train = train
        super().__init__(x_train if train else x_test, y_train if train else y_test, transform, target_transform)


# --- IDX files ----------------------------------------------------------------

# The third byte of an IDX file's magic number gives the element type (big-endian).
_IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file (gzipped when its name ends in ``.gz``), the format of MNIST, into an array.

    The header is two zero bytes, a type code, the number of dimensions ``d``,
    then ``d`` big-endian 32-bit sizes; the values follow, row-major.
    """
    path = os.fspath(path)
    with (gzip.open(path, "rb") if path.endswith(".gz") else open(path, "rb")) as f:
        raw = f.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_TYPES:
        raise ValueError(f"read_idx: {path} is not an IDX file (bad magic number {raw[:4].hex()})")
    ndim = raw[3]
    dtype = np.dtype(_IDX_TYPES[raw[2]])
    offset = 4 + 4 * ndim
    if len(raw) < offset:
        raise ValueError(f"read_idx: {path} is truncated inside its header")
    shape = tuple(int(s) for s in np.frombuffer(raw, ">u4", count=ndim, offset=4))
    expected = int(np.prod(shape)) * dtype.itemsize
    if len(raw) - offset != expected:
        raise ValueError(f"read_idx: {path} holds {len(raw) - offset} bytes of values, but its header "
                         f"announces shape {shape}: {expected} bytes")
    return np.frombuffer(raw, dtype, offset=offset).reshape(shape).astype(dtype.newbyteorder("="))


def _sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


class MNIST(_ImageDataset):
    """The MNIST handwritten digits: 60,000 training and 10,000 test images, 28x28 grey.

    ``root`` is the cache folder; the files live in ``root/MNIST/raw/``.
    ``download=True`` fetches the two files of the chosen split when they are
    missing (or fail their checksum), trying each URL in ``mirrors`` in turn.
    Every file is checked against its SHA-256 in ``resources``; one that
    does not match is deleted and reported.
    """

    mirrors: ClassVar[tuple[str, ...]] = (
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
        "http://yann.lecun.com/exdb/mnist/",
    )
    # SHA-256 of the original files, as published by TensorFlow Datasets (url_checksums/mnist.txt).
    resources: ClassVar[dict[str, str]] = {
        "train-images-idx3-ubyte.gz": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
        "train-labels-idx1-ubyte.gz": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
        "t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
        "t10k-labels-idx1-ubyte.gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
    }
    classes = ["0 - zero", "1 - one", "2 - two", "3 - three", "4 - four",
               "5 - five", "6 - six", "7 - seven", "8 - eight", "9 - nine"]
    timeout: ClassVar[float] = 30.0  # seconds a mirror may stay silent before the next is tried

    def __init__(self, root: str | os.PathLike, train: bool = True, transform: Callable | None = None,
                 target_transform: Callable | None = None, download: bool = False):
        self.root = os.fspath(root)
        self.train = train
        prefix = "train" if train else "t10k"
        images_file, labels_file = f"{prefix}-images-idx3-ubyte.gz", f"{prefix}-labels-idx1-ubyte.gz"
        images = read_idx(self._file(images_file, download))
        labels = read_idx(self._file(labels_file, download))
        if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
            raise ValueError(f"{type(self).__name__}: {images_file} holds shape {images.shape} and {labels_file} "
                             f"shape {labels.shape}; expected (N, H, W) images and N labels")
        super().__init__(images, labels, transform, target_transform)

    @property
    def raw_folder(self) -> str:
        return os.path.join(self.root, type(self).__name__, "raw")

    def _file(self, filename: str, download: bool) -> str:
        """The path of a verified copy of ``filename``, downloading it if allowed and needed."""
        path, expected = os.path.join(self.raw_folder, filename), self.resources[filename]
        if os.path.exists(path):
            actual = _sha256(path)
            if actual == expected:
                return path
            os.remove(path)
            if not download:
                raise RuntimeError(f"{type(self).__name__}: {path} failed its checksum (SHA-256 {actual}, expected "
                                   f"{expected}) and was deleted; pass download=True to fetch it again")
        if not download:
            raise FileNotFoundError(
                f"{type(self).__name__}: {path} not found. Pass download=True to fetch it, or download "
                f"{filename} by hand from one of {list(self.mirrors)} and put it in {self.raw_folder}")
        self._download(filename, path, expected)
        return path

    def _download(self, filename: str, path: str, expected: str) -> None:
        """Fetch ``filename`` from the first mirror that serves it intact; write it atomically to ``path``."""
        import http.client  # here, not at the top: they cost `import nnkit` 20 ms and only downloads need them
        import urllib.request

        os.makedirs(self.raw_folder, exist_ok=True)
        failures = []
        for mirror in self.mirrors:
            url = mirror + filename
            fd, tmp = tempfile.mkstemp(prefix=f".{filename}.", dir=self.raw_folder)
            try:
                print(f"Downloading {url}")
                digest = hashlib.sha256()
                request = urllib.request.Request(url, headers={"User-Agent": "nnkit"})
                with os.fdopen(fd, "wb") as out, urllib.request.urlopen(request, timeout=self.timeout) as response:
                    for chunk in iter(lambda: response.read(1 << 20), b""):
                        digest.update(chunk)
                        out.write(chunk)
                if digest.hexdigest() != expected:
                    failures.append(f"{url}: checksum mismatch for {filename} (SHA-256 {digest.hexdigest()}, "
                                    f"expected {expected}); the file was deleted")
                    continue
                os.replace(tmp, path)
                return
            except (OSError, http.client.HTTPException) as err:  # URLError, HTTPError, timeouts, cut connections
                failures.append(f"{url}: {err}")
            finally:
                if os.path.exists(tmp):
                    os.remove(tmp)
        raise RuntimeError(f"{type(self).__name__}: could not download {filename}:\n  " + "\n  ".join(failures)
                           + f"\nDownload it by hand and put it in {self.raw_folder}")


class FashionMNIST(MNIST):
    """Zalando's Fashion-MNIST: 28x28 grey images of ten kinds of clothing, MNIST's sizes and format.

    A harder drop-in replacement for MNIST; files live in ``root/FashionMNIST/raw/``.
    """

    mirrors = (
        "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
    )
    # SHA-256 as published by TensorFlow Datasets (url_checksums/fashion_mnist.txt).
    resources = {
        "train-images-idx3-ubyte.gz": "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
        "train-labels-idx1-ubyte.gz": "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
        "t10k-images-idx3-ubyte.gz": "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
        "t10k-labels-idx1-ubyte.gz": "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
    }
    classes = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
               "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
