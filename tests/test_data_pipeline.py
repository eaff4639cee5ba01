"""nnkit.data's pipeline: datasets, samplers, collation and the DataLoader, with torch.utils.data's semantics."""

import collections
import doctest
import importlib
import re
from pathlib import Path

import numpy as np
import pytest

import nnkit
from nnkit.data import (BatchSampler, ConcatDataset, DataLoader, Dataset, RandomSampler, Sampler, SequentialSampler,
                        Subset, SubsetRandomSampler, TensorDataset, WeightedRandomSampler, default_collate,
                        random_split)
from nnkit.data.datasets import Digits
from nnkit.data.transforms import Lambda, Normalize


class Squares(Dataset):
    """A plain map-style dataset: sample i is (i, i * i) as Python ints."""

    def __init__(self, n):
        self.n = n

    def __getitem__(self, i):
        if not 0 <= i < self.n:
            raise IndexError(i)
        return i, i * i

    def __len__(self):
        return self.n


class Rows(Dataset):
    """The same samples as a TensorDataset, served one at a time (the slow path)."""

    def __init__(self, *tensors):
        self.tensors = tensors

    def __getitem__(self, i):
        return tuple(t[i] for t in self.tensors)

    def __len__(self):
        return len(self.tensors[0])


def gen(seed):
    return nnkit.Generator().manual_seed(seed)


# --- datasets -------------------------------------------------------------------

def test_the_base_dataset_asks_subclasses_for_getitem_and_len():
    with pytest.raises(NotImplementedError, match="__getitem__"):
        Dataset()[0]
    with pytest.raises(NotImplementedError, match="__len__"):
        len(Dataset())


def test_tensor_dataset_gives_rows_of_every_tensor():
    x, y = nnkit.arange(12).reshape(4, 3), nnkit.tensor([5, 6, 7, 8])
    ds = TensorDataset(x, y)
    xi, yi = ds[2]
    assert len(ds) == 4 and xi.tolist() == [6, 7, 8] and yi.item() == 7


def test_tensor_dataset_wraps_numpy_arrays_without_copying():
    x = np.zeros((3, 2), np.float32)
    ds = TensorDataset(x, np.arange(3))
    x[1, 0] = 5.0
    assert ds[1][0].tolist() == [5.0, 0.0] and ds.tensors[1].dtype == nnkit.int64


def test_tensor_dataset_rejects_tensors_of_different_lengths():
    with pytest.raises(ValueError, match=r"size mismatch.*\[4, 3\]"):
        TensorDataset(nnkit.zeros(4, 2), nnkit.zeros(3))
    with pytest.raises(TypeError, match="expected tensors"):
        TensorDataset([1, 2, 3])


def test_subset_reads_the_dataset_at_its_indices_in_order():
    sub = Subset(Squares(10), [7, 2, 5])
    assert len(sub) == 3 and sub[0] == (7, 49) and sub[2] == (5, 25)
    assert [s for s in sub] == [(7, 49), (2, 4), (5, 25)]


def test_concat_dataset_chains_datasets_and_indexes_across_the_seam():
    ds = ConcatDataset([Squares(3), Squares(2)])
    assert len(ds) == 5 and ds.cumulative_sizes == [3, 5]
    assert [ds[i][0] for i in range(5)] == [0, 1, 2, 0, 1]
    assert ds[-1] == (1, 1) and ds[-5] == (0, 0)
    with pytest.raises(IndexError):
        ds[5]
    with pytest.raises(ValueError, match="exceeds"):
        ds[-6]
    with pytest.raises(ValueError, match="empty"):
        ConcatDataset([])


def test_adding_datasets_concatenates_them():
    ds = Squares(2) + Squares(3)
    assert isinstance(ds, ConcatDataset) and len(ds) == 5 and ds[4] == (2, 4)


# --- random_split -----------------------------------------------------------------

def test_random_split_with_counts_partitions_the_indices():
    parts = random_split(range(10), [3, 7], generator=gen(0))
    assert [len(p) for p in parts] == [3, 7]
    assert sorted(parts[0].indices + parts[1].indices) == list(range(10))


