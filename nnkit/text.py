"""Text for sequence models (chapter 08): tokenizers and a corpus that is always there offline.

A language model sees integers, not text: a tokenizer maps text to a list of ids
and back. Three granularities, each a trade between vocabulary size and sequence
length:

- :class:`CharTokenizer`: one id per character (a small vocabulary, long sequences);
- :class:`WordVocab`: one id per word (a large vocabulary, short sequences, and
  words never seen in training all become ``<unk>``);
- :class:`BPETokenizer`: byte-pair encoding, the middle way of GPT-2: start from
  the 256 byte values and repeatedly merge the most frequent adjacent pair into a
  new token. Frequent words become one token, rare ones split into pieces, and
  nothing is ever unknown.

:func:`python_corpus` gives text to train on without downloading anything and
without shipping anyone's text: the docstrings (or the source) of Python's own
standard library, read from the running interpreter.
"""

from __future__ import annotations

import collections
import functools
import importlib
import inspect
import re
import sysconfig
import warnings
from pathlib import Path
from typing import Iterable, Sequence

__all__ = ["CharTokenizer", "WordVocab", "BPETokenizer", "word_tokenize", "python_corpus"]


def _ids(ids) -> list[int]:
    """A list of ints from a list, a tuple, an array or a 1-d tensor."""
    if hasattr(ids, "tolist"):
        ids = ids.tolist()
    return [int(i) for i in ids]


class CharTokenizer:
    """One id per character: ids follow the sorted characters of the text it was fitted on.

    A character outside the vocabulary is an error, unless ``unknown`` names a stand-in
    character (it gets id 0) to encode it as.

    >>> tok = CharTokenizer.fit("hello")
    >>> tok.vocab_size, tok.encode("hole")
    (4, [1, 3, 2, 0])
    >>> tok.decode(tok.encode("hole"))
    'hole'
    >>> CharTokenizer.fit("abc", unknown="?").decode(CharTokenizer.fit("abc", unknown="?").encode("abz"))
    'ab?'
    """

    def __init__(self, chars: Iterable[str], unknown: str | None = None):
        chars = sorted(set(chars) - {unknown})
        if any(len(c) != 1 for c in chars):
            raise ValueError("CharTokenizer: the vocabulary must consist of single characters")
        self.unknown = unknown
        self.itos = ([unknown] if unknown is not None else []) + chars
        self.stoi = {c: i for i, c in enumerate(self.itos)}

    @classmethod
    def fit(cls, text: str, unknown: str | None = None) -> "CharTokenizer":
        """The tokenizer whose vocabulary is the characters of ``text`` (plus ``unknown``)."""
        return cls(text, unknown)

    @property
    def vocab_size(self) -> int:
        return len(self.itos)

    def __len__(self) -> int:
        return len(self.itos)

    def encode(self, text: str) -> list[int]:
        if self.unknown is not None:
            return [self.stoi.get(c, 0) for c in text]
        try:
            return [self.stoi[c] for c in text]
        except KeyError as err:
            raise ValueError(f"CharTokenizer: character {err.args[0]!r} is not in the vocabulary (fit on more "
                             "text, or pass unknown='?' to map unseen characters to a stand-in)") from None

    def decode(self, ids) -> str:
        ids = _ids(ids)
        bad = [i for i in ids if not 0 <= i < len(self.itos)]
        if bad:
            raise ValueError(f"CharTokenizer: id {bad[0]} is out of range for a vocabulary of {len(self.itos)}")
        return "".join(self.itos[i] for i in ids)

    def __repr__(self) -> str:
        return f"CharTokenizer(vocab_size={self.vocab_size})"


_WORD = re.compile(r"\w+|[^\w\s]")


def word_tokenize(text: str, lower: bool = True) -> list[str]:
    """Split text into words and punctuation marks (each mark its own token).

    >>> word_tokenize("Hello, world! It's 2 o'clock.")
    ['hello', ',', 'world', '!', 'it', "'", 's', '2', 'o', "'", 'clock', '.']
    """
    return _WORD.findall(text.lower() if lower else text)


