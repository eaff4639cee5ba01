"""A chapter uses only the parts of nnkit that it or an earlier chapter introduced.

The map is the table in ``nnkit/__init__.py``'s docstring; this test holds it
in finer grain (which ``nn`` names arrive with which chapter) and checks both
that the docstring agrees and that no notebook reaches ahead.
"""

import json
import re
from pathlib import Path

import pytest

import nnkit

ROOT = Path(__file__).resolve().parent.parent

# The first chapter that may use each part, most specific entry first.
INTRODUCED = {
    "plot": 1, "grading": 1,
    "data.synthetic": 2, "data.make_moons": 2, "data.make_circles": 2, "data.make_spirals": 2,
    "data.make_xor": 2, "data.make_sine_waves": 2, "data.load_digits": 2, "data.train_test_split": 2,
    "gradcheck": 5,
    "nn": 6, "optim": 6, "data": 6, "train": 6, "metrics": 6, "io": 6, "save": 6, "load": 6, "diagnostics": 6,
    "models": 7, "text": 8,
}
CHAPTER_07 = ("Conv2d", "ConvTranspose2d", "MaxPool2d", "AvgPool2d", "AdaptiveAvgPool2d", "BatchNorm2d",
              "conv2d", "conv_transpose2d", "max_pool2d", "avg_pool2d", "adaptive_avg_pool2d", "conv", "pooling",
              "Conv1d", "Conv3d", "ConvTranspose1d", "ConvTranspose3d", "Unfold", "Fold", "MaxPool1d", "MaxPool3d",
              "AvgPool1d", "AvgPool3d", "AdaptiveAvgPool1d", "AdaptiveAvgPool3d", "AdaptiveMaxPool1d",
              "AdaptiveMaxPool2d", "AdaptiveMaxPool3d", "MaxUnpool1d", "MaxUnpool2d", "MaxUnpool3d", "conv1d", "conv3d",
              "conv_transpose1d", "conv_transpose3d", "unfold", "fold", "max_pool1d", "max_pool3d", "avg_pool1d",
              "avg_pool3d", "adaptive_avg_pool1d", "adaptive_avg_pool3d", "adaptive_max_pool1d", "adaptive_max_pool2d",
              "adaptive_max_pool3d", "max_unpool1d", "max_unpool2d", "max_unpool3d")
CHAPTER_08 = ("RNN", "LSTM", "GRU", "RNNCell", "LSTMCell", "GRUCell", "MultiheadAttention",
              "TransformerEncoderLayer", "TransformerEncoder", "scaled_dot_product_attention",
              "SinusoidalPositionalEncoding", "LearnedPositionalEmbedding", "recurrent", "attention",
              "transformer")
for _name in CHAPTER_07:
    INTRODUCED[f"nn.{_name}"] = INTRODUCED[f"nn.functional.{_name}"] = 7
for _name in CHAPTER_08:
    INTRODUCED[f"nn.{_name}"] = INTRODUCED[f"nn.functional.{_name}"] = 8
INTRODUCED["models.GPT"] = INTRODUCED["models.GPTConfig"] = INTRODUCED["models.gpt"] = 8
INTRODUCED["distributed"] = INTRODUCED["nn.parallel"] = INTRODUCED["data.DistributedSampler"] = INTRODUCED["data.distributed"] = 11
for _name in ("amp", "autocast", "bfloat16", "utils", "utils.checkpoint"):
    INTRODUCED[_name] = 11
INTRODUCED["utils.data"] = 6  # nnkit.data under PyTorch's torch.utils.data name
# Chapter 09: a pretrained BERT, its tokenizer, LoRA and the spam corpus.
for _name in ("models.bert", "models.BertModel", "models.BertConfig", "models.mean_pooling", "models.minilm_path",
              "text.WordPieceTokenizer", "nn.lora", "nn.LoRALinear", "nn.count_parameters", "data.spam",
              "data.load_spam_assassin", "data.SpamAssassin"):
    INTRODUCED[_name] = 9
# Chapter 10: resizing for generative models (ConvTranspose2d, Unflatten and the losses came earlier).
for _name in ("upsampling", "Upsample", "UpsamplingNearest2d", "UpsamplingBilinear2d", "interpolate", "pixelshuffle",
              "vision", "PixelShuffle", "PixelUnshuffle", "pixel_shuffle", "pixel_unshuffle"):
    INTRODUCED[f"nn.{_name}"] = INTRODUCED[f"nn.functional.{_name}"] = 10


def chapter_of(path: str) -> int:
    """The chapter that introduces ``path`` (dotted, below nnkit); the core is chapter 04."""
    parts = path.split(".")
    for n in range(len(parts), 0, -1):
        key = ".".join(parts[:n])
        if key in INTRODUCED:
            return INTRODUCED[key]
    return 4


def references(source: str) -> set:
    """Dotted paths below ``nnkit`` that a piece of code uses, aliases followed."""
    found = set()
    aliases = {"nnkit": ""}
    pattern = r"^[ \t]*from[ \t]+nnkit((?:\.\w+)*)[ \t]+import[ \t]+(?:\(([^)]*)\)|([\w \t,]+))"
    for mod, grouped, plain in re.findall(pattern, source, re.M):
        base = mod.lstrip(".")
        for item in (grouped or plain).split(","):
            item = item.strip()
            if not item:
                continue
            name, _, alias = (p.strip() for p in item.partition(" as "))
            full = f"{base}.{name}" if base else name
            found.add(full)
            aliases[alias or name] = full
    for mod, alias in re.findall(r"^[ \t]*import[ \t]+nnkit((?:\.\w+)*)(?:\s+as\s+(\w+))?", source, re.M):
        if mod:
            found.add(mod.lstrip("."))
        if alias:
            aliases[alias] = mod.lstrip(".")
    for alias, full in aliases.items():
        for chain in re.findall(rf"(?<![\w.]){re.escape(alias)}((?:\.[A-Za-z_]\w*)+)", source):
            path = (full + chain) if full else chain.lstrip(".")
            found.add(path.lstrip("."))
    return found


def notebooks():
    return sorted(p for p in (ROOT / "course").rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)


def test_the_docstring_table_agrees():
    doc = nnkit.__doc__
    for module, chapter in (("nnkit.plot", 1), ("nnkit.data.synthetic", 2), ("nnkit.backend", 4),
                            ("nnkit.ops", 4), ("nnkit.gradcheck", 5), ("nnkit.nn", 6), ("nnkit.optim", 6)):
        rows = [line for line in doc.splitlines() if line.startswith(module + " ")]
        assert rows, f"{module} is missing from the table in nnkit/__init__.py"
        assert rows[0].split()[-1] == f"{chapter:02d}", rows[0]


def test_references_follow_aliases():
    code = "from nnkit import nn\nimport nnkit\nx = nnkit.tensor(1)\nnn.Conv2d(1, 2, 3)\n"
    assert {"nn", "nn.Conv2d", "tensor"} <= references(code)
    assert chapter_of("nn.Conv2d") == 7 and chapter_of("nn.Linear") == 6 and chapter_of("tensor") == 4


@pytest.mark.parametrize("path", notebooks(), ids=lambda p: str(p.relative_to(ROOT / "course")))
def test_notebook_uses_only_what_was_introduced(path):
    chapter = int(path.relative_to(ROOT / "course").parts[0][:2])
    nb = json.loads(path.read_text(encoding="utf-8"))
    source = "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code")
    ahead = sorted(r for r in references(source) if chapter_of(r) > chapter)
    assert not ahead, f"chapter {chapter:02d} uses parts of nnkit introduced later: {ahead}"
