"""Readings of written forms that are not plain words or numbers (the "semiotic classes" of
text normalization, as in Riva's and NeMo's): money in millions ("$1.5bn"), hours ("9am"),
heights (5'6"), measures ("5 km/h"),
telephone numbers, fractions,
ranges ("10-20"), dates with a month name ("Jan. 5, 2020"), roman numerals ("Chapter IV", "Henry
VIII"), decades ("1990s"), initialisms ("U.S."), dotted numbers ("2.0.1"), web and e-mail addresses, street
abbreviations and Latin abbreviations ("e.g.").

Each is a ``Rule`` (pattern, reading) that ``tts.text.normalize`` applies in its order: before
the generic number rules, which would otherwise read "555-1234" as two numbers.
"""

from __future__ import annotations

import re
from typing import Callable, NamedTuple

from .numbers import digits_words, number_words, ordinal_words, year_words

MONTHS = "January February March April May June July August September October November December".split()
MONTH_WRITTEN = {**{m: n for n, m in enumerate(MONTHS, 1)}, **{m[:3]: n for n, m in enumerate(MONTHS, 1)}, "Sept": 9}
# written unit -> (singular, plural); case matters ("m" metres, "M" is not a unit here)
UNITS = {
    "km/h": ("kilometer per hour", "kilometers per hour"), "mph": ("mile per hour", "miles per hour"),
    "km": ("kilometer", "kilometers"), "cm": ("centimeter", "centimeters"), "mm": ("millimeter", "millimeters"),
    "m": ("meter", "meters"), "mi": ("mile", "miles"), "kg": ("kilogram", "kilograms"), "mg": ("milligram", "milligrams"),
    "g": ("gram", "grams"), "lb": ("pound", "pounds"), "lbs": ("pound", "pounds"), "oz": ("ounce", "ounces"),
    "ml": ("milliliter", "milliliters"), "L": ("liter", "liters"), "kWh": ("kilowatt hour", "kilowatt hours"),
    "kW": ("kilowatt", "kilowatts"), "W": ("watt", "watts"), "V": ("volt", "volts"), "Hz": ("hertz", "hertz"),
    "kHz": ("kilohertz", "kilohertz"), "MHz": ("megahertz", "megahertz"), "GHz": ("gigahertz", "gigahertz"),
    "KB": ("kilobyte", "kilobytes"), "kB": ("kilobyte", "kilobytes"), "MB": ("megabyte", "megabytes"),
    "GB": ("gigabyte", "gigabytes"), "TB": ("terabyte", "terabytes"), "ms": ("millisecond", "milliseconds"),
    "min": ("minute", "minutes"), "mins": ("minute", "minutes"), "secs": ("second", "seconds"),
    "hr": ("hour", "hours"), "hrs": ("hour", "hours"), "yr": ("year", "years"), "yrs": ("year", "years"),
    "tsp": ("teaspoon", "teaspoons"), "tbsp": ("tablespoon", "tablespoons"),
    "°C": ("degree celsius", "degrees celsius"), "°F": ("degree fahrenheit", "degrees fahrenheit"),
    "°": ("degree", "degrees"), "μs": ("microsecond", "microseconds"), "ns": ("nanosecond", "nanoseconds"),
    "μm": ("micrometer", "micrometers"), "μg": ("microgram", "micrograms"), "Ω": ("ohm", "ohms"),
    "kΩ": ("kilohm", "kilohms"), "m/s": ("meter per second", "meters per second"),
    "m/s^2": ("meter per second squared", "meters per second squared"), "m^2": ("square meter", "square meters"),
    "km^2": ("square kilometer", "square kilometers"), "cm^2": ("square centimeter", "square centimeters"),
    "ft^2": ("square foot", "square feet"), "m^3": ("cubic meter", "cubic meters"),
    "cm^3": ("cubic centimeter", "cubic centimeters"),
}
CURRENCY = {"$": ("dollar", "dollars", "cent", "cents"), "£": ("pound", "pounds", "penny", "pence"),
            "€": ("euro", "euros", "cent", "cents"), "¥": ("yen", "yen", "sen", "sen"),
            "₹": ("rupee", "rupees", "paisa", "paise")}