class WordVocab:
    """A word-level vocabulary: ``<pad>`` is 0, ``<unk>`` is 1, then the words by decreasing
    frequency (ties in alphabetical order), so the same text always gives the same ids.

    >>> vocab = WordVocab.build(["the cat sat", "the dog sat down"], min_freq=2)
    >>> vocab.itos
    ['<pad>', '<unk>', 'sat', 'the']
    >>> vocab.encode("the bird sat")
    [3, 1, 2]
    >>> vocab.decode([3, 1, 2, 0, 0])
    'the <unk> sat'
    """

    def __init__(self, tokens: Sequence[str], pad_token: str = "<pad>", unk_token: str = "<unk>", lower: bool = True):
        specials = [pad_token, unk_token]
        self.itos = specials + [t for t in tokens if t not in specials]
        if len(set(self.itos)) != len(self.itos):
            raise ValueError("WordVocab: the tokens must be distinct")
        self.stoi = {t: i for i, t in enumerate(self.itos)}
        self.pad_token, self.unk_token, self.lower = pad_token, unk_token, lower
        self.pad_index, self.unk_index = 0, 1

    @classmethod
    def build(cls, texts: str | Iterable[str], min_freq: int = 1, max_size: int | None = None,
              lower: bool = True, pad_token: str = "<pad>", unk_token: str = "<unk>") -> "WordVocab":
        """Count the words of ``texts`` (one string or many) and keep those seen at least
        ``min_freq`` times, the ``max_size`` most frequent at most (specials not counted)."""
        if isinstance(texts, str):
            texts = [texts]
        counts = collections.Counter(w for text in texts for w in word_tokenize(text, lower))
        words = sorted((w for w, c in counts.items() if c >= min_freq), key=lambda w: (-counts[w], w))
        return cls(words[:max_size] if max_size is not None else words, pad_token, unk_token, lower)

    @property
    def vocab_size(self) -> int:
        return len(self.itos)

    def __len__(self) -> int:
        return len(self.itos)

    def __getitem__(self, token: str) -> int:
        return self.stoi.get(token, self.unk_index)

    def __contains__(self, token: str) -> bool:
        return token in self.stoi

    def encode(self, text: str) -> list[int]:
        return [self[w] for w in word_tokenize(text, self.lower)]

    def decode(self, ids, skip_padding: bool = True) -> str:
        """The tokens of ``ids`` joined by spaces (``<pad>`` left out unless ``skip_padding=False``)."""
        ids = _ids(ids)
        bad = [i for i in ids if not 0 <= i < len(self.itos)]
        if bad:
            raise ValueError(f"WordVocab: id {bad[0]} is out of range for a vocabulary of {len(self.itos)}")
        return " ".join(self.itos[i] for i in ids if not (skip_padding and i == self.pad_index))

    def __repr__(self) -> str:
        return f"WordVocab(vocab_size={self.vocab_size})"


# GPT-2's way of cutting text into chunks that merges never cross (words with their leading
# space, numbers, underscores, other symbols, whitespace), written for Python's re. Every
# character falls in one of the classes, so the chunks add up to the text.
_CHUNK = re.compile(r"'(?:[sdmt]|ll|ve|re)| ?[^\W\d_]+| ?\d+| ?_+| ?[^\s\w]+|\s+(?!\S)|\s+")


def _merge(ids: Sequence[int], pair: tuple[int, int], new_id: int) -> list[int]:
    """``ids`` with every non-overlapping occurrence of ``pair`` (left to right) replaced by ``new_id``."""
    out, i = [], 0
    while i < len(ids):
        if i + 1 < len(ids) and ids[i] == pair[0] and ids[i + 1] == pair[1]:
            out.append(new_id)
            i += 2
        else:
            out.append(ids[i])
            i += 1
    return out


