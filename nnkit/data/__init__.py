"""Data: synthetic sets and bundled digits (chapter 02); datasets, loaders, transforms and downloads (chapter 06).

The pipeline has PyTorch's vocabulary (``torch.utils.data``): a :class:`Dataset`
gives samples, a :class:`DataLoader` batches them, :mod:`nnkit.data.transforms`
augments images, and :mod:`nnkit.data.datasets` holds the digits, MNIST and
Fashion-MNIST as datasets. Nothing here needs ``nnkit.nn``.
"""

from . import datasets, transforms
from .dataloader import (BatchSampler, DataLoader, RandomSampler, Sampler, SequentialSampler, SubsetRandomSampler,
                         WeightedRandomSampler, default_collate, default_convert)
from .dataset import ConcatDataset, Dataset, Subset, TensorDataset, random_split
from .synthetic import (load_digits, make_circles, make_moons, make_sine_waves, make_spirals, make_xor,
                        train_test_split)

__all__ = ["make_moons", "make_circles", "make_spirals", "make_xor", "make_sine_waves", "load_digits",
           "train_test_split", "Dataset", "TensorDataset", "Subset", "ConcatDataset", "random_split",
           "DataLoader", "default_collate", "default_convert", "Sampler", "SequentialSampler", "RandomSampler",
           "SubsetRandomSampler", "WeightedRandomSampler", "BatchSampler", "transforms", "datasets"]

# --- chapter 09: the SpamAssassin e-mail corpus ---
from .spam import SpamAssassin, load_spam_assassin
__all__ += ["load_spam_assassin", "SpamAssassin"]
from .distributed import DistributedSampler
__all__ += ["DistributedSampler"]