MONEY = "".join(CURRENCY)  # the signs, for character classes
CURRENCY_CODES = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥", "INR": "₹"}  # "50 USD" is read as "$50"
SCALES = {"thousand": "thousand", "k": "thousand", "K": "thousand", "million": "million", "m": "million",
          "M": "million", "billion": "billion", "bn": "billion", "B": "billion", "trillion": "trillion", "tn": "trillion",
          "T": "trillion"}
FRACTION_NAMES = {2: ("half", "halves"), 4: ("quarter", "quarters")}
# denominators read as fractions (proper ones only); "9/11", "24/7" or "50/50" are read as their numbers
FRACTION_DENOMINATORS = (2, 3, 4, 5, 6, 8, 10, 16, 32, 64, 100)
# weekdays written short, read whole in a range ("Mon-Fri", "Mon–Sat"): alone, "Sun" or "Wed" may be words
WEEKDAYS = {"mon": "Monday", "tue": "Tuesday", "tues": "Tuesday", "wed": "Wednesday", "thu": "Thursday",
            "thur": "Thursday", "thurs": "Thursday", "fri": "Friday", "sat": "Saturday", "sun": "Sunday"}
WEEKDAY = r"(?:" + "|".join(sorted(WEEKDAYS, key=len, reverse=True)) + r"|(?:mon|tues|wednes|thurs|fri|satur|sun)day)\.?"
DOMAINS = "com org net edu gov io ai dev info co uk us ca de fr".split()


# after a form that ends in a period ("p.m.", "etc."): a sentence's end follows (the text's end, or a
# capital); ``kept_period`` puts the period back there, so the sentence still ends
SENTENCE_END = r"(?=(\s*$|\s+(?-i:[A-Z]))?)"
# after a time: a time zone goes on with it ("3 p.m. EST"), any other capital starts a sentence
ZONES = r"(?:[ECMP][SD]?T|GMT|UTC|CEST|CET|BST|IST|AEST|AEDT|JST|HST|AKST|AKDT)\b"
TIME_END = r"(?=(\s*$|\s+(?!" + ZONES + r")(?-i:[A-Z]))?)"


def weekday_name(day: str) -> str:
    """'Mon' or 'mon.' -> 'Monday'."""
    return WEEKDAYS.get(day.lower().rstrip("."), day.capitalize())


def kept_period(m: re.Match) -> str:
    """'.' where the form read ended in one and a sentence's end follows (``SENTENCE_END``, the last group)."""
    return "." if m.group(m.re.groups) is not None and m.group(0).endswith(".") else ""


def _amount(written: str) -> str:
    """'1,500' -> 'one thousand five hundred', '2.5' -> 'two point five'."""
    whole, _, decimals = written.replace(",", "").partition(".")
    return number_words(int(whole)) + (f" point {digits_words(decimals)}" if decimals else "")


def _money_scaled(m: re.Match) -> str:
    """'$1.5 billion' -> 'one point five billion dollars', '£20k' -> 'twenty thousand pounds'."""
    return f"{_amount(m.group(2))} {SCALES[m.group(3)]} {CURRENCY[m.group(1)][1]}"


def _measure(m: re.Match) -> str:
    one, many = UNITS[m.group(2)]
    if "/" in m.group(1):  # "1/4 tsp" -> "one quarter teaspoon"
        numerator, denominator = map(int, m.group(1).split("/"))
        return f"{fraction_words(numerator, denominator)} {one if numerator < denominator else many}"
    return f"{_amount(m.group(1))} {one if m.group(1) == '1' else many}"


def _telephone(m: re.Match) -> str:
    return ("plus " if m.group(0).startswith("plus") else "") + telephone_words(m.group(0))


def fraction_words(numerator: int, denominator: int) -> str:
    """3/4 -> 'three quarters', 1/2 -> 'one half', 5/8 -> 'five eighths'."""
    one, many = FRACTION_NAMES.get(denominator, (ordinal_words(denominator), ordinal_words(denominator) + "s"))
    return f"{number_words(numerator)} {one if numerator == 1 else many}"