@pytest.mark.parametrize("n, fractions, lengths", [
    (10, [0.33, 0.33, 0.34], [4, 3, 3]),  # floors 3, 3, 3; the remainder 1 goes to the first
    (11, [0.5, 0.5], [6, 5]),
    (30, [0.3, 0.3, 0.4], [9, 9, 12]),
    (7, [0.2, 0.2, 0.2, 0.2, 0.2], [2, 2, 1, 1, 1]),  # floors 1 each; 2 left, round-robin from the start
])
def test_random_split_with_fractions_hands_out_the_remainder_round_robin(n, fractions, lengths):
    assert [len(p) for p in random_split(range(n), fractions, generator=gen(0))] == lengths


@pytest.mark.torch
def test_random_split_lengths_match_torch():
    torch = pytest.importorskip("torch")
    for n, fractions in [(10, [0.33, 0.33, 0.34]), (11, [0.5, 0.5]), (7, [0.2] * 5), (101, [0.7, 0.2, 0.1])]:
        ours = [len(p) for p in random_split(range(n), fractions, generator=gen(0))]
        theirs = [len(p) for p in torch.utils.data.random_split(range(n), fractions)]
        assert ours == theirs


def test_random_split_is_reproducible_with_a_generator_and_varies_without_the_same_seed():
    a = random_split(range(20), [10, 10], generator=gen(3))
    b = random_split(range(20), [10, 10], generator=gen(3))
    c = random_split(range(20), [10, 10], generator=gen(4))
    assert a[0].indices == b[0].indices and a[0].indices != c[0].indices


def test_random_split_rejects_lengths_that_do_not_add_up():
    with pytest.raises(ValueError, match="sum to 9"):
        random_split(range(10), [4, 5])
    with pytest.raises(ValueError, match="non-negative integers"):
        random_split(range(10), [2.5, 7.5])


def test_random_split_warns_about_an_empty_part():
    with pytest.warns(UserWarning, match="index 2 is empty"):
        parts = random_split(range(2), [0.5, 0.5, 0.0])
    assert [len(p) for p in parts] == [1, 1, 0]


# --- default_collate ----------------------------------------------------------------

def test_default_collate_follows_torchs_dtype_rules():
    assert default_collate([1, 2]).dtype == nnkit.int64
    assert default_collate([1.0, 2.5]).dtype == nnkit.float64  # Python floats are doubles, as in torch
    assert default_collate([True, False]).dtype == nnkit.bool
    assert default_collate([np.float32(1), np.float32(2)]).dtype == nnkit.float32
    stacked = default_collate([np.ones(2, np.int32), np.zeros(2, np.int32)])
    assert stacked.dtype == nnkit.int32 and stacked.tolist() == [[1, 1], [0, 0]]


def test_default_collate_stacks_tensors_along_a_new_first_dim():
    out = default_collate([nnkit.ones(2, 3), nnkit.zeros(2, 3)])
    assert out.shape == (2, 2, 3) and out.array[0].sum() == 6 and out.array[1].sum() == 0


def test_default_collate_recurses_into_tuples_lists_dicts_and_namedtuples():
    Point = collections.namedtuple("Point", "x y")
    out = default_collate([(1, {"a": 2.0, "s": "u"}, Point(1, 2)), (3, {"a": 4.0, "s": "v"}, Point(3, 4))])
    assert isinstance(out, list)  # a tuple sample becomes a list, as in torch
    assert out[0].tolist() == [1, 3]
    assert out[1]["a"].tolist() == [2.0, 4.0] and out[1]["s"] == ["u", "v"]
    assert isinstance(out[2], Point) and out[2].y.tolist() == [2, 4]


def test_default_collate_names_the_problem():
    with pytest.raises(RuntimeError, match=r"different shapes \[\(2,\), \(3,\)\]"):
        default_collate([nnkit.zeros(2), nnkit.zeros(3)])
    with pytest.raises(RuntimeError, match="equal size"):
        default_collate([(1, 2), (3,)])
    with pytest.raises(TypeError, match="found object"):
        default_collate([object(), object()])


