"""MNIST and Fashion-MNIST: download from mirrors, cache, SHA-256 checks, IDX parsing; all offline.

A local HTTP server on 127.0.0.1 serves small generated IDX files; the
datasets' mirror lists and checksum tables are pointed at it, so nothing here
touches the internet.
"""

import gzip
import hashlib
import http.server
import os
import re
import socket
import threading

import numpy as np
import pytest

import nnkit
from nnkit.data import DataLoader
from nnkit.data.datasets import MNIST, FashionMNIST, read_idx


def idx_bytes(array: np.ndarray) -> bytes:
    """An IDX file holding ``array``: two zero bytes, the type code, the rank, the sizes, the values."""
    codes = {np.dtype(np.uint8): 0x08, np.dtype(np.int8): 0x09, np.dtype(np.int16): 0x0B,
             np.dtype(np.int32): 0x0C, np.dtype(np.float32): 0x0D, np.dtype(np.float64): 0x0E}
    header = bytes([0, 0, codes[array.dtype], array.ndim]) + np.array(array.shape, ">u4").tobytes()
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


def make_split(n, seed):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, 4, 4), dtype=np.uint8), rng.integers(0, 10, n).astype(np.uint8)


TRAIN_IMAGES, TRAIN_LABELS = make_split(6, 0)
TEST_IMAGES, TEST_LABELS = make_split(3, 1)
FILES = {
    "train-images-idx3-ubyte.gz": gzip.compress(idx_bytes(TRAIN_IMAGES)),
    "train-labels-idx1-ubyte.gz": gzip.compress(idx_bytes(TRAIN_LABELS)),
    "t10k-images-idx3-ubyte.gz": gzip.compress(idx_bytes(TEST_IMAGES)),
    "t10k-labels-idx1-ubyte.gz": gzip.compress(idx_bytes(TEST_LABELS)),
}
CHECKSUMS = {name: hashlib.sha256(data).hexdigest() for name, data in FILES.items()}


class Server:
    """A tiny HTTP server in a thread: ``routes`` maps paths to bytes; ``requests`` lists the paths asked for."""

    def __init__(self):
        self.routes, self.requests = {}, []
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                owner.requests.append(self.path)
                body = owner.routes.get(self.path)
                if body is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.watchdog = threading.Timer(60, self.httpd.shutdown)  # never outlive a stuck test by long

    def __enter__(self):
        self.thread.start()
        self.watchdog.start()
        return self

    def __exit__(self, *exc):
        self.watchdog.cancel()
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)


@pytest.fixture
def server(monkeypatch):
    """The server with every file under /good/ (intact) and /bad/ (one byte changed), and the datasets
    pointed at /good/ with the generated files' checksums."""
    with Server() as srv:
        for name, data in FILES.items():
            srv.routes[f"/good/{name}"] = data
            srv.routes[f"/bad/{name}"] = data[:-1] + bytes([data[-1] ^ 0xFF])
        for cls in (MNIST, FashionMNIST):
            monkeypatch.setattr(cls, "mirrors", (f"{srv.url}/good/",))
            monkeypatch.setattr(cls, "resources", dict(CHECKSUMS))
            monkeypatch.setattr(cls, "timeout", 5.0)
        yield srv


# --- IDX ------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64])
def test_read_idx_reads_every_idx_type_gzipped_or_not(tmp_path, dtype):
    array = (np.arange(24).reshape(2, 3, 4) - 5).astype(dtype)
    (tmp_path / "a.idx").write_bytes(idx_bytes(array))
    (tmp_path / "a.idx.gz").write_bytes(gzip.compress(idx_bytes(array)))
    for name in ("a.idx", "a.idx.gz"):
        out = read_idx(tmp_path / name)
        assert out.dtype == np.dtype(dtype) and out.dtype.isnative and out.flags.writeable
        np.testing.assert_array_equal(out, array)


def test_read_idx_rejects_files_that_are_not_idx_or_are_cut_short(tmp_path):
    (tmp_path / "x").write_bytes(b"PK\x03\x04rest")
    with pytest.raises(ValueError, match="not an IDX file"):
        read_idx(tmp_path / "x")
    (tmp_path / "y").write_bytes(idx_bytes(np.zeros((2, 3), np.uint8))[:-1])
    with pytest.raises(ValueError, match=r"holds 5 bytes of values, but its header announces shape \(2, 3\)"):
        read_idx(tmp_path / "y")


# --- download and cache ----------------------------------------------------------------------

def test_download_fetches_verifies_and_parses_the_split(server, tmp_path, capsys):
    train = MNIST(tmp_path, train=True, download=True)
    assert sorted(os.listdir(tmp_path / "MNIST" / "raw")) == ["train-images-idx3-ubyte.gz",
                                                              "train-labels-idx1-ubyte.gz"]
    assert len(train) == 6 and train.data.dtype == nnkit.uint8 and train.targets.dtype == nnkit.int64
    np.testing.assert_array_equal(train.data.numpy(), TRAIN_IMAGES)
    np.testing.assert_array_equal(train.targets.numpy(), TRAIN_LABELS)
    image, label = train[2]
    assert image.shape == (1, 4, 4) and image.dtype == nnkit.float32 and label == int(TRAIN_LABELS[2])
    np.testing.assert_allclose(image.numpy()[0], TRAIN_IMAGES[2] / 255, rtol=1e-6)
    assert "Downloading" in capsys.readouterr().out
    test = MNIST(tmp_path, train=False, download=True)
    np.testing.assert_array_equal(test.targets.numpy(), TEST_LABELS)