class BPETokenizer:
    """Byte-level byte-pair encoding. Ids 0-255 are the bytes; each id from 256 on is a merge
    of two earlier ids, learned by :meth:`train` in order of frequency. Any text (any
    language, any symbol) encodes, and ``decode(encode(text)) == text``.

    >>> tok = BPETokenizer.train("low lower lowest " * 20, vocab_size=260)
    >>> tok.vocab_size, len(tok.encode("lowest")) < len("lowest".encode())
    (260, True)
    >>> tok.decode(tok.encode("slowly, ü"))
    'slowly, ü'
    """

    def __init__(self, merges: Sequence[tuple[int, int]] = ()):
        self.merges = [tuple(p) for p in merges]
        self.ranks = {pair: 256 + i for i, pair in enumerate(self.merges)}
        self.vocab = [bytes([b]) for b in range(256)]
        for a, b in self.merges:
            self.vocab.append(self.vocab[a] + self.vocab[b])
        self._cache: dict[str, list[int]] = {}

    @classmethod
    def train(cls, text: str, vocab_size: int) -> "BPETokenizer":
        """Learn ``vocab_size − 256`` merges from ``text``: each time, merge the most frequent
        adjacent pair of ids within a chunk (on ties, the pair counted first).

        The pair counts are kept up to date incrementally: a merge recounts only the chunks
        that contain the merged pair, not the whole text."""
        if vocab_size < 256:
            raise ValueError(f"BPETokenizer.train: vocab_size must be at least 256 (the bytes), got {vocab_size}")
        counts = collections.Counter(_CHUNK.findall(text))
        words = [list(chunk.encode("utf-8")) for chunk in counts]
        freqs = list(counts.values())
        pairs = collections.Counter()               # pair -> occurrences in the text
        where = collections.defaultdict(set)        # pair -> the chunks it occurs in
        for w, ids in enumerate(words):
            for pair in zip(ids, ids[1:]):
                pairs[pair] += freqs[w]
                where[pair].add(w)
        merges = []
        for new_id in range(256, vocab_size):
            if not pairs:
                break  # every chunk is a single token: nothing left to merge
            best = max(pairs, key=pairs.get)
            merges.append(best)
            for w in where.pop(best):
                for pair in zip(words[w], words[w][1:]):
                    pairs[pair] -= freqs[w]
                    if not pairs[pair]:
                        del pairs[pair]
                    where[pair].discard(w)
                words[w] = _merge(words[w], best, new_id)
                for pair in zip(words[w], words[w][1:]):
                    pairs[pair] += freqs[w]
                    where[pair].add(w)
        return cls(merges)

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    def __len__(self) -> int:
        return len(self.vocab)

    def _encode_chunk(self, chunk: str) -> list[int]:
        ids = list(chunk.encode("utf-8"))
        while len(ids) > 1:  # apply the earliest-learned merge present, as training did
            pair = min(zip(ids, ids[1:]), key=lambda p: self.ranks.get(p, float("inf")))
            if pair not in self.ranks:
                break
            ids = _merge(ids, pair, self.ranks[pair])
        return ids

    def encode(self, text: str) -> list[int]:
        out = []
        for chunk in _CHUNK.findall(text):
            if chunk not in self._cache:
                self._cache[chunk] = self._encode_chunk(chunk)
            out.extend(self._cache[chunk])
        return out

    def decode(self, ids) -> str:
        ids = _ids(ids)
        bad = [i for i in ids if not 0 <= i < len(self.vocab)]
        if bad:
            raise ValueError(f"BPETokenizer: id {bad[0]} is out of range for a vocabulary of {len(self.vocab)}")
        return b"".join(self.vocab[i] for i in ids).decode("utf-8", errors="replace")

    def __repr__(self) -> str:
        return f"BPETokenizer(vocab_size={self.vocab_size})"


