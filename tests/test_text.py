"""nnkit.text: tokenizers round-trip and give deterministic ids; BPE merges the most frequent
pair first; the corpus is deterministic and needs no network."""

import socket

import numpy as np
import pytest

import nnkit
from nnkit import text
from nnkit.text import BPETokenizer, CharTokenizer, WordVocab, python_corpus, word_tokenize

SAMPLES = ["", "hello world", "naïve café — ünïcödé ✓ 😀", "tabs\tand\nnewlines  \n\n", "x_1 = f(a_b, 'c')",
           "   leading and trailing   ", "1234567890 3.14159"]


def test_char_tokenizer_round_trip_and_sorted_ids():
    corpus = "".join(SAMPLES)
    tok = CharTokenizer.fit(corpus)
    assert tok.itos == sorted(set(corpus)) and tok.vocab_size == len(set(corpus))
    for s in SAMPLES:
        assert tok.decode(tok.encode(s)) == s
    assert tok.encode("dlrow") == [tok.stoi[c] for c in "dlrow"]
    assert tok.decode(nnkit.tensor(tok.encode("hello"))) == "hello"  # tensors of ids are accepted


def test_char_tokenizer_unknown_characters():
    tok = CharTokenizer.fit("abc")
    with pytest.raises(ValueError, match="'z' is not in the vocabulary"):
        tok.encode("abz")
    with pytest.raises(ValueError, match="out of range"):
        tok.decode([3])
    tolerant = CharTokenizer.fit("abc", unknown="?")
    assert tolerant.itos == ["?", "a", "b", "c"]
    assert tolerant.encode("azc") == [1, 0, 3] and tolerant.decode(tolerant.encode("azc")) == "a?c"


def test_word_tokenize_splits_words_and_punctuation():
    assert word_tokenize("The cat's hat, isn't it?") == ["the", "cat", "'", "s", "hat", ",", "isn", "'", "t", "it",
                                                          "?"]
    assert word_tokenize("Keep Case", lower=False) == ["Keep", "Case"]


def test_word_vocab_order_min_freq_max_size_and_unknowns():
    texts = ["b a c a", "a b d", "c e"]
    vocab = WordVocab.build(texts)
    assert vocab.itos == ["<pad>", "<unk>", "a", "b", "c", "d", "e"]  # by count, then alphabetically
    assert WordVocab.build(texts, min_freq=2).itos == ["<pad>", "<unk>", "a", "b", "c"]
    assert WordVocab.build(texts, max_size=2).itos == ["<pad>", "<unk>", "a", "b"]
    assert vocab.encode("A z b!") == [2, 1, 3, 1]
    assert vocab.decode([2, 3, 0, 0]) == "a b" and vocab.decode([2, 0], skip_padding=False) == "a <pad>"
    assert vocab["zebra"] == vocab.unk_index == 1 and vocab.pad_index == 0 and "a" in vocab
    assert len(vocab) == vocab.vocab_size == 7


def test_bpe_learns_the_most_frequent_pair_first():
    # "aaabdaaabac": "aa" occurs 4 times; after merging it (256), "aa"+"a" and "a"+"b" tie at 2 and
    # the one counted first wins; then "aaa"+"b".
    tok = BPETokenizer.train("aaabdaaabac", vocab_size=259)
    assert tok.merges == [(97, 97), (256, 97), (257, 98)]
    assert [tok.vocab[i] for i in (256, 257, 258)] == [b"aa", b"aaa", b"aaab"]
    assert tok.encode("aaabd") == [258, 100] and tok.encode("ba") == [98, 97]


def test_bpe_round_trips_any_text_and_compresses_its_training_text():
    corpus = python_corpus(max_chars=30000)
    tok = BPETokenizer.train(corpus, vocab_size=400)
    assert tok.vocab_size == 400
    for s in SAMPLES + [corpus[:2000]]:
        assert tok.decode(tok.encode(s)) == s
    assert len(tok.encode(corpus)) < 0.6 * len(corpus.encode("utf-8"))
    assert all(0 <= i < 400 for i in tok.encode("ünseen wörds ✓"))
    again = BPETokenizer.train(corpus, vocab_size=400)
    assert again.merges == tok.merges  # deterministic
    assert BPETokenizer(tok.merges).encode(corpus[:500]) == tok.encode(corpus[:500])
    with pytest.raises(ValueError, match="at least 256"):
        BPETokenizer.train("abc", 100)


def test_bpe_stops_when_nothing_is_left_to_merge():
    tok = BPETokenizer.train("ab ab", vocab_size=1000)
    assert tok.vocab_size < 1000 and tok.decode(tok.encode("ab ab")) == "ab ab"


def test_chunks_cover_the_text():
    for s in SAMPLES + [python_corpus(max_chars=20000, kind="source")]:
        assert "".join(text._CHUNK.findall(s)) == s


def test_python_corpus_is_deterministic_clean_and_offline(monkeypatch):
    def no_network(*args, **kwargs):
        raise AssertionError("python_corpus tried to open a socket")
    monkeypatch.setattr(socket, "socket", no_network)
    text._corpus.cache_clear()
    docs = python_corpus()
    text._corpus.cache_clear()
    assert python_corpus() == docs
    assert len(docs) > 100_000 and "Return" in docs and docs.startswith("abc\n")
    assert "\t" not in docs and "\n\n\n" not in docs and not any(line.endswith(" ") for line in docs.splitlines())
    assert python_corpus(max_chars=1234) == docs[:1234]
    source = python_corpus(max_chars=50_000, kind="source")
    assert "def " in source and "import " in source
    with pytest.raises(ValueError, match="kind"):
        python_corpus(kind="poems")


def test_a_char_model_input_pipeline():
    """Text to a (B, T) batch of ids and the shifted targets, as a language model needs."""
    data = python_corpus(max_chars=5000)
    tok = CharTokenizer.fit(data)
    ids = np.array(tok.encode(data))
    x = np.stack([ids[i:i + 16] for i in range(0, 64, 16)])
    y = np.stack([ids[i + 1:i + 17] for i in range(0, 64, 16)])
    assert x.shape == y.shape == (4, 16) and (x[:, 1:] == y[:, :-1]).all()
    assert tok.decode(x[0]) == data[:16]
