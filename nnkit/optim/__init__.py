"""Optimizers and learning-rate schedulers, with PyTorch's names, options and update rules.

Each optimizer updates its parameters in place from their ``.grad``:

>>> import nnkit
>>> w = nnkit.tensor([3.0], requires_grad=True)
>>> opt = nnkit.optim.Adam([w], lr=0.1)
>>> for _ in range(3):
...     opt.zero_grad()
...     (w ** 2).sum().backward()
...     _ = opt.step()
>>> round(w.item(), 2)  # three steps of about lr each
2.7
"""

from . import lr_scheduler
from .adadelta import Adadelta
from .adagrad import Adagrad
from .adam import Adam, AdamW
from .optimizer import Optimizer
from .rmsprop import RMSprop
from .sgd import SGD

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "Adadelta", "lr_scheduler"]