# Pure-Python standard library modules with plenty of prose, importable without side effects.
_CORPUS_MODULES = (
    "abc", "argparse", "ast", "base64", "bisect", "calendar", "cmd", "codecs", "collections", "colorsys",
    "configparser", "contextlib", "copy", "csv", "dataclasses", "datetime", "decimal", "difflib", "dis", "enum",
    "filecmp", "fileinput", "fnmatch", "fractions", "functools", "getopt", "gettext", "glob", "graphlib", "gzip",
    "heapq", "hmac", "html", "inspect", "io", "ipaddress", "json", "keyword", "linecache", "locale", "logging",
    "mimetypes", "numbers", "operator", "optparse", "pathlib", "pickle", "pkgutil", "platform", "plistlib",
    "pprint", "queue", "quopri", "random", "re", "reprlib", "sched", "secrets", "selectors", "shlex", "shutil",
    "statistics", "string", "struct", "subprocess", "tarfile", "tempfile", "textwrap", "threading", "timeit",
    "tokenize", "trace", "traceback", "types", "typing", "uuid", "warnings", "wave", "weakref", "zipfile",
)


def _clean(text: str) -> str:
    """Tabs to spaces, no trailing spaces, at most one blank line in a row."""
    lines = [line.rstrip() for line in text.expandtabs(4).splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip("\n")


def _docstrings(module) -> list[str]:
    """The module's docstring, then those of its own classes, functions and methods, by name."""
    parts = [f"{module.__name__}\n{_clean(inspect.cleandoc(module.__doc__))}"] if module.__doc__ else []
    seen = set()
    for name, obj in sorted(vars(module).items()):
        if name.startswith("_") or getattr(obj, "__module__", None) != module.__name__:
            continue
        members = [(name, obj)]
        if inspect.isclass(obj):
            members += [(f"{name}.{m}", v) for m, v in sorted(vars(obj).items())
                        if not m.startswith("_") and callable(v)]
        for qualname, member in members:
            doc = member.__doc__ if isinstance(getattr(member, "__doc__", None), str) else None
            if doc and doc.strip() and doc not in seen:
                seen.add(doc)
                parts.append(f"{module.__name__}.{qualname}\n{_clean(inspect.cleandoc(doc))}")
    return parts


def _source_files(module) -> list[Path]:
    """The module's .py file, or all .py files of a package, in sorted order."""
    path = Path(module.__file__)
    if path.name == "__init__.py":
        return sorted(p for p in path.parent.rglob("*.py") if "test" not in p.relative_to(path.parent).parts[0])
    return [path]


@functools.lru_cache(maxsize=4)
def _corpus(kind: str) -> str:
    stdlib = Path(sysconfig.get_paths()["stdlib"]).resolve()
    parts = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name in _CORPUS_MODULES:
            try:
                module = importlib.import_module(name)
            except ImportError:  # an interpreter built without it: skip, deterministically
                continue
            if kind == "docstrings":
                parts.extend(_docstrings(module))
                continue
            file = getattr(module, "__file__", None)
            if file is None or stdlib not in Path(file).resolve().parents:
                continue
            parts.extend(_clean(p.read_text(encoding="utf-8", errors="replace")) for p in _source_files(module))
    return "\n\n".join(parts) + "\n"


def python_corpus(max_chars: int | None = None, kind: str = "docstrings") -> str:
    """English (and Python) text that is always available offline: the docstrings of a fixed,
    sorted list of standard-library modules (``kind='docstrings'``; each preceded by its
    qualified name), or their source files (``kind='source'``). Whitespace is cleaned (tabs
    expanded, no trailing spaces, no runs of blank lines). The same Python version always
    gives the same text; ``max_chars`` cuts it short.

    >>> text = python_corpus(max_chars=1000)
    >>> len(text), text == python_corpus(max_chars=1000)
    (1000, True)
    """
    if kind not in ("docstrings", "source"):
        raise ValueError(f"python_corpus: kind must be 'docstrings' or 'source', got {kind!r}")
    if max_chars is not None and max_chars < 0:
        raise ValueError(f"python_corpus: max_chars must be non-negative, got {max_chars}")
    text = _corpus(kind)
    return text if max_chars is None else text[:max_chars]