def _fraction(m: re.Match) -> str:
    """'3/4' and '1 1/2'; any denominator (to 100) before 'of': '1/15 of the class'."""
    whole, numerator, denominator = m.group(1), int(m.group(2)), int(m.group(3))
    usual = denominator in FRACTION_DENOMINATORS or (denominator <= 100 and m.string.startswith(" of ", m.end()))
    if not usual or not 0 < numerator < denominator:
        return " ".join(number_words(int(n)) for n in m.groups() if n)
    reading = fraction_words(numerator, denominator)
    return f"{number_words(int(whole))} and {reading}" if whole else reading


def date_words(month: int, day: int | None, year: int | None) -> str | None:
    """(12, 25, 2020) -> 'december twenty fifth, twenty twenty' (day or year may be absent);
    None for a month or day that does not exist."""
    if not 1 <= month <= 12 or (day is not None and not 1 <= day <= 31):
        return None
    spoken = MONTHS[month - 1].lower() + (f" {ordinal_words(day)}" if day is not None else "")
    return spoken + (f"{',' if day is not None else ''} {year_words(year)}" if year is not None else "")


def telephone_words(written: str) -> str:
    """Digit by digit, a pause between groups: '555-1234' -> 'five five five, one two three four'."""
    return ", ".join(digits_words(g) for g in re.split(r"\D+", written) if g)


def _month_date(m: re.Match) -> str:
    """'Jan. 5, 2020' -> 'january fifth, twenty twenty'."""
    year = int(m.group(3)) if m.group(3) else None
    return date_words(MONTH_WRITTEN[m.group(1)], int(m.group(2)), year) or m.group(0)


def _month_days(m: re.Match) -> str:
    """'Jan 1-5, 2024' -> 'january first to fifth, twenty twenty four'."""
    first, last = date_words(MONTH_WRITTEN[m.group(1)], int(m.group(2)), None), int(m.group(3))
    if first is None or not int(m.group(2)) < last <= 31:
        return m.group(0)
    return f"{first} to {ordinal_words(last)}" + (f", {year_words(int(m.group(4)))}" if m.group(4) else "")


def _day_month(m: re.Match) -> str:
    """'1st Jan. 1900' -> 'first of january, nineteen hundred' (the day first, as in Britain)."""
    day, month, year = int(m.group(1)), MONTH_WRITTEN[m.group(2)], m.group(3)
    if not 1 <= day <= 31:
        return m.group(0)
    return f"{ordinal_words(day)} of {MONTHS[month - 1].lower()}" + (f", {year_words(int(year))}" if year else "")


def _era(m: re.Match) -> str:
    """'500 B.C.' -> 'five hundred B C', 'A.D. 1066' -> 'A D ten sixty six' (years, whatever their length)."""
    def letters(era: str) -> str:
        return " ".join(era.replace(".", ""))

    if m.group(1):
        return f"{letters(m.group(1))} {year_words(int(m.group(2)))}" + kept_period(m)
    return f"{year_words(int(m.group(3)))} {letters(m.group(4))}" + kept_period(m)


def roman_value(numeral: str) -> int | None:
    """'XIV' -> 14; None unless written the standard way (so 'MIX' or 'DI' stay words)."""
    values = {"I": 1, "V": 5, "X": 10, "L": 50, "C": 100, "D": 500, "M": 1000}
    total = 0
    for i, ch in enumerate(numeral):
        value = values[ch]
        total += -value if i + 1 < len(numeral) and values[numeral[i + 1]] > value else value
    return total if 0 < total < 4000 and _to_roman(total) == numeral else None


def _to_roman(n: int) -> str:
    out = ""
    for value, letters in ((1000, "M"), (900, "CM"), (500, "D"), (400, "CD"), (100, "C"), (90, "XC"), (50, "L"),
                           (40, "XL"), (10, "X"), (9, "IX"), (5, "V"), (4, "IV"), (1, "I")):
        count, n = divmod(n, value)
        out += letters * count
    return out


