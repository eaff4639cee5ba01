"""nnkit: a neural-network framework built from scratch on NumPy, with PyTorch's vocabulary.

The library is layered, and imports only point down: the array backend, then
the tensor and autograd, then ``nn``, then the training tools. Each module is
introduced (its key code shown and explained) in exactly one chapter of the
course, and a chapter uses only modules introduced up to it
(``tests/test_library_map.py`` enforces this):

=========================  ====================================================  =======
module                     what lives there                                      chapter
=========================  ====================================================  =======
nnkit.plot                 figures used everywhere                               01
nnkit.grading              the exercises' self-checks                            01
nnkit.data.synthetic       moons, circles, spirals, xor, sine waves, digits      02
nnkit.backend              the array module (NumPy or CuPy), devices, dtypes     04
nnkit.cuda                 is a GPU available?                                   04
nnkit.tensor               Tensor and the creation functions                     04
nnkit.autograd             the graph, backward, grad, Function, functional       04
nnkit.ops                  the differentiable primitives                         04
nnkit.linalg               torch.linalg's names: norms, solve, inv, cross        04
nnkit.special              torch.special's names: gammaln, digamma, i0, ndtr...  04
nnkit.gradcheck            finite-difference checks of any function              05
nnkit.nn                   Module, Parameter, layers, losses, init, summary      06
nnkit.optim                optimizers and lr_scheduler                           06
nnkit.data                 Dataset, DataLoader, transforms, MNIST download       06
nnkit.train                a small fit loop with progress bar and live plot      06
nnkit.metrics              accuracy, precision, recall, F1, confusion matrix     06
nnkit.io                   save and load, safe and atomic                        06
nnkit.diagnostics          per-layer activations, gradients, update/data ratios  06
nnkit.nn (conv)            Conv2d, pooling, BatchNorm2d                          07
nnkit.models (vision)      LeNet, a small ResNet                                 07
nnkit.nn (sequence)        RNN, LSTM, GRU, attention, Transformer layers         08
nnkit.text                 tokenizers and an offline corpus                      08
nnkit.models.gpt           a small decoder-only GPT                              08
nnkit.models.bert          BERT, from_pretrained, mean pooling, minilm_path      09
nnkit.text (WordPiece)     WordPieceTokenizer, BERT's tokenizer                  09
nnkit.nn.lora              LoRA adapters, apply_lora, merging; count_parameters  09
nnkit.data.spam            the SpamAssassin e-mails (npm, cached, checked)       09
nnkit.nn.upsampling        Upsample, interpolate (generative models)             10
nnkit.distributed          process groups and collectives (MPI, NCCL), ZeRO-1    11
nnkit.nn.parallel          DistributedDataParallel                               11
nnkit.amp                  autocast, bfloat16, GradScaler (mixed precision)      11
nnkit.utils                checkpoint (activation checkpointing)                 11
=========================  ====================================================  =======

``tests/test_library_map.py`` holds the finer grain (which ``nn`` names arrive
with chapters 07 and 08).
"""

__version__ = "0.1.0"

from . import tensor as _tensor_module  # noqa: F401
from . import autograd, backend, cuda, ops  # ops attaches the operators and methods to Tensor
from .autograd import (enable_grad, inference_mode, is_grad_enabled, is_inference_mode_enabled, no_grad,
                       set_grad_enabled)
from .backend import (Generator, bool_ as bool, default_generator, device, dtype, float16, float32, float64,
                      get_default_dtype, get_rng_state, int8, int16, int32, int64, manual_seed, set_default_dtype,
                      set_rng_state, uint8)
from .backend import (float16 as half, float32 as float, float64 as double, int16 as short,  # noqa: E402
                      int32 as int, int64 as long)  # PyTorch's other names
from .ops import *  # noqa: F401,F403  (add, sum, matmul...: every op as a function, as torch.<name>)
from .tensor import *  # noqa: F401,F403  (Tensor, tensor, zeros, arange...: the creation functions)
from ._tensor_str import get_printoptions, printoptions, set_printoptions  # noqa: E402
from .autograd import functional as _autograd_functional  # noqa: E402,F401  (autograd.functional needs the ops)
from .gradcheck import gradcheck  # noqa: E402  (the function, as torch.autograd.gradcheck)
from . import linalg, special  # noqa: E402,F401  (as torch.linalg and torch.special)
from . import data, grading, io, nn, optim, plot  # noqa: E402,F401
from . import metrics, train  # noqa: E402,F401  (train uses optim.lr_scheduler)
from . import models, text  # noqa: E402,F401
from .io import load, save  # noqa: E402
from . import amp  # noqa: E402,F401  (chapter 11: mixed precision)
from .amp import autocast  # noqa: E402
from .backend import bfloat16  # noqa: E402  (None without the ml_dtypes package)
from . import utils  # noqa: E402,F401  (chapter 11: utils.checkpoint; utils.data is nnkit.data)
from . import distributed  # noqa: E402,F401  (chapter 11; mpi4py is imported by init_process_group, not here)

