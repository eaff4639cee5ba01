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
  nothing is ever unknown;
- :class:`WordPieceTokenizer` (chapter 09): BERT's subword tokenizer, which loads a
  pretrained vocabulary and splits each word greedily into its longest known pieces.

:func:`python_corpus` gives text to train on without downloading anything and
without shipping anyone's text: the docstrings (or the source) of Python's own
standard library, read from the running interpreter.
"""

from __future__ import annotations

import collections
import functools
import importlib
import inspect
import itertools
import json
import re
import sysconfig
import unicodedata
import warnings
from pathlib import Path
from typing import Iterable, Iterator, Sequence

import numpy

__all__ = ["CharTokenizer", "WordVocab", "BPETokenizer", "WordPieceTokenizer", "word_tokenize", "python_corpus"]


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


# --- WordPiece, BERT's tokenizer (chapter 09) -------------------------------------------------------

_CJK_RANGES = ((0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF), (0x2A700, 0x2B73F), (0x2B740, 0x2B81F),
               (0x2B820, 0x2CEAF), (0xF900, 0xFAFF), (0x2F800, 0x2FA1F))


def _is_cjk(ch: str) -> bool:
    """A CJK ideograph (the Unicode blocks BERT's code lists): each becomes a word of its own.
    Japanese kana and Korean hangul are not in these blocks and stay inside words."""
    cp = ord(ch)
    return any(lo <= cp <= hi for lo, hi in _CJK_RANGES)


def _is_punctuation(ch: str) -> bool:
    """BERT's punctuation: every ASCII non-alphanumeric symbol ($, +, ^ too) and Unicode's P* categories."""
    cp = ord(ch)
    return 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126 or \
        unicodedata.category(ch).startswith("P")


# A run of characters that BERT's clean-up keeps inside one word: everything but the ASCII
# spaces, the Unicode space separators (category Zs) and the line and paragraph separators.
_RAW_PIECE = re.compile("[^ \t\n\r\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+")


def _normalize_char(ch: str) -> str:
    """BERT's clean-up of one character: NUL, U+FFFD and control characters removed, any
    whitespace made a space."""
    if ch in " \t\n\r" or unicodedata.category(ch) == "Zs":
        return " "
    if ch == "\0" or ch == "\ufffd" or unicodedata.category(ch).startswith("C"):
        return ""
    return ch


class WordPieceTokenizer:
    """BERT's tokenizer: basic tokenisation, then greedy longest-match WordPiece.

    1. Normalise: drop control characters, make every space a plain space, put spaces
       around each CJK ideograph, then (for an uncased model) strip accents (NFD, then
       drop the combining marks: "café" → "cafe") and lower-case.
    2. Split on whitespace, and make each punctuation mark a word of its own.
    3. WordPiece: cut each word into the longest vocabulary entry that starts it, then
       the longest entry (written with a ``##`` prefix) that continues it, and so on:
       "unaffable" → ``un ##aff ##able``. A word with a piece missing from the vocabulary,
       or longer than 100 characters, becomes ``[UNK]`` as a whole.

    The special tokens (``[CLS]``, ``[SEP]``, ``[PAD]``, ``[UNK]``, ``[MASK]``) written in the
    text are kept as they are. :meth:`encode` adds ``[CLS]`` at the start and ``[SEP]`` at
    the end; calling the tokenizer on a list gives padded batches. The result is the same,
    id for id, as Hugging Face's ``BertTokenizer`` and the ``tokenizers`` library.

    >>> tok = WordPieceTokenizer(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "un", "##aff", "##able",
    ...                           "the", "cafe", "!"])
    >>> tok.tokenize("The unaffable CAFÉ!")
    ['the', 'un', '##aff', '##able', 'cafe', '!']
    >>> tok.encode("the cafe")
    [2, 8, 9, 3]
    >>> tok.decode(tok.encode("unaffable!"))
    'unaffable!'
    """

    def __init__(self, vocab: Sequence[str], do_lower_case: bool = True, strip_accents: bool | None = None,
                 tokenize_chinese_chars: bool = True, unk_token: str = "[UNK]", sep_token: str = "[SEP]",
                 pad_token: str = "[PAD]", cls_token: str = "[CLS]", mask_token: str = "[MASK]",
                 model_max_length: int = 512, max_input_chars_per_word: int = 100):
        self.itos = list(vocab)
        self.vocab = {token: i for i, token in enumerate(self.itos)}
        if len(self.vocab) != len(self.itos):
            raise ValueError("WordPieceTokenizer: the vocabulary has repeated entries")
        specials = {"unk_token": unk_token, "sep_token": sep_token, "pad_token": pad_token, "cls_token": cls_token,
                    "mask_token": mask_token}
        missing = [f"{name}={token!r}" for name, token in specials.items() if token not in self.vocab]
        if missing:
            raise ValueError(f"WordPieceTokenizer: the vocabulary lacks the special tokens {', '.join(missing)}")
        self.unk_token, self.sep_token, self.pad_token, self.cls_token, self.mask_token = specials.values()
        self.special_tokens = list(dict.fromkeys(specials.values()))
        # The longest first, so that a special token is never cut short by one that begins it.
        self._special = re.compile("|".join(re.escape(t) for t in sorted(self.special_tokens, key=len, reverse=True)))
        self.do_lower_case = do_lower_case
        self.strip_accents = do_lower_case if strip_accents is None else strip_accents
        self.tokenize_chinese_chars = tokenize_chinese_chars
        self.model_max_length = model_max_length
        self.max_input_chars_per_word = max_input_chars_per_word
        self._cache: dict[str, list[str]] = {}  # raw piece of text -> its tokens

    @classmethod
    def from_pretrained(cls, directory: str | Path) -> "WordPieceTokenizer":
        """The tokenizer of a Hugging Face BERT directory: ``vocab.txt`` (one token per line, the
        line number is the id) and, when present, the options of ``tokenizer_config.json``
        (``do_lower_case``, ``strip_accents``, ``tokenize_chinese_chars``, the special tokens,
        ``model_max_length``)."""
        directory = Path(directory)
        vocab_file = directory / "vocab.txt"
        if not vocab_file.is_file():
            raise FileNotFoundError(f"WordPieceTokenizer.from_pretrained: no vocab.txt in {directory}")
        vocab = vocab_file.read_text(encoding="utf-8").split("\n")
        if vocab and vocab[-1] == "":
            vocab.pop()  # the final newline
        config_file = directory / "tokenizer_config.json"
        config = json.loads(config_file.read_text(encoding="utf-8")) if config_file.is_file() else {}
        options = {k: config[k] for k in ("do_lower_case", "strip_accents", "tokenize_chinese_chars", "unk_token",
                                          "sep_token", "pad_token", "cls_token", "mask_token") if k in config}
        length = config.get("model_max_length")
        if isinstance(length, int) and length < 10 ** 9:  # HF writes a huge number for "no limit"
            options["model_max_length"] = length
        return cls([t.rstrip("\r") for t in vocab], **options)

    @property
    def vocab_size(self) -> int:
        return len(self.itos)

    def __len__(self) -> int:
        return len(self.itos)

    pad_token_id = property(lambda self: self.vocab[self.pad_token])
    unk_token_id = property(lambda self: self.vocab[self.unk_token])
    cls_token_id = property(lambda self: self.vocab[self.cls_token])
    sep_token_id = property(lambda self: self.vocab[self.sep_token])
    mask_token_id = property(lambda self: self.vocab[self.mask_token])

    # -- steps 1 and 2: basic tokenisation ----------------------------------------------------------
    def _normalize(self, text: str) -> str:
        text = "".join(_normalize_char(ch) for ch in text)
        if self.tokenize_chinese_chars:
            text = "".join(f" {ch} " if _is_cjk(ch) else ch for ch in text)
        if self.strip_accents:
            text = "".join(ch for ch in unicodedata.normalize("NFD", text) if unicodedata.category(ch) != "Mn")
        if self.do_lower_case:
            text = "".join(ch.lower() for ch in text)  # char by char, as BERT does (no final-sigma rule)
        return text

    def basic_tokenize(self, text: str) -> list[str]:
        """Steps 1 and 2: the normalised words and punctuation marks, before WordPiece.

        >>> WordPieceTokenizer(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]).basic_tokenize("Héllo, 世界!")
        ['hello', ',', '世', '界', '!']
        """
        words = []
        for word in self._normalize(text).split():
            start = 0
            for i, ch in enumerate(word):
                if _is_punctuation(ch):
                    words.extend(([word[start:i]] if i > start else []) + [ch])
                    start = i + 1
            if start < len(word):
                words.append(word[start:])
        return words

    # -- step 3: WordPiece ------------------------------------------------------------------------------
    def wordpiece(self, word: str) -> list[str]:
        """Greedy longest-match-first: the pieces of one word, or ``[UNK]`` if it cannot be cut."""
        if len(word) > self.max_input_chars_per_word:
            return [self.unk_token]
        pieces, start = [], 0
        while start < len(word):
            end = len(word)
            while end > start:
                piece = word[start:end] if start == 0 else "##" + word[start:end]
                if piece in self.vocab:
                    break
                end -= 1
            if end == start:  # not even one character matches: the whole word is unknown
                return [self.unk_token]
            pieces.append(piece)
            start = end
        return pieces

    def _tokens(self, text: str) -> Iterator[str]:
        """The tokens of ``text``, one at a time (so that truncation stops early on long texts).

        The raw text is cut at whitespace first and each piece tokenised on its own, which gives
        the same tokens as tokenising the whole (clean-up never joins or splits across these
        separators) and lets a repeated piece come from the cache."""
        start = 0
        for match in [*self._special.finditer(text), None]:
            for piece in _RAW_PIECE.finditer(text, start, match.start() if match else len(text)):
                tokens = self._cache.get(piece.group())
                if tokens is None:
                    tokens = [t for word in self.basic_tokenize(piece.group()) for t in self.wordpiece(word)]
                    self._cache[piece.group()] = tokens
                yield from tokens
            if match:
                yield match.group()
                start = match.end()

    def tokenize(self, text: str) -> list[str]:
        """The tokens of ``text``, without ``[CLS]``/``[SEP]``."""
        return list(self._tokens(text))

    def convert_tokens_to_ids(self, tokens: Iterable[str]) -> list[int]:
        unk = self.unk_token_id
        return [self.vocab.get(t, unk) for t in tokens]

    def convert_ids_to_tokens(self, ids) -> list[str]:
        ids = _ids(ids)
        bad = [i for i in ids if not 0 <= i < len(self.itos)]
        if bad:
            raise ValueError(f"WordPieceTokenizer: id {bad[0]} is out of range for a vocabulary of {len(self.itos)}")
        return [self.itos[i] for i in ids]

    def encode(self, text: str, max_length: int | None = None) -> list[int]:
        """``[CLS]``, the ids of ``text``, ``[SEP]``; with ``max_length``, the text's ids are cut so that
        the whole fits (``[SEP]`` is kept)."""
        if not isinstance(text, str):
            raise TypeError(f"WordPieceTokenizer.encode: expected a str, got {type(text).__name__} "
                            "(call the tokenizer itself on a list of texts)")
        if max_length is not None and max_length < 2:
            raise ValueError(f"WordPieceTokenizer: max_length must leave room for [CLS] and [SEP], got {max_length}")
        tokens = self._tokens(text)
        ids = self.convert_tokens_to_ids(tokens if max_length is None else itertools.islice(tokens, max_length - 2))
        return [self.cls_token_id, *ids, self.sep_token_id]

    def decode(self, ids, skip_special_tokens: bool = True) -> str:
        """Text from ids, as the ``tokenizers`` library decodes: tokens joined by spaces, a ``##``
        piece glued to the one before, no space before ``.``, ``?``, ``!`` and ``,``.
        Lower-casing and stripped accents are not undone."""
        tokens = self.convert_ids_to_tokens(ids)
        if skip_special_tokens:
            tokens = [t for t in tokens if t not in self.special_tokens]
        parts = []
        for i, token in enumerate(tokens):
            if i and token.startswith("##"):
                parts.append(token[2:])
            else:
                parts.append(token if i == 0 or token in (".", "?", "!", ",") else " " + token)
        return "".join(parts)

    def __call__(self, texts: str | Sequence[str], max_length: int | None = 128, padding: bool | str = True,
                 truncation: bool = True) -> dict:
        """A batch for a BERT model: ``input_ids``, ``attention_mask`` (1 = a real token, 0 = padding)
        and ``token_type_ids`` (all 0: one segment), each an int64 Tensor (batch, tokens).

        ``truncation`` cuts each text to ``max_length`` tokens (``[CLS]`` and ``[SEP]`` included).
        ``padding=True`` (or ``"longest"``) pads with ``[PAD]`` to the longest in the batch,
        ``"max_length"`` to ``max_length``; ``False`` needs texts of equal length. One str
        gives a batch of one.

        >>> tok = WordPieceTokenizer(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "b"])
        >>> batch = tok(["a b a", "b"])
        >>> batch["input_ids"].tolist(), batch["attention_mask"].tolist()
        ([[2, 5, 6, 5, 3], [2, 6, 3, 0, 0]], [[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]])
        """
        from .tensor import tensor  # text sits beside the core: only this batch needs Tensors

        texts = [texts] if isinstance(texts, str) else list(texts)
        if not texts or not all(isinstance(t, str) for t in texts):
            raise TypeError("WordPieceTokenizer: expected a str or a non-empty list of str")
        if padding not in (True, False, "longest", "max_length", "do_not_pad"):
            raise ValueError(f"WordPieceTokenizer: padding must be True, False, 'longest' or 'max_length', "
                             f"got {padding!r}")
        if (truncation or padding == "max_length") and max_length is None:
            raise ValueError("WordPieceTokenizer: truncation and padding='max_length' need a max_length")
        rows = [self.encode(t, max_length if truncation else None) for t in texts]
        lengths = [len(r) for r in rows]
        if padding in (False, "do_not_pad") and len(set(lengths)) > 1:
            raise ValueError("WordPieceTokenizer: texts of different lengths need padding=True "
                             f"(got lengths {sorted(set(lengths))})")
        width = max(lengths + ([max_length] if padding == "max_length" else []))
        ids = numpy.full((len(rows), width), self.pad_token_id, dtype=numpy.int64)
        for i, row in enumerate(rows):
            ids[i, :len(row)] = row
        mask = (numpy.arange(width) < numpy.array(lengths)[:, None]).astype(numpy.int64)
        return {"input_ids": tensor(ids), "attention_mask": tensor(mask),
                "token_type_ids": tensor(numpy.zeros_like(ids))}

    def __repr__(self) -> str:
        return (f"WordPieceTokenizer(vocab_size={self.vocab_size}, do_lower_case={self.do_lower_case}, "
                f"strip_accents={self.strip_accents})")


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