@pytest.mark.torch
def test_default_collate_matches_torch_on_structure_and_dtypes():
    torch = pytest.importorskip("torch")
    batch = [(1, 2.5, True, np.float32(0.5), np.arange(3, dtype=np.int16), {"k": 7}),
             (4, 5.5, False, np.float32(1.5), np.arange(3, dtype=np.int16), {"k": 8})]
    ours, theirs = default_collate(batch), torch.utils.data.default_collate(batch)
    assert type(ours) is type(theirs)
    for a, b in zip(ours[:5], theirs[:5]):
        assert str(a.dtype) == str(b.dtype).replace("torch.", "nnkit.") and a.tolist() == b.tolist()
    assert ours[5]["k"].tolist() == theirs[5]["k"].tolist()


# --- samplers ---------------------------------------------------------------------

def test_sequential_and_batch_samplers_give_torchs_batches():
    assert list(SequentialSampler(range(4))) == [0, 1, 2, 3]
    assert list(BatchSampler(SequentialSampler(range(10)), 3, drop_last=False)) == [[0, 1, 2], [3, 4, 5], [6, 7, 8],
                                                                                    [9]]
    assert list(BatchSampler(SequentialSampler(range(10)), 3, drop_last=True)) == [[0, 1, 2], [3, 4, 5], [6, 7, 8]]
    assert len(BatchSampler(range(10), 3, False)) == 4 and len(BatchSampler(range(10), 3, True)) == 3
    assert list(BatchSampler([5, 1, 4, 2, 3], 2, drop_last=False)) == [[5, 1], [4, 2], [3]]  # any iterable


def test_batch_sampler_rejects_bad_arguments():
    with pytest.raises(ValueError, match="batch_size should be a positive integer"):
        BatchSampler(range(3), 0, False)
    with pytest.raises(ValueError, match="drop_last should be a boolean"):
        BatchSampler(range(3), 2, 1)


def test_random_sampler_draws_a_new_permutation_each_time():
    sampler = RandomSampler(range(50), generator=gen(0))
    first, second = list(sampler), list(sampler)
    assert sorted(first) == sorted(second) == list(range(50)) and first != second


def test_random_sampler_with_replacement_and_num_samples():
    drawn = list(RandomSampler(range(5), replacement=True, num_samples=200, generator=gen(0)))
    assert len(drawn) == 200 and set(drawn) == set(range(5))
    longer = list(RandomSampler(range(4), num_samples=10, generator=gen(0)))
    assert len(longer) == 10 and sorted(longer[:4]) == [0, 1, 2, 3] and sorted(longer[4:8]) == [0, 1, 2, 3]
    with pytest.raises(ValueError, match="num_samples should be a positive integer"):
        RandomSampler(range(4), num_samples=0)


def test_subset_random_sampler_shuffles_only_its_indices():
    drawn = list(SubsetRandomSampler([3, 8, 9], generator=gen(0)))
    assert sorted(drawn) == [3, 8, 9]


def test_weighted_random_sampler_follows_the_weights():
    drawn = np.array(list(WeightedRandomSampler([0.0, 1.0, 3.0], 4000, generator=gen(0))))
    counts = np.bincount(drawn, minlength=3)
    assert counts[0] == 0 and abs(counts[2] / 4000 - 0.75) < 0.03
    no_repeat = list(WeightedRandomSampler([1.0, 1.0, 1.0, 5.0], 4, replacement=False, generator=gen(0)))
    assert sorted(no_repeat) == [0, 1, 2, 3]
    with pytest.raises(ValueError, match="without replacement"):
        WeightedRandomSampler([1.0, 0.0], 2, replacement=False)
    with pytest.raises(ValueError, match="non-negative"):
        WeightedRandomSampler([1.0, -1.0], 2)


# --- DataLoader ------------------------------------------------------------------------

def test_loader_batches_in_order_with_a_short_last_batch():
    loader = DataLoader(Squares(7), batch_size=3)
    batches = list(loader)
    assert len(loader) == 3 and [b[0].tolist() for b in batches] == [[0, 1, 2], [3, 4, 5], [6]]
    assert batches[0][1].tolist() == [0, 1, 4] and batches[0][1].dtype == nnkit.int64


