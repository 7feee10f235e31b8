"""What a language model's Markdown means when it is read aloud.

Voice agents hand the TTS a chat model's answer as it is written, and chat models write
Markdown: ``**bold**``, ``# headings``, ``- bullets``, ``[links](https://...)``, ``snake_case``.
The model never met ``*``, ``#``, ``[`` or ``_`` in training (its corpus is plain sentences), so
they came out as noise or were read as words ("# Heading" as "number Heading"). ``plain``
keeps what a reader would say: the words of emphasis and links, headings and list items as
sentences of their own, "3 * 4" as "three times four", and nothing of the markup. A fenced
code block is for the screen: it is not read (a listener hears the prose around it; its
symbols read one by one say nothing). Text without markup comes back unchanged (the corpus's
sentences normalize as before).
"""

from __future__ import annotations

import re

_FENCE = re.compile(r"(?m)^[ \t]*(```|~~~)[^\n]*$")
_RULE = re.compile(r"(?m)^[ \t]*([-*_])(?:[ \t]*\1){2,}[ \t]*$")  # a horizontal rule: ---, ***
_TABLE_GAP = re.compile(r"(?m)^[ \t]*\|?(?:[ \t]*:?-+:?[ \t]*\|)+[ \t]*(?::?-+:?)?[ \t]*$")  # |---|:--:|
_TABLE_ROW = re.compile(r"(?m)^[ \t]*\|(.+)\|[ \t]*$")  # a row: its cells, a sentence
_CITATION = re.compile(r"\[\^?\d{1,3}\]")  # [1], [^2]: a reference, not read
_LINK = re.compile(r"!?\[([^\]\n]+)\]\([^)\s]*(?:\s+\"[^\"]*\")?\)")
# headings and list items are sentences of their own (a full stop added where one has no end):
# a heading's or bullet's mark is left out, a numbered item's number is read ("1. Mix" -> "1, Mix.")
_MARKED_LINE = re.compile(r"(?m)^[ \t]*(?:#{1,6}|[-*+\u2022])[ \t]+(.+?)[ \t]*#*[ \t]*$")
_NUMBERED_LINE = re.compile(r"(?m)^[ \t]*(\d{1,3})[.)][ \t]+(.+?)[ \t]*$")
_LINE_MARK = re.compile(r"[ \t]*(?:(?:#{1,6}|[-*+\u2022]|\d{1,3}[.)])[ \t]|\|)")  # at a line's start
_MARKED_LINE_END = re.compile(r"(?m)^" + _LINE_MARK.pattern + r".*\n(?=\s*\S)")
_EMPHASIS = [
    re.compile(r"(\*\*|__|~~)(?=\S)(.+?)(?<=\S)\1"),  # **bold**, __bold__, ~~struck~~
    re.compile(r"(?<![\w*])(\*)(?=[^\s*])([^*\n]+?)(?<=[^\s*])\*(?![\w*])"),  # *italic*
    re.compile(r"(?<![\w_])(_)(?=[^\s_])([^_\n]+?)(?<=[^\s_])_(?![\w_])"),  # _italic_
]
_TIMES = re.compile(r"(?<=\d) ?[*\u00d7] ?(?=\d)|(?<=\w) [*\u00d7] (?=\w)")  # 3 * 4, 3×4, x * y
_DASHES = re.compile(r"[ \t]*--+[ \t]*")  # "Wait -- what?": a pause, as an em dash is
_EMOTICON = re.compile(r"(?<![\w:;])[:;]-?[()DP](?![\w)(])")
# what is left: snake_case -> "snake case" (not in an e-mail address), a stray star or backtick
_LEFT = re.compile(r"(\S+@\S+)|(?<=\w)_(?=\w)|[*`]")
_MARKUP = re.compile(r"[*_#\[`~|\u2022\u00d7\n]|--|[:;]-?[()DP]")  # text without any is read as it is


def plain(text: str) -> str:
    """``text`` as it would be read: Markdown's markup left out, its words kept."""
    if not _MARKUP.search(text) and not _LINE_MARK.match(text):
        return text
    text = prose(text)
    text = _RULE.sub("", text)
    text = _TABLE_GAP.sub("", text)
    text = _TABLE_ROW.sub(lambda m: _ended_text(", ".join(c.strip() for c in m.group(1).split("|") if c.strip())), text)
    text = _CITATION.sub("", text)
    text = _LINK.sub(r"\1", text)
    text = _MARKED_LINE.sub(_ended, text)
    text = _NUMBERED_LINE.sub(lambda m: f"{m.group(1)}, {_ended(m, 2)}", text)
    for pattern in _EMPHASIS:
        text = pattern.sub(r"\2", text)
    text = _TIMES.sub(" times ", text)
    text = _DASHES.sub(", ", text)
    text = _EMOTICON.sub("", text)
    return _LEFT.sub(lambda m: m.group(1) or (" " if m.group(0) == "_" else ""), text)


def _ended(m: re.Match, group: int = 1) -> str:
    """A heading's or item's words, ended as a sentence."""
    return _ended_text(m.group(group))


def _ended_text(said: str) -> str:
    return said if not said or said[-1] in ".!?:;," else said + "."


def in_marked_line(text: str, pos: int) -> bool:
    """Whether ``pos`` is inside (not at the start of) a heading, list item or table row of ``text``: its
    line is read as a whole (``plain`` ends it as a sentence), so text streamed in pieces is cut
    only at such a line's end (``tts.text_stream``)."""
    start = text.rfind("\n", 0, pos) + 1
    return bool(text[start:pos].strip()) and _LINE_MARK.match(text, start) is not None


def has_fence(text: str) -> bool:
    """Whether ``text`` may hold a code block's fence (most text has none: nothing more to look for)."""
    return "```" in text or "~~~" in text


def in_code_block(text: str, pos: int) -> bool:
    """Whether ``pos`` is after an opening fence of ``text`` whose block is not closed before it."""
    return len(_FENCE.findall(text, 0, pos)) % 2 == 1


def without_code(text: str) -> str:
    """``text`` with what ``plain`` leaves unread of its code blocks taken out as it arrives: the
    closed blocks, and the whole lines so far of one still open (its opening fence and the line
    now arriving are kept: what comes next is still known to be code). A text stream holds an
    answer's prose, not its code, which may run longer than a piece may be."""
    fences = list(_FENCE.finditer(text)) if has_fence(text) else []
    if len(fences) % 2 == 0:
        return prose(text)
    opening = fences[-1]
    rest = text[opening.end():]
    arriving = "\n" + rest[rest.rfind("\n") + 1:] if "\n" in rest else rest
    return prose(text[:opening.start()]) + text[opening.start():opening.end()] + arriving


def prose(text: str) -> str:
    """``text`` without its fenced code blocks (fences paired in order; one left open runs to the
    end): what is read of it."""
    fences = list(_FENCE.finditer(text)) if has_fence(text) else []
    if not fences:
        return text
    kept, at = [], 0
    for opening, closing in zip(fences[::2], fences[1::2] + [None]):
        kept.append(text[at:opening.start()])
        at = closing.end() if closing is not None else len(text)
    return "".join(kept) + text[at:]


def marked_line_ends(text: str) -> list[int]:
    """Where each heading, list item or table row of ``text`` ends (after its newline), where more follows."""
    return [m.end() for m in _MARKED_LINE_END.finditer(text)]
