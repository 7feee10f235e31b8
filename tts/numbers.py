"""English number reading: cardinals, ordinals, years, decimals (no dependencies).

Conventions match the corpus the recipe trains on: "three hundred and forty two",
"eighteen eighty seven", "nineteen oh five", "two thousand and five".
"""

from __future__ import annotations

ONES = ("zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
        "fifteen sixteen seventeen eighteen nineteen").split()
TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()
SCALES = ((10**12, "trillion"), (10**9, "billion"), (10**6, "million"), (1000, "thousand"))
ORDINAL_IRREGULAR = {"one": "first", "two": "second", "three": "third", "five": "fifth", "eight": "eighth",
                     "nine": "ninth", "twelve": "twelfth"}


def number_words(n: int) -> str:
    """A non-negative integer below 10**15 as words, e.g. 342 -> 'three hundred and forty two'."""
    if n < 0:
        return "minus " + number_words(-n)
    if n >= 10**15:
        raise ValueError(f"{n} is too large to read")
    if n < 20:
        return ONES[n]
    if n < 100:
        return TENS[n // 10] + ("" if n % 10 == 0 else " " + ONES[n % 10])
    if n < 1000:
        rest = n % 100
        return ONES[n // 100] + " hundred" + ("" if rest == 0 else " and " + number_words(rest))
    for value, name in SCALES:
        if n >= value:
            head, rest = divmod(n, value)
            sep = "" if rest == 0 else (" and " if rest < 100 else " ")
            return number_words(head) + " " + name + sep + (number_words(rest) if rest else "")
    raise AssertionError("unreachable")


def ordinal_words(n: int) -> str:
    """21 -> 'twenty first', 100 -> 'one hundredth'."""
    words = number_words(n).split()
    last = words[-1]
    if last in ORDINAL_IRREGULAR:
        words[-1] = ORDINAL_IRREGULAR[last]
    elif last.endswith("y"):
        words[-1] = last[:-1] + "ieth"
    else:
        words[-1] = last + "th"
    return " ".join(words)


def year_words(y: int) -> str:
    """A year the way it is read: 1887 -> 'eighteen eighty seven', 1905 -> 'nineteen oh five'."""
    hi, lo = divmod(y, 100)
    if 2000 <= y < 2010 or y < 1000:
        return number_words(y)
    if lo == 0:
        return number_words(hi) + " hundred"
    return number_words(hi) + " " + ("oh " + ONES[lo] if lo < 10 else number_words(lo))


def digits_words(digits: str) -> str:
    """Digit by digit, as decimals and codes are read: '14' -> 'one four'."""
    return " ".join(ONES[int(d)] for d in digits)