def _numbered(m: re.Match) -> str:
    """'Chapter IV' -> 'Chapter four'."""
    value = roman_value(m.group(2))
    return f"{m.group(1)} {number_words(value)}" if value else m.group(0)


def _regnal(m: re.Match) -> str:
    """'Henry VIII' -> 'Henry the eighth' (a name, then a numeral of two or more letters: not "Malcolm X")."""
    value = roman_value(m.group(2))
    return f"{m.group(1)} the {ordinal_words(value)}" if value else m.group(0)


def _decade(m: re.Match) -> str:
    """'1990s' -> 'nineteen nineties', '80s' -> 'eighties', '2000s' -> 'two thousands'."""
    digits = m.group(1)
    words = (year_words(int(digits)) if len(digits) == 4 else number_words(int(digits))).split()
    last = words[-1]
    words[-1] = last[:-1] + "ies" if last.endswith("y") else last + "es" if last.endswith("x") else last + "s"
    return " ".join(words)


def _hour(m: re.Match) -> str:
    """'9am' -> 'nine a m' (a time with minutes is tts.text's)."""
    return _hour_words(m.group(1), m.group(2)) + kept_period(m)


def _hour_words(hour: str, suffix: str) -> str:
    return f"{number_words(int(hour))} {' '.join(suffix.lower().replace('.', ''))}"


def _feet_inches(m: re.Match) -> str:
    """5'6" -> 'five feet six inches'."""
    feet, inches = int(m.group(1)), int(m.group(2))
    return f"{number_words(feet)} {'foot' if feet == 1 else 'feet'} {number_words(inches)} {'inch' if inches == 1 else 'inches'}"


def _money_range(m: re.Match) -> str:
    """'$5-10' -> 'five to ten dollars'."""
    return f"{_amount(m.group(2))} to {_amount(m.group(3))} {CURRENCY[m.group(1)][1]}"


def _coded_money(m: re.Match) -> str:
    """'USD 50', '20.50 EUR' -> '$50', '€20.50', for tts.text's currency reading (cents and all)."""
    code = m.group(1) or m.group(4)
    return CURRENCY_CODES[code] + (m.group(2) or m.group(3))


def _hours_range(m: re.Match) -> str:
    """'10am-2pm' -> 'ten a m to two p m'; '2-3pm' -> 'two to three p m'."""
    first = _hour_words(m.group(1), m.group(2)) if m.group(2) else number_words(int(m.group(1)))
    return f"{first} to {_hour_words(m.group(3), m.group(4))}" + kept_period(m)


def _international(m: re.Match) -> str:
    """'+44 20 7946 0958' ('+' is 'plus' by now) -> 'plus four four, two zero, seven nine four six, ...'
    (7 digits at least: '+5 10 20' are numbers)."""
    groups = re.findall(r"\d+", m.group(0))
    return "plus " + ", ".join(map(digits_words, groups)) if sum(map(len, groups)) >= 7 else m.group(0)


def _measure_range(m: re.Match) -> str:
    """'25-30 min' -> 'twenty five to thirty minutes'."""
    return f"{_amount(m.group(1))} to {_amount(m.group(2))} {UNITS[m.group(3)][1]}"


def _range(m: re.Match) -> str:
    """'10-20' -> 'ten to twenty' (and a score, '3-2'); '1990-1995' as years."""
    low, high = int(m.group(1)), int(m.group(2))
    years = all(len(g) == 4 for g in m.groups()) and 1000 <= low <= high < 2100
    read = year_words if years else number_words
    return f"{read(low)} to {read(high)}"


def _dotted(m: re.Match) -> str:
    """Three or more dotted numbers: an IP address digit by digit ('10.0.0.1' -> 'one zero dot
    zero dot zero dot one'), else a version ('2.0.1' -> 'two point zero point one')."""
    parts = m.group(0).split(".")
    if len(parts) == 4 and all(int(p) <= 255 and (p == "0" or p[0] != "0") for p in parts):
        return " dot ".join(map(digits_words, parts))
    return version_words(m.group(0))


