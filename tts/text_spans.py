"""Where in the text a request sent each word as read comes from: a reader highlighting the
words of its own page as they are said (Azure's word boundaries carry a text offset and length,
Polly's word marks a start and end in the input).

The words as read are the normalized ones ("twelve dollars" for "$12", "nooyen" for a
respelled "Nguyen"), so they are aligned back onto the words of the text as written: the words
the two share (case and punctuation aside) are anchors, and the words read between two anchors
come from the written words between them, all of that stretch ("five dollars and fifty cents"
are each "$5.50"). SSML markup is not text: spans fall on the words between the tags, as
offsets into the document. Long texts are aligned a few hundred words at a time, each stretch
cut at an anchor, so a book costs what its pages do.
"""

from __future__ import annotations

import re
from difflib import SequenceMatcher

from .text import InvalidText, normalize

STRETCH = 400  # words read aligned at a time
_MARKUP = re.compile(r"<[^>]*>")
_WORD = re.compile(r"[^\s<>]+")
_BEFORE, _AFTER = "\"'([{\u201c\u2018\u00bf\u00a1*_", "\"').,!?;:]}\u201d\u2019\u2026*_"  # punctuation around a word


def written_words(text: str, markup: bool = False) -> list[tuple[int, int]]:
    """Each whitespace-separated word's (start, end) in ``text``, without the punctuation around
    it ("today." is "today", "$5.50" stays); with ``markup``, the words outside the tags."""
    spans, at = [], 0
    for tag in [*(_MARKUP.finditer(text) if markup else ()), None]:
        end = tag.start() if tag else len(text)
        spans += [_trimmed(text, *m.span()) for m in _WORD.finditer(text, at, end)]
        at = tag.end() if tag else end
    return spans


def _trimmed(text: str, start: int, end: int) -> tuple[int, int]:
    while end - start > 1 and text[end - 1] in _AFTER:
        end -= 1
    while end - start > 1 and text[start] in _BEFORE:
        start += 1
    return start, end


def word_spans(text: str, sentences: list[str], markup: bool = False) -> list[list[tuple[int, int]]]:
    """For each sentence as read (normalized), each of its words' (start, end) in ``text``."""
    written = written_words(text, markup)
    said = [word for sentence in sentences for word in sentence.split()]
    found = _align([text[a:b] for a, b in written], [_key(w) for w in said], written)
    out, k = [], 0
    for sentence in sentences:
        n = len(sentence.split())
        out.append(found[k : k + n])
        k += n
    return out


def _key(word: str) -> str:
    return "".join(c for c in word.lower() if c.isalnum())


def _align(texts: list[str], said: list[str], spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Each said word's span (``said``: their keys), a stretch of ``STRETCH`` said words at a time
    against the written words (``texts``, at ``spans``) from where the last stretch's last anchor
    left off."""
    written = [_key(t) for t in texts]
    found: list[tuple[int, int]] = []
    i = j = 0
    while j < len(said):
        last = j + STRETCH >= len(said)
        ops = SequenceMatcher(None, written[i : i + STRETCH * 2], said[j : j + STRETCH], autojunk=False).get_opcodes()
        if not last:  # keep up to the last anchor well inside the stretch: what follows is aligned again
            cut = max((n for n, op in enumerate(ops) if op[0] == "equal" and op[4] <= STRETCH * 3 // 4), default=None)
            ops = ops if cut is None else ops[: cut + 1]
        for tag, a1, a2, b1, b2 in ops:
            if tag == "equal":
                found += spans[i + a1 : i + a2]
            else:
                before = spans[i + a1 - 1 : i + a1] if i + a1 else []  # not a copy of all before it
                found += _block(texts[i + a1 : i + a2], spans[i + a1 : i + a2], said[j + b1 : j + b2], before)
        i, j = i + ops[-1][2], j + ops[-1][4]
    return found


def _block(texts: list[str], spans: list[tuple[int, int]], said: list[str],
           before: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The spans of the words ``said`` read from the written words ``texts`` (at ``spans``), each
    its own written word where that can be told: each written word alone reads as the words in
    turn ("629 603"), or each read word shares letters with written ones in order ("b i g" from
    "big", "nooyen" from "Nguyen"); else all the stretch ("Jan. 5, 2020" is read as one).
    Words read from nothing written get the written word ``before`` them."""
    if not spans:
        return (before or [(0, 0)]) * len(said)
    counts = [len(_read(t).split()) for t in texts]
    if sum(counts) == len(said):
        return [span for span, count in zip(spans, counts) for _ in range(count)]
    owners = _by_letters([_key(t) for t in texts], said)
    if owners is not None:
        return [(spans[first][0], spans[last][1]) for first, last in owners]
    return [(spans[0][0], spans[-1][1])] * len(said)


def _by_letters(written: list[str], said: list[str]) -> list[tuple[int, int]] | None:
    """For each said word, the first and last written word whose letters it matched (the letters
    of both aligned in order); None if a said word matched none."""
    owner = [i for i, w in enumerate(written) for _ in w]
    starts = [0]
    for w in said:
        starts.append(starts[-1] + len(w))
    matched: list[list[int]] = [[] for _ in said]
    k = 0
    for a, b, size in SequenceMatcher(None, "".join(written), "".join(said), autojunk=False).get_matching_blocks():
        for offset in range(size):
            while starts[k + 1] <= b + offset:
                k += 1
            matched[k].append(owner[a + offset])
    if not all(matched):
        return None
    return [(min(m), max(m)) for m in matched]


def _read(written: str) -> str:
    try:
        return normalize(written)
    except InvalidText:  # punctuation alone
        return ""