def test_loader_drop_last_drops_the_short_batch():
    loader = DataLoader(Squares(7), batch_size=3, drop_last=True)
    assert len(loader) == 2 and [b[0].tolist() for b in loader] == [[0, 1, 2], [3, 4, 5]]


def test_shuffling_gives_a_new_permutation_every_epoch_reproducibly():
    def epochs(seed):
        loader = DataLoader(Squares(20), batch_size=6, shuffle=True, generator=gen(seed))
        return [[i for b in loader for i in b[0].tolist()] for _ in range(2)]

    first, second = epochs(1)
    assert sorted(first) == sorted(second) == list(range(20)) and first != second
    assert epochs(1) == [first, second] and epochs(2) != [first, second]


def test_shuffling_without_a_generator_follows_manual_seed():
    def order():
        nnkit.manual_seed(5)
        return [i for b in DataLoader(Squares(20), batch_size=4, shuffle=True) for i in b[0].tolist()]

    assert order() == order() != list(range(20))


def test_tensor_dataset_batches_come_from_one_indexing_not_per_sample(monkeypatch):
    x, y = nnkit.randn(50, 3), nnkit.randint(0, 4, (50,))
    calls = []
    monkeypatch.setattr(TensorDataset, "__getitem__", lambda self, i: calls.append(i))
    fast = list(DataLoader(TensorDataset(x, y), batch_size=8, shuffle=True, generator=gen(0)))
    slow = list(DataLoader(Rows(x, y), batch_size=8, shuffle=True, generator=gen(0)))
    assert calls == []
    assert len(fast) == len(slow) == 7
    for (fx, fy), (sx, sy) in zip(fast, slow):
        assert isinstance(fx, nnkit.Tensor) and fx.dtype == sx.dtype and fy.dtype == sy.dtype
        np.testing.assert_array_equal(fx.numpy(), sx.numpy())
        np.testing.assert_array_equal(fy.numpy(), sy.numpy())


def test_subsets_of_tensor_datasets_take_the_fast_path_too(monkeypatch):
    x = nnkit.arange(40).reshape(20, 2)
    train, _ = random_split(TensorDataset(x), [0.5, 0.5], generator=gen(0))
    monkeypatch.setattr(TensorDataset, "__getitem__", lambda self, i: pytest.fail("per-sample read"))
    (batch,) = next(iter(DataLoader(train, batch_size=10)))
    assert batch.tolist() == x.array[train.indices].tolist()


def test_a_custom_collate_fn_gets_the_list_of_samples():
    seen = []
    loader = DataLoader(TensorDataset(nnkit.arange(5)), batch_size=2, collate_fn=lambda b: seen.append(b) or len(b))
    assert list(loader) == [2, 2, 1]
    assert isinstance(seen[0], list) and seen[0][1][0].item() == 1


def test_batch_size_none_yields_single_converted_samples():
    class Arrays(Dataset):
        def __getitem__(self, i):
            return np.full(2, i, np.float32), i

        def __len__(self):
            return 3

    samples = list(DataLoader(Arrays(), batch_size=None))
    assert len(samples) == 3 and isinstance(samples[1][0], nnkit.Tensor) and samples[1][0].tolist() == [1.0, 1.0]
    assert samples[1][1] == 1


def test_a_custom_sampler_and_batch_sampler_drive_the_order():
    class Backwards(Sampler):
        def __init__(self, n):
            self.n = n

        def __iter__(self):
            return iter(range(self.n - 1, -1, -1))

        def __len__(self):
            return self.n

    loader = DataLoader(Squares(5), batch_size=2, sampler=Backwards(5))
    assert [b[0].tolist() for b in loader] == [[4, 3], [2, 1], [0]]
    loader = DataLoader(Squares(5), batch_sampler=[[0, 4], [2]])
    assert [b[0].tolist() for b in loader] == [[0, 4], [2]] and len(loader) == 2