def _numeric_date(m: re.Match) -> str:
    """'on 1/15' -> 'on january fifteenth'; 'Mon 1/15, 2024' -> 'Monday january fifteenth, twenty
    twenty four'."""
    said = m.group(1) if m.group(1).lower() in _DATE_WORDS else weekday_name(m.group(1))
    year = int(m.group(4)) if m.group(4) else None
    return f"{said} {date_words(int(m.group(2)), int(m.group(3)), year)}"


def version_words(written: str) -> str:
    """'3.12' -> 'three point twelve', '22.04' -> 'twenty two point zero four': each part a
    number (a decimal reads 'three point one two'), a leading zero digit by digit."""
    return " point ".join(digits_words(p) if p[0] == "0" and len(p) > 1 else number_words(int(p)) for p in written.split("."))


def web_words(m: re.Match) -> str:
    """'www.example.com/docs' -> 'w w w dot example dot com slash docs' (no scheme); a query and
    fragment too: '/search?q=cats' -> 'slash search question mark q equals cats'."""
    address = re.sub(r"^https?://", "", m.group(0), flags=re.IGNORECASE).rstrip("/")
    address = re.sub(r"^www\.", "w w w.", address, flags=re.IGNORECASE)
    return re.sub(r"[./?=&#~_%+-]", lambda s: _WEB_SYMBOLS[s.group(0)], address)


_WEB_SYMBOLS = {".": " dot ", "/": " slash ", "-": " dash ", "?": " question mark ", "=": " equals ", "&": " and ",
                "#": " hash ", "~": " tilde ", "_": " underscore ", "%": " percent ", "+": " plus "}
_WEB_PART = r"[\w~%+-]+(?:\.[\w~%+-]+)*"  # a path segment or query value: dots inside only (a sentence may end after)
# a web address: read before the symbols' general readings ("=" is "equals" anywhere; "#" "number")
WEB_RE = re.compile(r"\b(?:https?://)?(?:[A-Za-z0-9-]+\.)+(?:" + "|".join(DOMAINS) + r")\b(?:/(?:" + _WEB_PART + r")?)*"
                    r"(?:\?" + _WEB_PART + r"=" + _WEB_PART + r"(?:&" + _WEB_PART + r"=" + _WEB_PART + r")*)?(?:#[\w-]+)?",
                    re.IGNORECASE)


class Rule(NamedTuple):
    """A written form and its reading; ``digits``: it only ever matches text with a digit in it
    (most do, and most text has none: ``normalize`` skips them there); ``needs``: a character
    it cannot match without (looked for before the pattern is run)."""

    pattern: re.Pattern
    reading: Callable[[re.Match], str]
    digits: bool = True
    needs: str = ""


_MONTHS = "|".join(sorted(MONTH_WRITTEN, key=len, reverse=True))
_STREET = r"[A-Z][a-z]+|\d+(?:st|nd|rd|th)?"  # what names a street: "Main", "5th"
# words that start a sentence far more often than they follow "St." in a saint's name
_STARTERS = ("A|An|The|Then|He|She|It|We|They|You|I|But|And|So|Or|If|When|There|This|That|These|Those|His|Her|"
             "Its|Our|Their|My|Your|In|On|At|After|Before|Now|Turn|Go|Take|Walk|Drive")
_NUMBERED = "chapter|book|part|volume|vol\\.|act|scene|section|canto|psalm|war|appendix|article|phase|stage|level|round"
_UNITS = "|".join(re.escape(u) for u in sorted(UNITS, key=len, reverse=True))
# software whose number is a version ("Python 3.10" is "three point ten"); not words a sentence
# may put before an amount ("Go 2.25 miles")
_VERSIONED = ("(?-i:Python|Java|Node(?:\\.js)?|iOS|iPadOS|macOS|Android|Windows|Ubuntu|Debian|Fedora|Linux|Kotlin|Ruby|"
              "Rust|PHP|Perl|Django|Rails|Firefox|Chrome|Safari|Kubernetes|PostgreSQL|MySQL|Redis|React|Angular|"
              "TypeScript|PyTorch|TensorFlow|CUDA|OpenSSL|Xcode|Docker|Bluetooth|USB|HTTP|TLS|GPT|Llama|Gemini|Qwen)")
