"""``nnkit.nn``: modules, layers, losses, initialisation and utilities, as ``torch.nn``.

A model is a tree of :class:`Module` objects holding :class:`Parameter` tensors;
the layers here are modules, and :mod:`nnkit.nn.functional` has each of them as
a plain function.
"""

from . import functional, init, utils
from .activation import ELU, GELU, LeakyReLU, LogSoftmax, Mish, PReLU, ReLU, Sigmoid, SiLU, Softmax, Softplus, Tanh
from .dropout import Dropout
from .embedding import Embedding
from .flatten import Flatten, Unflatten
from .linear import Bilinear, Identity, Linear
from .loss import BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, HuberLoss, L1Loss, MSELoss, NLLLoss, SmoothL1Loss
from .module import Module, ModuleDict, ModuleList, Parameter, Sequential
from .normalization import BatchNorm1d, BatchNorm2d, LayerNorm
from .summary import summary

__all__ = ["functional", "init", "utils", "summary", "Module", "Parameter", "Sequential", "ModuleList", "ModuleDict",
           "Identity", "Linear", "Bilinear", "Flatten", "Unflatten", "ReLU", "LeakyReLU", "ELU", "GELU", "SiLU",
           "Mish", "Sigmoid", "Tanh", "Softplus", "Softmax", "LogSoftmax", "PReLU", "Dropout", "BatchNorm1d", "BatchNorm2d",
           "LayerNorm", "Embedding", "MSELoss", "L1Loss", "SmoothL1Loss", "HuberLoss", "NLLLoss", "CrossEntropyLoss",
           "BCELoss", "BCEWithLogitsLoss"]

# --- layers of chapters 07-08 (conv, pooling, recurrent, attention) ---
from .attention import MultiheadAttention
from .conv import Conv1d, Conv2d, Conv3d, ConvTranspose1d, ConvTranspose2d, ConvTranspose3d, Fold, Unfold
from .pixelshuffle import PixelShuffle, PixelUnshuffle
from .pooling import (AdaptiveAvgPool1d, AdaptiveAvgPool2d, AdaptiveAvgPool3d, AdaptiveMaxPool1d, AdaptiveMaxPool2d,
                      AdaptiveMaxPool3d, AvgPool1d, AvgPool2d, AvgPool3d, MaxPool1d, MaxPool2d, MaxPool3d, MaxUnpool1d,
                      MaxUnpool2d, MaxUnpool3d)
from .recurrent import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNCell
from .transformer import (LearnedPositionalEmbedding, SinusoidalPositionalEncoding, Transformer, TransformerDecoder,
                          TransformerDecoderLayer, TransformerEncoder, TransformerEncoderLayer)
# --- end of layers of chapters 07-08 ---

# --- more activations and normalisation layers, as torch.nn has them ---
from .activation import (CELU, GLU, SELU, Hardshrink, Hardsigmoid, Hardswish, Hardtanh, LogSigmoid, ReLU6, RReLU,
                         Softmax2d, Softmin, Softshrink, Softsign, Tanhshrink, Threshold)
from .normalization import (BatchNorm3d, GroupNorm, InstanceNorm1d, InstanceNorm2d, InstanceNorm3d, LocalResponseNorm,
                            RMSNorm)
__all__ += ["ReLU6", "Hardtanh", "SELU", "CELU", "Hardsigmoid", "Hardswish", "LogSigmoid", "Softsign", "Softmin",
            "Softmax2d", "Tanhshrink", "Softshrink", "Hardshrink", "Threshold", "GLU", "RReLU", "BatchNorm3d",
            "InstanceNorm1d", "InstanceNorm2d", "InstanceNorm3d", "GroupNorm", "RMSNorm", "LocalResponseNorm"]
from .distance import CosineSimilarity, PairwiseDistance
from .loss import (CosineEmbeddingLoss, CTCLoss, GaussianNLLLoss, HingeEmbeddingLoss, KLDivLoss, MarginRankingLoss,
                   MultiLabelSoftMarginLoss, MultiMarginLoss, PoissonNLLLoss, SoftMarginLoss, TripletMarginLoss,
                   TripletMarginWithDistanceLoss)
__all__ += ["CosineSimilarity", "PairwiseDistance", "KLDivLoss", "PoissonNLLLoss", "GaussianNLLLoss",
            "CosineEmbeddingLoss", "MarginRankingLoss", "HingeEmbeddingLoss", "TripletMarginLoss",
            "TripletMarginWithDistanceLoss", "SoftMarginLoss", "MultiLabelSoftMarginLoss", "MultiMarginLoss", "CTCLoss"]

# --- chapter 09: LoRA adapters (nnkit.nn.lora), counting trainable parameters ---
from . import lora
from .lora import LoRALinear
from .summary import count_parameters
__all__ += ["lora", "LoRALinear", "count_parameters"]

# --- chapter 10: resizing (Upsample, interpolate) ---
from .upsampling import Upsample, UpsamplingBilinear2d, UpsamplingNearest2d
__all__ += ["Upsample", "UpsamplingNearest2d", "UpsamplingBilinear2d"]

# --- chapter 11: data parallelism ---
from . import parallel
__all__ += ["parallel"]