def test_loader_rejects_conflicting_options():
    with pytest.raises(ValueError, match="sampler option is mutually exclusive with shuffle"):
        DataLoader(Squares(3), sampler=[0, 1, 2], shuffle=True)
    with pytest.raises(ValueError, match="batch_sampler option is mutually exclusive"):
        DataLoader(Squares(3), batch_size=2, batch_sampler=[[0, 1]])
    with pytest.raises(ValueError, match="drop_last"):
        DataLoader(Squares(3), batch_size=None, drop_last=True)


def test_worker_processes_and_pinned_memory_are_not_supported():
    with pytest.raises(NotImplementedError, match="num_workers=2"):
        DataLoader(Squares(3), num_workers=2)
    with pytest.raises(NotImplementedError, match="pin_memory"):
        DataLoader(Squares(3), pin_memory=True)
    with pytest.raises(NotImplementedError, match="persistent_workers"):
        DataLoader(Squares(3), persistent_workers=True)


@pytest.mark.torch
def test_loader_batches_match_torchs_without_shuffling():
    torch = pytest.importorskip("torch")
    data = np.arange(22, dtype=np.float32).reshape(11, 2)
    labels = np.arange(11) % 3
    ours = list(DataLoader(TensorDataset(data, labels), batch_size=4, drop_last=True))
    theirs = list(torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(torch.from_numpy(data), torch.from_numpy(labels)), batch_size=4,
        drop_last=True))
    assert len(ours) == len(theirs) == 2
    for (ox, oy), (tx, ty) in zip(ours, theirs):
        np.testing.assert_array_equal(ox.numpy(), tx.numpy())
        np.testing.assert_array_equal(oy.numpy(), ty.numpy())


# --- the digits as a dataset ------------------------------------------------------------

def test_digits_are_a_fixed_disjoint_split_of_8x8_images():
    train, test = Digits(train=True), Digits(train=False)
    assert len(train) + len(test) == 1797 and len(test) == 450
    image, label = train[0]
    assert image.shape == (1, 8, 8) and image.dtype == nnkit.float32 and isinstance(label, int)
    assert 0.0 <= train.data.array.min() and train.data.array.max() <= 1.0
    pixels = lambda ds: {row.tobytes() for row in ds.data.array.reshape(len(ds), -1)}  # noqa: E731
    assert len(pixels(train) & pixels(test)) <= 5  # the digits data holds a few duplicate images, no more
    again = Digits(train=True)
    np.testing.assert_array_equal(again.data.array, train.data.array)


def test_image_batches_with_a_batch_aware_transform_equal_per_sample_transforms():
    ds = Digits(train=False, transform=Normalize(0.5, 0.25))
    batch_x, batch_y = next(iter(DataLoader(ds, batch_size=16)))
    singles = [ds[i] for i in range(16)]
    np.testing.assert_allclose(batch_x.numpy(), np.stack([s[0].numpy() for s in singles]))
    assert batch_y.tolist() == [s[1] for s in singles] and batch_y.dtype == nnkit.int64


def test_image_datasets_apply_plain_callables_sample_by_sample():
    shapes = []
    ds = Digits(train=False, transform=Lambda(lambda img: shapes.append(img.shape) or img * 2),
                target_transform=lambda t: t + 10)
    x, y = next(iter(DataLoader(ds, batch_size=4)))
    assert shapes == [(1, 8, 8)] * 4 and x.shape == (4, 1, 8, 8) and y.tolist() == [ds.targets.array[i] + 10
                                                                                     for i in range(4)]


def test_nnkit_data_does_not_depend_on_nnkit_nn():
    sources = (Path(nnkit.__file__).parent / "data").glob("*.py")
    pattern = r"from \.\.nn|import nnkit\.nn|from nnkit\.nn|from nnkit import nn"
    offending = [p.name for p in sources if re.search(pattern, p.read_text())]
    assert offending == []


@pytest.mark.parametrize("module", ["dataset", "dataloader", "transforms", "datasets"])
def test_the_docstring_examples_run(module):
    result = doctest.testmod(importlib.import_module(f"nnkit.data.{module}"), verbose=False)
    assert result.attempted > 0 and result.failed == 0
