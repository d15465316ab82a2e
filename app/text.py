"""Text hygiene for plan documents: input checks, page-break joining, width folding with offsets kept."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from app.errors import InputError

MAX_TEXT_BYTES = 1_000_000  # one boundary text; whole documents have their own limit
MAX_DOCUMENT_BYTES = 20_000_000

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufffd]")


def check_text(text: object, *, limit: int = MAX_TEXT_BYTES, what: str = "text") -> str:
    """Return `text` if it is usable input, else raise InputError saying why."""
    if not isinstance(text, str):
        raise InputError(f"{what} must be a string, got {type(text).__name__}")
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > limit:
        raise InputError(f"{what} is {size:,} bytes; the limit is {limit:,} bytes")
    if not text.strip():
        raise InputError(f"{what} is empty")
    bad = len(_CONTROL.findall(text))
    if bad > max(3, len(text) // 100):
        raise InputError(f"{what} looks binary: {bad} control or replacement characters in {len(text)}")
    return text


def decode_bytes(data: bytes, *, what: str = "file", limit: int = MAX_DOCUMENT_BYTES) -> str:
    """Decode a document's bytes as UTF-8 (with or without BOM) or GB18030, else raise InputError."""
    if len(data) > limit:
        raise InputError(f"{what} is {len(data):,} bytes; the limit is {limit:,} bytes")
    if b"\x00" in data[:65536]:
        raise InputError(f"{what} is binary (contains NUL bytes), not text")
    for enc in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(enc)
        except UnicodeDecodeError:
            continue
    raise InputError(f"{what} is neither UTF-8 nor GB18030 text")


_PAGE_NUMBER_LINE = re.compile(r"\n[ \t]*\d{1,3}[ \t]*(?=\n)")


def join_lines(text: str) -> str:
    """Undo PDF line wrapping for a boundary text: drop newlines, blank lines and stray page-number lines."""
    text = _PAGE_NUMBER_LINE.sub("\n", "\n" + text + "\n")[1:-1]
    return re.sub(r"[ \t]*\r?\n[ \t]?", "", text)


@dataclass(frozen=True)
class Folded:
    """Text with full-width forms folded to ASCII (NFKC per character) and a map back to the original."""

    original: str
    text: str
    origin: tuple[int, ...]  # origin[i] = index in `original` of folded character i; len(text) + 1 entries

    def source(self, start: int, end: int) -> str:
        """The original characters behind folded[start:end]."""
        return self.original[self.origin[start] : self.origin[end]]


_EXTRA = {"—": "—", "―": "—", "─": "—", "–": "—", "－": "—", "﹣": "—", "～": "~", "　": " "}


def fold(original: str) -> Folded:
    out: list[str] = []
    origin: list[int] = []
    for i, ch in enumerate(original):
        n = _EXTRA.get(ch) or unicodedata.normalize("NFKC", ch)
        if ch in "（）：；，、。":  # keep CJK punctuation distinct; NFKC would make them ASCII
            n = ch
        for c in n:
            out.append(c)
            origin.append(i)
    origin.append(len(original))
    text = "".join(out)
    # ASCII punctuation written in CJK text means the same as its full-width form
    text = text.translate(str.maketrans({"(": "（", ")": "）", ":": "：", ";": "；", ",": "，"}))
    return Folded(original, text, tuple(origin))