def test_a_cached_copy_is_used_without_a_request(server, tmp_path):
    MNIST(tmp_path, download=True)
    asked = len(server.requests)
    again = MNIST(tmp_path, download=True)
    assert len(server.requests) == asked == 2 and len(again) == 6


def test_offline_without_a_cache_says_what_to_fetch_and_where(tmp_path):
    with pytest.raises(FileNotFoundError) as err:
        MNIST(tmp_path / "data")
    message = str(err.value)
    assert "download=True" in message and "train-images-idx3-ubyte.gz" in message
    assert str(tmp_path / "data" / "MNIST" / "raw") in message and "ossci-datasets" in message


def test_a_corrupted_download_is_rejected_and_not_kept(server, tmp_path, monkeypatch):
    monkeypatch.setattr(MNIST, "mirrors", (f"{server.url}/bad/",))
    with pytest.raises(RuntimeError) as err:
        MNIST(tmp_path, download=True)
    message = str(err.value)
    bad = hashlib.sha256(server.routes["/bad/train-images-idx3-ubyte.gz"]).hexdigest()
    assert "train-images-idx3-ubyte.gz" in message and "checksum mismatch" in message
    assert bad in message and CHECKSUMS["train-images-idx3-ubyte.gz"] in message
    assert os.listdir(tmp_path / "MNIST" / "raw") == []  # neither the bad file nor a temporary one


def test_the_next_mirror_is_tried_when_one_fails(server, tmp_path, monkeypatch):
    monkeypatch.setattr(MNIST, "mirrors", (f"{server.url}/missing/", f"{server.url}/bad/", f"{server.url}/good/"))
    ds = MNIST(tmp_path, download=True)
    np.testing.assert_array_equal(ds.data.numpy(), TRAIN_IMAGES)
    assert server.requests[:3] == ["/missing/train-images-idx3-ubyte.gz", "/bad/train-images-idx3-ubyte.gz",
                                   "/good/train-images-idx3-ubyte.gz"]


def test_when_every_mirror_fails_the_error_lists_each_failure(server, tmp_path, monkeypatch):
    with socket.socket() as sock:  # a port that nothing listens on once the socket closes
        sock.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{sock.getsockname()[1]}/"
    monkeypatch.setattr(MNIST, "mirrors", (f"{server.url}/missing/", closed))
    with pytest.raises(RuntimeError) as err:
        MNIST(tmp_path, download=True)
    lines = [line.strip() for line in str(err.value).splitlines()]
    assert re.search(r"/missing/train-images-idx3-ubyte.gz: HTTP Error 404", lines[1])
    assert lines[2].startswith(f"{closed}train-images-idx3-ubyte.gz: ") and "refused" in lines[2]
    assert "by hand" in lines[-1]


def test_a_cached_file_that_fails_its_checksum_is_deleted_and_reported(server, tmp_path):
    MNIST(tmp_path, download=True)
    path = tmp_path / "MNIST" / "raw" / "train-labels-idx1-ubyte.gz"
    path.write_bytes(b"garbage")
    with pytest.raises(RuntimeError) as err:
        MNIST(tmp_path)
    assert hashlib.sha256(b"garbage").hexdigest() in str(err.value)
    assert CHECKSUMS["train-labels-idx1-ubyte.gz"] in str(err.value) and not path.exists()
    path.write_bytes(b"garbage")
    assert len(MNIST(tmp_path, download=True)) == 6  # with download=True it is fetched again
    assert path.read_bytes() == FILES["train-labels-idx1-ubyte.gz"]


def test_fashion_mnist_has_its_own_folder_and_class_names(server, tmp_path):
    ds = FashionMNIST(tmp_path, train=False, download=True)
    assert (tmp_path / "FashionMNIST" / "raw" / "t10k-images-idx3-ubyte.gz").exists()
    assert len(ds) == 3 and ds.classes[0] == "T-shirt/top" and ds.classes[9] == "Ankle boot"


def test_loader_batches_of_mnist_equal_its_samples(server, tmp_path):
    ds = MNIST(tmp_path, download=True)
    x, y = next(iter(DataLoader(ds, batch_size=4)))
    assert x.shape == (4, 1, 4, 4) and y.tolist() == [ds[i][1] for i in range(4)]
    np.testing.assert_allclose(x.numpy(), np.stack([ds[i][0].numpy() for i in range(4)]))


def test_the_published_checksum_tables_cover_the_four_files():
    for cls in (MNIST, FashionMNIST):
        assert sorted(cls.resources) == sorted(FILES)
        assert all(re.fullmatch(r"[0-9a-f]{64}", digest) for digest in cls.resources.values())
        assert all(url.startswith("http") and url.endswith("/") for url in cls.mirrors)
    assert MNIST.resources["train-images-idx3-ubyte.gz"].startswith("440fcabf")
    assert FashionMNIST.resources["train-images-idx3-ubyte.gz"].startswith("3aede38d")
