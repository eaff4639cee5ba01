"""``nnkit.models``: complete networks built from :mod:`nnkit.nn`.

- :class:`LeNet`: a LeNet-5 style CNN for small grey-scale images (chapter 07);
- :class:`ResNet` and :func:`resnet_small`: a small residual network of BasicBlocks (chapter 07);
- :class:`GPT` and :class:`GPTConfig`: a decoder-only Transformer language model (chapters 08-09);
- :class:`BertModel` and :class:`BertConfig`: the BERT encoder, which loads Hugging Face checkpoints
  (``BertModel.from_pretrained``), with :func:`mean_pooling` and :func:`minilm_path` (chapter 09).
"""

from .gpt import GPT, GPTConfig
from .lenet import LeNet
from .resnet import BasicBlock, ResNet, resnet_small

__all__ = ["LeNet", "BasicBlock", "ResNet", "resnet_small", "GPT", "GPTConfig"]

# --- chapter 09: BERT ---
from .bert import BertConfig, BertModel, mean_pooling, minilm_path
__all__ += ["BertConfig", "BertModel", "mean_pooling", "minilm_path"]