# words after which a month and day written "1/15" is a date, not a fraction ("by" and "from" cut
# amounts too: "down by 1/3")
_DATE_WORDS = ("on", "until", "till", "before", "after", "since", "through", "thru", "due", "dated", "effective",
               "starting", "ending")
_BEFORE_DATES = "|".join(_DATE_WORDS) + "|" + WEEKDAY

RULES: list[Rule] = [
    Rule(re.compile(r"\be\.g\.(?!\w)", re.IGNORECASE), lambda m: "for example", digits=False),
    Rule(re.compile(r"\bi\.e\.(?!\w)", re.IGNORECASE), lambda m: "that is", digits=False),
    # years of an era, before the initialisms below spell "B.C." out
    Rule(re.compile(r"(?<![\w.])(?:(A\.D\.|AD) ?(\d{1,4})|(\d{1,4}) ?(B\.C\.|BCE|BC|A\.D\.|AD|CE))(?!\w)" + SENTENCE_END),
         _era),
    # initialisms letter by letter: "U.S." (a sentence ends after one only at the end), "J.R.R. Tolkien"
    Rule(re.compile(r"\b((?:[A-Z]\.){2,})(?=\s*$)"), lambda m: " ".join(m.group(1).split(".")).strip() + ".",
         digits=False),
    Rule(re.compile(r"\b((?:[A-Z]\.){2,})"), lambda m: " ".join(m.group(1).split(".")).strip(), digits=False),
    # "Main St." and "5th St." are streets, "St. Louis" and "Mount St. Helens" saints (tts.text's
    # abbreviations); before a word that starts sentences ("Main St. Then he left") the street ends one
    Rule(re.compile(r"\b(" + _STREET + r") St\.(?=\s*$|\s+(?:" + _STARTERS + r")\b)"), lambda m: f"{m.group(1)} street.",
         digits=False),
    Rule(re.compile(r"\b(\d+(?:st|nd|rd|th)?) St\.(?=\s+[A-Z])"), lambda m: f"{m.group(1)} street."),  # never a saint
    Rule(re.compile(r"\b(" + _STREET + r") St(?:\.(?=\s+[a-z]|\s*[,;:!?])|\b(?!\.))"), lambda m: f"{m.group(1)} street",
         digits=False),
    # a month's days from one to another: "Jan 1-5" -> "january first to fifth"
    Rule(re.compile(r"\b(" + _MONTHS + r")\.? (\d{1,2})(?:st|nd|rd|th)? ?- ?(\d{1,2})(?:st|nd|rd|th)?\b(?![,.]\d|-)"
                    r"(?:,? (\d{4})\b)?"), _month_days, needs="-"),
    Rule(re.compile(r"\b(" + _MONTHS + r")\.? (\d{1,2})(?:st|nd|rd|th)?\b(?![,.]\d)(?:,? (\d{4})\b)?"), _month_date),
    # the day first: "1st Jan. 1900", "5th May", "5 May 2020" (not "5 May" alone: "5 may be")
    Rule(re.compile(r"(?<![\w.])(\d{1,2})(?:st|nd|rd|th) (" + _MONTHS + r")\b\.?(?:,? (\d{4})\b)?"), _day_month),
    Rule(re.compile(r"(?<![\w.])(\d{1,2}) (" + _MONTHS + r")\b\.?,? (\d{4})\b"), _day_month),
    # numeric dates with the year whole: ISO "2023-01-15", and the day first with dots "15.01.2023"
    Rule(re.compile(r"(?<![\w.-])(1\d{3}|20\d\d)-(0?[1-9]|1[0-2])-(0?[1-9]|[12]\d|3[01])(?![\w-])"),
         lambda m: date_words(int(m.group(2)), int(m.group(3)), int(m.group(1))) or m.group(0)),
    Rule(re.compile(r"(?<![\w.])(0?[1-9]|[12]\d|3[01])\.(0?[1-9]|1[0-2])\.(1\d{3}|20\d\d)(?!\w|\.\d)"),
         lambda m: f"{ordinal_words(int(m.group(1)))} of {MONTHS[int(m.group(2)) - 1].lower()}, {year_words(int(m.group(3)))}"),
    # roman numerals where a book puts them: "Chapter IV", "Part II", "World War I"; "Henry VIII" ("I" alone
    # after a name is the pronoun: "Then I")
    Rule(re.compile(r"\b(" + _NUMBERED + r") ((?-i:[IVXLCDM]+))\b", re.IGNORECASE), _numbered, digits=False),
    Rule(re.compile(r"\b([A-Z][a-z]+) ([IVXLCDM]{2,})\b(?!['\w])"), _regnal, digits=False),
    # a middle initial ends no sentence: "John F. Kennedy" (not "I": "World War I. Then")
    Rule(re.compile(r"\b([A-Z][a-z]+ [A-HJ-Z])\. (?=[A-Z][a-z])"), lambda m: f"{m.group(1)} ", digits=False),
    # North American numbers ("+" is "plus" by now): "(555) 123-4567", "555-123-4567", "555.123.4567",
    # "+1 555 123 4567", and "555-1234" (a local exchange never starts with 0 or 1: "100-1000" is a range)
    Rule(re.compile(r"(?<![\w-])(?:(?:(?:plus )?1[ .-])?(?:\(\d{3}\) ?\d{3}[ .-]|\d{3}([.-])\d{3}\1)\d{4}|plus 1 \d{3} \d{3} \d{4}"
                    r"|[2-9]\d\d-\d{4})(?![\w-])"), _telephone),
    # other countries' numbers: a country code and groups of digits ("+44 20 7946 0958", "+49-30-1234567")
    Rule(re.compile(r"(?<![\w-])plus \d{1,3}(?:[ .-]\(?\d{1,8}\)?){1,5}(?![\w-])"), _international),
    Rule(re.compile("([" + MONEY + r"])(\d[\d,]*) ?[-\u2013] ?\1?(\d[\d,]*)\b(?!\.\d)"), _money_range),
    Rule(re.compile(r"\b(" + "|".join(CURRENCY_CODES) + r") ?(\d[\d,]*(?:\.\d{1,2})?)\b(?!\.\d)|(?<![\w.])(\d[\d,]*(?:\.\d{1,2})?) ?("
                    + "|".join(CURRENCY_CODES) + r")\b"), _coded_money),
    Rule(re.compile(r"(?<![\w:.])(1[0-2]|[1-9]) ?(am|pm|a\.m\.|p\.m\.)? ?[-\u2013] ?(1[0-2]|[1-9]) ?(am|pm|a\.m\.|p\.m\.)(?!\w)"
                    + TIME_END, re.IGNORECASE), _hours_range),
    Rule(re.compile(r"(?<![\w.:" + MONEY + r"'])'?(\d0|\d{2}[0-9]0)s\b"), _decade),
    Rule(re.compile(r"(?<![\w.:" + MONEY + r"-])(\d[\d,]*(?:\.\d+)?) ?[-\u2013] ?(\d[\d,]*(?:\.\d+)?) ?(" + _UNITS
                    + r")(?![\w/])"), _measure_range),
    Rule(re.compile(r"(?<![\w.:" + MONEY + r"-])(\d+)-(\d+)(?![\w:-])"), _range, needs="-"),
    # a duration in hours and minutes: "2h 30m", "1h30min" ("30m" alone is metres)
    Rule(re.compile(r"(?<![\w.])(\d+) ?h ?(\d+) ?m(?:in)?\b"),
         lambda m: f"{_amount(m.group(1))} {'hour' if m.group(1) == '1' else 'hours'} {_amount(m.group(2))} "
                   f"{'minute' if m.group(2) == '1' else 'minutes'}"),
    # a decimal amount with a scale letter: "7.8B people" ("5B" alone may be a flat, "3M" a company)
    Rule(re.compile(r"(?<![\w." + MONEY + r"])(\d+\.\d+) ?([KMBT])\b"), lambda m: f"{_amount(m.group(1))} {SCALES[m.group(2)]}"),
    Rule(re.compile(r"(?<![\w.:])\d+(?:\.\d+){2,}(?![\w.])"), _dotted),
    # a version after a word that names one: "Python 3.12" -> "three point twelve" ("v2.0": version)
    Rule(re.compile(r"\b(?:((?:version|release|ver\.|" + _VERSIONED + r") )|v(?=\d))(\d+\.\d+)(?![\w.]|\.\d)"),
         lambda m: f"{m.group(1) or 'version '}{version_words(m.group(2))}"),
    Rule(re.compile(r"(?<![\w:.])(1[0-2]|[1-9]) ?(am|pm|a\.m\.|p\.m\.)(?!\w)" + TIME_END, re.IGNORECASE), _hour),
    Rule(re.compile(r"(?<![\w.])(\d)'(\d{1,2})\"(?!\w)"), _feet_inches),
    Rule(re.compile(r"(?<![\w.])(\d[\d,]*) ?¢"), lambda m: f"{_amount(m.group(1))} {'cent' if m.group(1) == '1' else 'cents'}"),
    # video lines in pairs of digits, as said: "1080p" -> "ten eighty p", "720p", "4K" stays "four K"
    Rule(re.compile(r"\b(480|576|720|1080|1440|2160|4320)([pi])\b"),
         lambda m: f"{' '.join(number_words(int(p)) for p in (m.group(1)[:-2], m.group(1)[-2:]))} {m.group(2)}"),
    Rule(re.compile(r"\bWW(II|I)\b"), lambda m: f"World War {'two' if m.group(1) == 'II' else 'one'}", digits=False),
    Rule(re.compile("([" + MONEY + r"]) ?(\d[\d,]*(?:\.\d+)?) ?(" + "|".join(SCALES) + r")\b"), _money_scaled),
    Rule(re.compile(r"(?<![\w.:/" + MONEY + r"])(\d+/\d+|\d[\d,]*(?:\.\d+)?) ?(" + _UNITS + r")(?![\w/])"), _measure),
    # a score or rating with a decimal: "4.5/5" -> "four point five out of five"
    Rule(re.compile(r"(?<![\w/:.," + MONEY + r"])(\d+)\.(\d+)/(\d+)(?![\w/]|[.,]\d)"),
         lambda m: f"{number_words(int(m.group(1)))} point {digits_words(m.group(2))} out of {number_words(int(m.group(3)))}"),
    # a month and day after a word that says a date comes: "due on 1/15" -> "due on january fifteenth"
    Rule(re.compile(r"\b(" + _BEFORE_DATES + r") (0?[1-9]|1[0-2])/(0?[1-9]|[12]\d|3[01])(?![\w/]|[.,]\d| of\b)"
                    r"(?:,? (1\d{3}|20\d\d)\b)?", re.IGNORECASE), _numeric_date),
    Rule(re.compile(r"(?<![\w/:" + MONEY + r"])(?:(\d+) )?(\d+)/(\d+)(?![\w/])"), _fraction, needs="/"),
    Rule(re.compile(r"(?<=\d)\(([a-z])\)(?!\w)"), lambda m: f" {m.group(1)}"),  # "Section 4(b)": four b
    # what no number was next to: "20-25°C" (the range read first), "a 5° turn"
    Rule(re.compile(r"° ?([CF])\b"), lambda m: f" degrees {UNITS['°' + m.group(1)][1].split()[1]} ", digits=False),
    Rule(re.compile(r"°"), lambda m: " degrees ", digits=False),
    Rule(re.compile(r"(?<=[A-Za-z])/(?=[A-Za-z])"), lambda m: " ", digits=False, needs="/"),  # "and/or", "A/B" (after units, addresses)
]
