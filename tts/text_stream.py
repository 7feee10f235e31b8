"""Text that arrives a little at a time (a language model's answer, token by token) cut into
pieces that can be read aloud at once: a voice agent's first audio comes after its first
sentence is written, not after the whole answer.

A piece ends where a sentence ends, and only once the next sentence has begun to arrive: "Dr."
or "10 p.m." may or may not end one, and the text after tells. A cut is taken only where the
pieces say the same sentences as the text so far would in one request (``tts.text.normalize``,
``split_sentences``), so reading piece after piece reads what one request of the whole text
reads.
"""

from __future__ import annotations

import codecs
import re
from typing import Iterator, TextIO

from .markdown import has_fence, in_code_block, in_marked_line, marked_line_ends, without_code
from .text import MAX_CHARS, InvalidText, _normalize_cached, split_sentences

MAX_PENDING = 8 * MAX_CHARS  # text waiting to be cut: a stream carries text as it comes, not books at once
# where a sentence may end, once text follows (a sentence too long for one piece waits for its end)
_CUT_RE = re.compile(r"[.!?][\"')\]]*\s+(?=\S)")


def _sentences(text: str) -> list[str] | None:
    """``text``'s sentences as a request reads them; None for text with nothing to say."""
    try:
        return split_sentences(_normalize_cached.__wrapped__(text))  # uncached: prefixes are seen once
    except InvalidText:
        return None


class SentenceBuffer:
    """``push`` text as it comes, get the pieces now complete; ``finish`` gives the rest."""

    def __init__(self) -> None:
        self.text = ""

    def push(self, text: str) -> list[str]:
        self.text = without_code(self.text + text)  # code blocks are not read: not held either
        if len(self.text) > MAX_PENDING:
            raise InvalidText(f"{len(self.text)} characters wait to be read; send text as it comes (at most "
                              f"{MAX_PENDING} at a time)")
        pieces = []
        while (piece := self._cut()) is not None:  # a big slice may hold many sentences
            pieces.append(piece)
        if len(self.text) > MAX_CHARS:
            raise InvalidText(f"{len(self.text)} characters came without a sentence end; at most {MAX_CHARS} "
                              "are read as one piece")
        return pieces

    def finish(self) -> list[str]:
        """What is left, once no more text will come (nothing when it has nothing to say)."""
        rest, self.text = self.text.strip(), ""
        return [rest] if rest and _sentences(rest) else []

    def _cut(self) -> str | None:
        """The longest head of the text (within a piece's length) whose sentences are those the
        text so far has there, if any."""
        window = self.text[:MAX_CHARS]
        # a sentence's end, not inside a Markdown heading, list item or table row; or such a line's end;
        # none inside a code block still open
        cuts = sorted({m.end() for m in _CUT_RE.finditer(window) if not in_marked_line(window, m.end())}
                      | set(marked_line_ends(window)))
        if has_fence(window):  # a push's text is looked at again for fences only where it has some
            cuts = [cut for cut in cuts if not in_code_block(window, cut)]
        whole = _sentences(window) if cuts else None
        for cut in reversed(cuts if whole else []):
            head = _sentences(window[:cut])
            if head and whole[: len(head)] == head:
                piece, self.text = window[:cut].strip(), self.text[cut:]
                return piece
        return None


def arriving(stream: TextIO) -> Iterator[str]:
    """A text stream's text in the slices it arrives in, as soon as each comes (not line by line:
    a language model's tokens come without newlines)."""
    raw = getattr(stream, "buffer", None)
    if raw is None or not hasattr(raw, "read1"):  # an in-memory text stream: its slices as read
        yield from iter(lambda: stream.read(4096), "")
        return
    decoder = codecs.getincrementaldecoder("utf-8")("replace")
    while block := raw.read1(4096):
        if text := decoder.decode(block):
            yield text
    if tail := decoder.decode(b"", final=True):
        yield tail
