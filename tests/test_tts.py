"""TTS pieces: text normalization and tokenizer, the Llama decoder, KV-cached generation,
sampling determinism, streaming chunks, overfitting one utterance, bad text."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from recipe_scripts import load_recipe_script
from tts.config import SPECIALS, list_presets, load_preset
from tts.generate import SamplingConfig, generate, generate_stream, max_frames_for
from tts.sampling import min_frames_for
from tts.model import TtsModel, attention_mask
from tts.numbers import number_words, ordinal_words, year_words
from tts.data import drop_text, lm_loss, training_sequence
from tts.sequence import IGNORE, build_prompt, without_text
from tts.text import InvalidText, TextTokenizer, normalize, split_long_text, split_sentences, train_tokenizer


@pytest.mark.parametrize("raw, spoken", [
    ("Dr. Smith paid $12.50.", "doctor Smith paid twelve dollars and fifty cents."),
    ("It costs $1 or €0.01", "It costs one dollar or one cent"),
    ("the 1st and 22nd", "the first and twenty second"),
    ("1,234,567 people", "one million two hundred and thirty four thousand five hundred and sixty seven people"),
    ("in 1887 and in 1905", "in eighteen eighty seven and in nineteen oh five"),
    ("at 3:30 pm, 7:05 and 9:00", "at three thirty p m, seven oh five and nine o'clock"),
    ("on 12/25/2020", "on december twenty fifth, twenty twenty"),
    ("pi is 3.14, 45% sure", "pi is three point one four, forty five percent sure"),
    ("\u201cQuoted\u201d \u2014 dash\u2026", "\"Quoted\", dash..."),
    ("-5 degrees & 2 cats", "minus five degrees and two cats"),
    ("Mrs. Jones vs. Mr. Brown", "missus Jones versus mister Brown"),
    ("hello \U0001F600\u200b world", "hello world"),
    # measures, telephone numbers, fractions, ranges, month dates, addresses (tts.semiotic)
    ("It weighs 1 kg or 2.5 kg at 10 km/h.", "It weighs one kilogram or two point five kilograms at ten kilometers per hour."),
    ("Temp 21\u00b0C, 1 \u00b0F, 90\u00b0 and 20\u2103.", "Temp twenty one degrees celsius, one degree fahrenheit, ninety degrees and "
     "twenty degrees celsius."),
    ("Call 555-1234 or (555) 123-4567.", "Call five five five, one two three four or five five five, one two three, "
     "four five six seven."),
    ("+1 555.867.5309", "plus one, five five five, eight six seven, five three zero nine"),
    ("1/2 cup, 2 3/4 cups, 24/7 and 9/11", "one half cup, two and three quarters cups, twenty four seven and nine eleven"),
    ("ages 10-20, won 3-2, 1990-1995, pages 100-1000", "ages ten to twenty, won three to two, nineteen ninety to "
     "nineteen ninety five, pages one hundred to one thousand"),
    ("On Jan. 5, 2020 and March 3rd", "On january fifth, twenty twenty and march third"),
    ("Mark 5 and Maybe 5", "Mark five and Maybe five"),
    ("version 2.0.1 at www.my-site.com/docs, e.g. mail a@b.org; i.e. now", "version two point zero point one at "
     "w w w dot my dash site dot com slash docs, for example mail a at b dot org; that is now"),
    ("See https://docs.python.org/3/library.", "See docs dot python dot org slash three slash library."),
    ("Main St. is by Oak St, in St. Louis, on Elm St.", "Main street is by Oak street, in saint Louis, on Elm street."),
    ("He lives on Main St. Then he left.", "He lives on Main street. Then he left."),  # the street ends the sentence
    ("Go to 5th St. now, not 5th St. Then turn.", "Go to fifth street now, not fifth street. Then turn."),
    ("Mount St. Helens and St. Mary's.", "Mount saint Helens and saint Mary's."),
    ("CHAPTER XII. Part II of Vol. III: Henry VIII, Pope John Paul II", "Chapter twelve. Part two of volume three: "
     "Henry the eighth, Pope John Paul the second"),
    ("World War I. Then I met Malcolm X in chapter mix.", "World War one. Then I met Malcolm X in chapter mix."),
    ("The U.S. Army met John F. Kennedy and J.R.R. Tolkien in the U.K.", "The U S Army met John F Kennedy and J R R "
     "Tolkien in the U K."),
    ("$5 million, $1.5 billion, \u20ac3.2m and \u00a320k", "five million dollars, one point five billion dollars, three point "
     "two million euros and twenty thousand pounds"),
    ("The 1960s-1970s, the '80s, top 10s; A4, 3D and MP3", "The nineteen sixties-nineteen seventies, the eighties, "
     "top tens; A four, three D and M P three"),
    ("He said no. No. 5 is in room no. 12.", "He said no. number five is in room number twelve."),  # "no." alone is a word
    ("It is 5 ft. tall, etc. Then Mrs. Jones vs. Mr. Brown, etc.", "It is five feet tall, et cetera. Then missus Jones "
     "versus mister Brown, et cetera."),  # an abbreviation's period stays where it ends a sentence
    ("Pages 5\u201310, 9am to 5 p.m., 5'6\" tall, 5 USD or US$5, C# and/or A/B", "Pages five to ten, nine a m to five p m, "
     "five feet six inches tall, five dollars or five dollars, C sharp and or A B"),
    ("See pp. 10-20, p. 45 and Fig. 3 of Ch. 4, c. 1850. It's 10 p.m. Let us go at 3:30 p.m. Then", "See pages ten to "
     "twenty, page forty five and figure three of chapter four, circa eighteen fifty. It's ten p m. Let us go at three "
     "thirty p m. Then"),  # a form's period ending a sentence stays
    ("In A.D. 1066, 44 BC, 500 B.C. There on the 1st Jan. 1900 and 5 May 2020", "In A D ten sixty six, forty four B C, "
     "five hundred B C. There on the first of january, nineteen hundred and fifth of may, twenty twenty"),
    ("From 10:30-11:30 for $5.50", "From ten thirty to eleven thirty for five dollars and fifty cents"),  # a range of times
    # words in capitals (tts.capitals): initialisms spelled, acronyms said, shouting in sentence case
    ("The FBI and NASA met the CEO of IBM at the UN.", "The F B I and Nasa met the C E O of I B M at the U N."),
    ("Use HTML, JSON and an API; the NAACP, USSR and UCLA.", "Use H T M L, jason and an A P I; the N A A C P, U S S R "
     "and U C L A."),
    ("I AM SO ANGRY WITH YOU. THE FBI IS HERE!", "I am so angry with you. The F B I is here!"),
    ("I did NOT say that. It is OK, NO.", "I did not say that. It is okay, no."),
    ("I'M DONE, DON'T CALL ME. THE END", "I'm done, don't call me. The end"),
    ("The US ARMY, BBC NEWS and the IT desk. The CEOs of NASA's rivals. FBI, CIA, NSA.", "The U S Army, B B C News and "
     "the I T desk. The C E O's of Nasa's rivals. F B I, C I A, N S A."),
    ("THE U.S. ARMY at 5 PM, on an MP3 and in World War II.", "The U S army at five p m, on an M P three and in World "
     "War two."),
    # years a month, quarter or "year" names; ratios; emergency numbers; addresses, degrees, titles
    ("In May 2021, by Dec. 1999, Q3 2024 and in the year 1066; May 1,000 people", "In May twenty twenty one, by december "
     "nineteen ninety nine, Q three twenty twenty four and in the year ten sixty six; May one thousand people"),
    ("A 3:2 ratio on 16:9 screens at 10:30.", "A three to two ratio on sixteen to nine screens at ten thirty."),
    ("Call 911 or dial 999; a 911 dispatcher; a Porsche 911.", "Call nine one one or dial nine nine nine; a nine one one "
     "dispatcher; a Porsche nine eleven."),
    ("Mail john.doe@example.com or first_last+x@my-site.co.uk.", "Mail john dot doe at example dot com or first underscore "
     "last plus x at my dash site dot co dot uk."),
    ("Apt. 5B on Fifth Ave. near Sunset Blvd. Then 20-25°C. She has a Ph.D.", "apartment five B on Fifth avenue near "
     "Sunset boulevard. Then twenty to twenty five degrees celsius. She has a P H D."),
    ("On 2023-01-15 and 15.01.2023 it was -3.5\u00b0C, \u22122 at night, for 10 mins; 35 yrs old.", "On january fifteenth, "
     "twenty twenty three and fifteenth of january, twenty twenty three it was minus three point five degrees celsius, "
     "minus two at night, for ten minutes; thirty five years old."),
    ("99\u00a2, \u00a5500, \u20b9100.50; ~50 people, <5 items, >90%; 1080p; WWII; #tbt and #1", "ninety nine cents, five "
     "hundred yen, one hundred rupees and fifty paise; about fifty people, less than five items, more than ninety percent; "
     "ten eighty p; World War two; tbt and number one"),
    # a chat model's Markdown (tts.markdown): its words, none of its markup
    ("## Steps\n**Mix** the _flour_ -- then see [the docs](https://x.io/docs). :)\n- one_two\n* Bake 3 * 4 min\n1. Wait",
     "Steps. Mix the flour, then see the docs. one two. Bake three times four minutes. one, Wait."),
    ("| Name | Age |\n|:--|--:|\n| Ann | 5 |\n\n***\nSee [1] and the note[^2].", "Name, Age. Ann, five. See and the note."),
    ("Run it:\n```bash\npip install -e .\n\nmake test\n```\nThen `make serve`.\n~~~\nleft open", "Run it: Then make serve."),
    ("Call +44 20 7946 0958, ext. 204: USD 50, 20.50 EUR, $5-10 or the 1,000,000th, open 9 a.m. \u2013 5 p.m.", "Call plus "
     "four four, two zero, seven nine four six, zero nine five eight, extension two hundred and four: fifty dollars, twenty "
     "euros and fifty cents, five to ten dollars or the one millionth, open nine a m to five p m."),
    ("A $1.2T budget for 7.8B people, Apt. 5B; bake 25-30 min at 20-25\u00b0C, in 2h 30m, with 1/4 tsp and 2 tbsp; between "
     "1990 and 2000, A vs B", "A one point two trillion dollars budget for seven point eight billion people, apartment five B; "
     "bake twenty five to thirty minutes at twenty to twenty five degrees celsius, in two hours thirty minutes, with one "
     "quarter teaspoon and two tablespoons; between nineteen ninety and two thousand, A versus B"),
    ("AT&T's R&D at 3 p.m. EST, 9:00 to 17:00. It is 10 p.m. Let us go", "A T and T's R and D at three p m E S T, nine o'clock "
     "to seventeen hundred. It is ten p m. Let us go"),
    ("Sr. Engineer Ann, son of John Smith Sr. Then the Dept. of Energy, open Mon–Fri 2-3pm, rated 4.5/5 under "
     "Section 4(b) from 2020 to 2023.", "senior Engineer Ann, son of John Smith senior. Then the department of Energy, "
     "open Monday to Friday two to three p m, rated four point five out of five under Section four b from twenty twenty "
     "to twenty twenty three."),
    ("Your PIN is 0042, code: 583920; Boston, MA 02139-4307 or call 1-800-FLOWERS. Sun-dried, from 1990 until 1995.",
     "Your pin is zero zero four two, code: five eight three nine two zero; Boston, M A zero two one three nine, four three "
     "zero seven or call one eight hundred flowers. Sun-dried, from nineteen ninety until nineteen ninety five."),
    ("Install Python 3.12 or v2.0 on 192.168.0.1 (Ubuntu 22.04); due on 1/15, Mon 12/25, 2023, for 1/15 of us; call "
     "1-877-KARS4KIDS on Martin Luther King Jr. Day. Go 2.25 miles, cut by 1/3.", "Install Python three point twelve or "
     "version two point zero on one nine two dot one six eight dot zero dot one (Ubuntu twenty two point zero four); due "
     "on january fifteenth, Monday december twenty fifth, twenty twenty three, for one fifteenth of us; call one eight "
     "seven seven kars four kids on Martin Luther King junior Day. Go two point two five miles, cut by one third."),
    ("Ran 5km in 25:30 at 9:30-10:15 am, a 1:1000 map, 3x faster, a 4x4, 25 y/o; 0x1F.", "Ran five kilometers in "
     "twenty five thirty at nine thirty to ten fifteen a m, a one to one thousand map, three times faster, a four by four, "
     "twenty five years old; zero x one F."),
    ("Cost \u2248 $5 \u00b1 1; 10 \u00f7 2; x \u2264 5, y \u2265 3, a \u2260 b; 1\u00bd cups, \u00bc tsp; Brand\u2122 \u00a9 2024, "
     "\u00a7 5; 5 \u00b5s, 10 \u2126; x^2, x\u00b3, 2^10; 10 m\u00b2, 9.8 m/s\u00b2; w/ cheese, w/o onions; Jan 1-5, 2024; "
     "3 p.m. ET today \u2192 done.", "Cost about five dollars plus or minus one; ten divided by two; x less than or equal to "
     "five, y more than or equal to three, a not equal to b; one and one half cups, one quarter teaspoon; Brand copyright "
     "twenty twenty four, section five; five microseconds, ten ohms; x squared, x cubed, two to the power of "
     "ten; ten square meters, nine point eight meters per second squared; with cheese, without onions; january first "
     "to fifth, twenty twenty four; three p m E T today to done."),
    ("Two Boeing 747s landed on 1920x1080 screens.", "Two Boeing seven forty sevens landed on nineteen twenty by ten "
     "eighty screens."),
    ("Room 237: fly a Boeing 747 or Airbus A380 on Highway 101, drive an F-150, buy an RTX 4090; the Fortune 500, "
     "over 300 people, in May 350 came.", "Room two thirty seven: fly a Boeing seven forty seven or Airbus A three eighty "
     "on Highway one oh one, drive an F one fifty, buy an R T X forty ninety; the Fortune five hundred, over three "
     "hundred people, in May three hundred and fifty came."),
    ("See https://example.com/search?q=cats&page=2 or www.example.org/docs/index.html#setup.", "See example dot com "
     "slash search question mark q equals cats and page equals two or w w w dot example dot org slash docs slash index "
     "dot html hash setup."),
    ("The 49ers beat the 76ers.", "The forty niners beat the seventy sixers."),
    ("ISO 9001 and RFC 2616 cover IEEE 802.11ac, not $802.15.", "I S O ninety oh one and R F C twenty six sixteen cover "
     "I E E E eight oh two dot eleven a c, not eight hundred and two dollars and fifteen cents."),
])
def test_normalize_cases(raw, spoken):
    assert normalize(raw) == spoken


def test_markdown_lines_are_read_before_a_paragraph_is_joined():
    """Long form joins a paragraph's lines: a heading and list items stay sentences of their own."""
    assert split_long_text("# Title\n- one\n- two\n\nPlain line\nwrapped here.") == ["Title. one. two.", "Plain line wrapped here."]


def test_cli_prints_what_the_model_will_read(tmp_path):
    """tts-cli normalize: each sentence as read (pronunciations applied), SSML pauses and prosody;
    no model is loaded, and bad text is one line."""
    import subprocess
    import sys

    (tmp_path / "say.txt").write_text("Nguyen  win\n")

    def run(*args, stdin=None):
        return subprocess.run([sys.executable, "-m", "tts.cli", "normalize", *args], capture_output=True, text=True,
                              input=stdin, timeout=120, env={"SPEECH_MODELS_DIR": str(tmp_path), "PATH": ""})

    plain = run("Dr. Nguyen paid $12.50. Call 555-1234!", "--dictionary", str(tmp_path / "say.txt"))
    assert plain.returncode == 0 and plain.stdout.splitlines() == [
        "doctor win paid twelve dollars and fifty cents.", "Call five five five, one two three four!"], plain.stderr
    ssml = run("-", stdin='<speak>Hi <break time="300ms"/><mark name="m1"/><prosody rate="1.5" volume="-6dB">See '
                          '<mark name="m2"/>p. 4.</prosody><voice name="ann">Yes.</voice><say-as interpret-as="expletive">'
                          'darn</say-as></speak>')
    assert ssml.stdout.splitlines() == ["Hi", "[pause 0.30 s]", "[mark m1]", "See [mark m2] page four.\t[rate 1.5 -6 dB]",
                                        "Yes.\t[voice ann]", "[bleep 0.28 s]"], ssml.stderr
    bad = run("\U0001F600")
    assert bad.returncode == 1 and bad.stderr.strip() == "tts-cli: error: text has nothing to say (no letters or numbers)"


def test_number_words():
    assert number_words(0) == "zero" and number_words(105) == "one hundred and five"
    assert number_words(2_000_005) == "two million and five"
    assert ordinal_words(40) == "fortieth" and ordinal_words(103) == "one hundred and third"
    assert year_words(2005) == "two thousand and five" and year_words(1900) == "nineteen hundred"


@pytest.mark.parametrize("bad, why", [("", "nothing to say"), ("   \u200b\t", "nothing to say"),
                                      ("\U0001F600\U0001F600", "nothing to say"), ("a" * 2001, "at most 2000"),
                                      (None, "must be a string")])
def test_bad_text_is_rejected_clearly(bad, why):
    with pytest.raises(InvalidText, match=why):
        normalize(bad)


def test_split_sentences_keeps_everything():
    text = "First one. Second! Third? " + "word, " * 120
    pieces = split_sentences(text, max_chars=200)
    assert pieces[:3] == ["First one.", "Second!", "Third?"]
    assert all(len(p) <= 200 for p in pieces)
    assert [w.strip(",.") for w in " ".join(pieces).split()] == [w.strip(",.") for w in text.split()]
    assert not any(p.endswith((",", ";")) for p in pieces[:-1])  # the last ends as the text does


def test_split_sentences_ends_no_piece_with_a_semicolon_or_comma():
    """A ; stays inside a sentence that fits; a longer one is cut after a ; before any comma, and
    a cut piece ends as a sentence does."""
    short = "The cat sat on the mat; the dog, sadly, did not. Next one!"
    assert split_sentences(short) == ["The cat sat on the mat; the dog, sadly, did not.", "Next one!"]
    long = "A long clause, with a comma, goes on here; then another, with commas, follows it."
    assert split_sentences(long, max_chars=60) == ["A long clause, with a comma, goes on here.",
                                                    "then another, with commas, follows it."]
    assert split_sentences("one; two; three, four five six", max_chars=12) == ["one; two.", "three.", "four five", "six"]


def test_tokenizer_roundtrip(tmp_path):
    texts = ["The quick brown fox jumps over the lazy dog.", "She sells 3 sea shells by the sea shore!"] * 5
    tok = TextTokenizer(train_tokenizer(texts, vocab_size=300))
    tok.save(tmp_path / "tokenizer.json")
    again = TextTokenizer.from_file(tmp_path / "tokenizer.json")
    ids = again.encode("The quick fox sells 3 shells.")
    assert all(0 <= i < again.vocab_size for i in ids)
    assert again.decode(ids) == "the quick fox sells three shells."


def test_presets_and_vocab_layout():
    assert {"tiny", "small", "base", "1b"} <= set(list_presets())
    cfg = load_preset("small")
    assert cfg.vocab_size == cfg.text_vocab + len(SPECIALS) + cfg.codebook_size
    assert cfg.special("</speech>") < cfg.speech_offset and cfg.n_heads % cfg.n_kv_heads == 0
    c = load_preset("1b")
    per_layer = c.dim * (c.n_heads + 2 * c.n_kv_heads) * c.head_dim + c.n_heads * c.head_dim * c.dim + 3 * c.dim * c.ffn_hidden
    assert 0.9e9 < c.n_layers * per_layer + c.vocab_size * c.dim < 1.6e9


def fit(model: TtsModel, ids, labels, steps: int, mask=None) -> list[float]:
    """AdamW on one batch for ``steps`` steps (the overfitting tests); the model is left in eval mode."""
    opt = torch.optim.AdamW(model.train().parameters(), lr=3e-3)
    losses = []
    for _ in range(steps):
        loss = lm_loss(model, ids, labels, mask)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    model.eval()
    return losses


@pytest.fixture
def model() -> TtsModel:
    torch.manual_seed(0)
    return TtsModel(load_preset("tiny")).eval()


def test_kv_cache_prefill_and_decode_equal_full_forward(model):
    ids = torch.randint(0, model.cfg.vocab_size, (2, 9))
    full, _ = model(ids)
    a, past = model(ids[:, :5])
    b, past = model(ids[:, 5:8], past=past)
    c, _ = model(ids[:, 8:], past=past)
    assert (torch.cat([a, b, c], 1) - full).abs().max() < 1e-5


def test_left_padding_mask_never_empty():
    mask = attention_mask(torch.tensor([[False, False, True, True]]), 4)
    assert mask.shape == (1, 1, 4, 4) and bool(mask[0, 0].any(-1).all())
    assert not bool(mask[0, 0, 3, 0])  # a real token never sees padding


def test_greedy_kv_cache_generation_equals_recompute(model):
    prompts = [build_prompt(model, [5, 6, 7, 8, 9]), build_prompt(model, [10, 11], [12], prompt_codes=[3, 4, 5])]
    greedy = SamplingConfig(greedy=True)
    cached = generate(model, prompts, [60, 45], greedy)
    assert cached == generate(model, prompts, [60, 45], greedy, use_cache=False)
    assert [len(c) for c in cached] == [60, 45]
    assert cached == generate(model, prompts[:1], [60], greedy) + generate(model, prompts[1:], [45], greedy)


def test_a_prompts_repeated_rows_run_once_with_the_same_logits(model, monkeypatch):
    """Best of N repeats the prompt's rows: the cached stepper runs each distinct row once and
    copies its cache; logits and the steps after equal running every row (the recompute)."""
    from tts.decoding import left_pad
    from tts.generate import TorchStepper

    prompt = np.array(build_prompt(model, [10, 11], [12], prompt_codes=[3, 4, 5]))
    ids, key_mask = left_pad([prompt[:, None], prompt[:-2, None]] * 2, np.array([model.cfg.special("<pad>")]))
    ids, positions = ids[..., 0], np.maximum(key_mask.cumsum(1) - 1, 0)
    rows, forward = [], model.forward
    monkeypatch.setattr(model, "forward", lambda ids, *a, **k: rows.append(ids.shape[0]) or forward(ids, *a, **k))
    cached, every = TorchStepper(model), TorchStepper(model, use_cache=False)
    np.testing.assert_allclose(cached.step(ids, positions, key_mask), every.step(ids, positions, key_mask), atol=1e-5)
    assert rows == [2, 4]  # two distinct rows run with the cache, four without
    token, mask = np.full((4, 1), model.cfg.codebook_offset(0) + 5), np.concatenate([key_mask, np.ones((4, 1), bool)], 1)
    np.testing.assert_allclose(cached.step(token, positions[:, -1:] + 1, mask), every.step(token, positions[:, -1:] + 1, mask),
                               atol=1e-5)


def test_classifier_free_guidance_mixes_the_text_and_textless_logits(model):
    """cfg_scale s samples from u + s (c - u): c from the prompt, u from the same prompt without
    its text, both fed the chosen codes. Checked step by step against two full forwards, for a
    batch of two prompts of different length (left padding) and with and without the cache."""
    prompts = [build_prompt(model, [5, 6, 7, 8, 9]), build_prompt(model, [10, 11], [12], prompt_codes=[3, 4, 5])]
    guided = SamplingConfig(greedy=True, cfg_scale=2.5, repetition_penalty=1.0)
    out = generate(model, prompts, [20, 15], guided)
    assert out == generate(model, prompts, [20, 15], guided, use_cache=False)
    assert out == generate(model, prompts[:1], [20], guided) + generate(model, prompts[1:], [15], guided)
    assert out != generate(model, prompts, [20, 15], SamplingConfig(greedy=True, repetition_penalty=1.0))
    cfg, end = model.cfg, model.cfg.special("</speech>")
    for prompt, codes in zip(prompts, out):
        cond, uncond = list(prompt), without_text(cfg, prompt).tolist()
        assert len(uncond) == len(cond) - (cond.index(cfg.special("</text>")) - 2)  # only the text is gone
        for code in codes:
            with torch.no_grad():
                c, u = (model(torch.tensor([seq]))[0][0, -1] for seq in (cond, uncond))
            mix = u + 2.5 * (c - u)
            allowed = torch.full_like(mix, -float("inf"))
            allowed[cfg.speech_offset:] = mix[cfg.speech_offset:]
            allowed[end] = mix[end]
            assert int(allowed.argmax()) == cfg.speech_offset + code
            cond.append(cfg.speech_offset + code)
            uncond.append(cfg.speech_offset + code)
    with pytest.raises(ValueError, match="cfg_scale"):
        SamplingConfig(cfg_scale=0.5)
    plain = SamplingConfig(greedy=True, repetition_penalty=1.0)
    model.cfg.cfg_scale = 2.5  # a model trained for guidance uses it unless the request says otherwise
    try:
        assert generate(model, prompts, [20, 15], plain) == out
        assert generate(model, prompts, [20, 15], SamplingConfig(greedy=True, repetition_penalty=1.0, cfg_scale=1.0)) != out
    finally:
        model.cfg.cfg_scale = 1.0


def test_guidance_keeps_tokens_the_conditional_logits_rule_out(model):
    """-inf in the conditional row (a backend's mask) stays -inf, also where the textless row
    has -inf too (-inf - -inf is NaN, which would poison sampling)."""
    from tts.decoding import decode_loop

    cfg, allowed = model.cfg, model.cfg.speech_offset + np.array([3, 7])

    class Masked:
        def step(self, ids, positions, key_mask):
            logits = np.random.default_rng(len(key_mask[0])).normal(size=(len(ids), cfg.vocab_size)).astype(np.float32)
            keep = np.full(cfg.vocab_size, -np.inf, np.float32)
            keep[allowed] = 0
            logits[: len(ids) // 2] += keep  # the conditional rows come first
            logits[len(ids) // 2 :, cfg.special("</speech>")] = -np.inf  # masked in both rows: -inf - -inf
            logits[: len(ids) // 2, cfg.special("</speech>")] = -np.inf
            return logits

    chunks = list(decode_loop(Masked(), cfg, [build_prompt(model, [5, 6])], [30], SamplingConfig(seed=0, cfg_scale=2.0)))
    codes = sum((c[0] for c in chunks), [])
    assert len(codes) == 30 and set(codes) <= {3, 7}


@pytest.mark.parametrize("n_codebooks", [1, 3])
def test_a_text_dropped_item_is_the_textless_training_sequence(n_codebooks):
    """``drop_text`` (the unconditional branch of training) equals building the item with no
    text, voice prompt included, and the aligner leaves it alone."""
    from tts.alignment import AlignConfig, Aligner
    from tts.data import collate

    model = TtsModel(load_preset("tiny", n_codebooks=n_codebooks, codebook_size=32))
    codes, prompt_codes = np.arange(12 * n_codebooks).reshape(n_codebooks, -1) % 32, np.ones((n_codebooks, 5), np.int64)
    for full, bare in ((training_sequence(model, [7, 8, 9], codes), training_sequence(model, [], codes)),
                       (training_sequence(model, [7, 8], codes, [9], prompt_codes),
                        training_sequence(model, [], codes, [], prompt_codes))):
        dropped = drop_text(model.cfg, full)
        assert torch.equal(dropped[0], bare[0]) and torch.equal(dropped[1], bare[1])
        aligner = Aligner(AlignConfig(weight=1, layers=(1,)), model.cfg, torch.ones(model.cfg.text_vocab))
        prior, queries = aligner.prior(*collate([dropped], model.cfg.special("<pad>"))[:2])
        assert not bool(prior.any()) and not bool(queries.any())


def test_sampling_is_seeded_and_streaming_chunks_concatenate(model):
    prompt = [build_prompt(model, [1, 2, 3])]
    cfg = SamplingConfig(temperature=0.9, top_k=20, top_p=0.9, repetition_penalty=1.2, seed=7)
    offline = generate(model, prompt, [37], cfg)
    assert offline == generate(model, prompt, [37], cfg)
    assert offline != generate(model, prompt, [37], SamplingConfig(seed=8))
    chunks = [c[0] for c in generate_stream(model, prompt, [37], cfg, chunk_frames=8)]
    assert [len(c) for c in chunks] == [8, 8, 8, 8, 5] and sum(chunks, []) == offline[0]
    assert all(0 <= c < model.cfg.codebook_size for c in offline[0])


def test_max_length_follows_text_length():
    cfg = SamplingConfig()
    assert max_frames_for(10, 50, cfg) < max_frames_for(100, 50, cfg) == 800
    assert max_frames_for(100, 50, SamplingConfig(max_frames=12)) == 12
    assert min_frames_for(100, 50, cfg) == 150 and min_frames_for(100, 50, SamplingConfig(max_frames=12)) == 12
    with pytest.raises(ValueError):
        SamplingConfig(top_p=0)


def test_tiny_model_overfits_one_utterance(model, tmp_path):
    g = torch.Generator().manual_seed(0)
    text = torch.randint(0, 500, (12,), generator=g).tolist()
    codes = torch.randint(0, model.cfg.codebook_size, (40,), generator=g).tolist()
    ids, labels = training_sequence(model, text, codes)
    assert int((labels != IGNORE).sum()) == len(codes) + 1  # every code and </speech>
    losses = fit(model, ids[None], labels[None], 150)
    assert losses[0] > 5.0 and losses[-1] < 0.05
    out = generate(model, [build_prompt(model, text)], [80], SamplingConfig(greedy=True))
    assert out[0] == codes  # reproduces the utterance and stops at </speech>
    longer = generate(model, [build_prompt(model, text)], [80], SamplingConfig(greedy=True), min_frames=[55])
    assert longer[0][:40] == codes and 55 <= len(longer[0]) <= 80  # no </speech> before the floor
    model.save_pretrained(tmp_path / "m")
    again = TtsModel.from_pretrained(tmp_path / "m")
    assert again.weights_hash() == model.weights_hash()
    assert generate(again, [build_prompt(again, text)], [80], SamplingConfig(greedy=True)) == out
    forced = load_recipe_script("evaluate_tts").teacher_forced_codes  # the evaluation's one-step-ahead column
    words = SimpleNamespace(encode=lambda _: text)
    assert forced(model, words, "", np.array([[codes]])).tolist() == [[codes]]
    assert forced(TtsModel(model.cfg).eval(), words, "", np.array([[codes]])).tolist() != [[codes]]


def test_a_voice_prompted_training_item_is_what_generation_continues(model):
    """Trained on (prompt utterance, target utterance) pairs, generation given the prompt's
    transcript and codes speaks exactly the target: the two layouts agree."""
    g = torch.Generator().manual_seed(2)
    text, prompt_text = torch.randint(0, 500, (2, 8), generator=g).tolist()
    codes, prompt_codes = torch.randint(0, model.cfg.codebook_size, (2, 30), generator=g).tolist()
    ids, labels = training_sequence(model, text, codes, prompt_text, prompt_codes)
    prompt = build_prompt(model, text, prompt_text, prompt_codes)
    assert ids[: len(prompt)].tolist() == prompt
    assert labels[len(prompt) - 1 :].tolist() == [model.cfg.speech_offset + c for c in codes] + [model.cfg.special("</speech>")]
    assert bool((labels[: len(prompt) - 1] == IGNORE).all())  # the prompt's codes are context only
    fit(model, ids[None], labels[None], 150)
    assert generate(model, [prompt], [60], SamplingConfig(greedy=True))[0] == codes


def test_token_dataset_items_are_the_per_utterance_sequences(tmp_path):
    """Texts are encoded once per distinct text in one batch (speed copies repeat them): every
    item, voice-prompted or not, equals the sequence built from that row alone, and an item
    whose prompted form is too long falls back to the unprompted one."""
    import json

    from safetensors.torch import save_file

    from tts.data import TokenDataset, voice_partners

    texts = ["Red cat, 12 owls.", "big dog", "Red cat, 12 owls.", "old owl sat", "big dog"]
    tok = TextTokenizer(train_tokenizer(texts * 3, vocab_size=262))
    rows = [{"id": f"u{i}", "text": t, "speaker": "s"} for i, t in enumerate(texts)]
    g = torch.Generator().manual_seed(3)
    codes = {r["id"]: torch.randint(0, 256, (1, 6 + 12 * i), generator=g, dtype=torch.int32) for i, r in enumerate(rows)}
    path = tmp_path / "tokens.safetensors"
    save_file(codes, str(path), metadata={"codec": "x", "codec_hash": "0", "rows": json.dumps(rows)})
    model = TtsModel(load_preset("tiny", text_vocab=tok.vocab_size, codebook_size=256))
    data = TokenDataset(path, model, tok, max_len=60, voice_prompts=1.0, seed=4)
    expected, fallbacks = [], 0
    for row, partner in zip(rows, voice_partners(rows, 1.0, 4)):
        own = training_sequence(model, tok.encode(row["text"]), codes[row["id"]].numpy())
        prompted = training_sequence(model, tok.encode(row["text"]), codes[row["id"]].numpy(),
                                     tok.encode(partner["text"]), codes[partner["id"]].numpy())
        fallbacks += len(prompted[0]) > 60 >= len(own[0])
        expected += [item for item in (prompted if len(prompted[0]) <= 60 else own,) if len(item[0]) <= 60]
    assert 0 < len(expected) < len(rows) and fallbacks  # the cap drops one row and unprompts another
    assert len(data) == len(expected)
    for (ids, labels), (want_ids, want_labels) in zip(data.items, expected):
        assert ids.tolist() == want_ids.tolist() and labels.tolist() == want_labels.tolist()


def test_delayed_voice_prompted_item_keeps_the_prompt_out_of_the_loss():
    model = TtsModel(load_preset("tiny", n_codebooks=3, codebook_size=32))
    codes, prompt_codes = np.arange(12).reshape(3, 4) % 32, (np.arange(15).reshape(3, 5) + 7) % 32
    ids, labels = training_sequence(model, [7, 8], codes, [9], prompt_codes)
    prompt = build_prompt(model, [7, 8], [9], prompt_codes.T.tolist())
    whole = 4 + len([9, 7, 8]) + 5  # <bos> <text> ... </text> <speech>, then the rows holding prompt frames only
    assert ids[:whole].tolist() == prompt[:whole]
    assert int((labels != IGNORE).sum()) == codes.size + 1  # the target's codes and </speech> only
    alone, _ = training_sequence(model, [9, 7, 8], np.concatenate([prompt_codes, codes], 1))
    assert torch.equal(ids, alone)  # the same tokens as one long utterance; only the loss differs


def test_voice_partners_share_the_speaker_and_are_seeded():
    from tts.data import voice_partners

    rows = [{"id": f"{s}{i}", "speaker": s} for s in "ab" for i in range(4)] + [{"id": "c0", "speaker": "c"}]
    assert voice_partners(rows, 0.0, 0) == [None] * 9
    every = voice_partners(rows, 1.0, 0)
    assert every[-1] is None  # a lone speaker has no partner
    assert all(p["speaker"] == r["speaker"] and p["id"] != r["id"] for r, p in zip(rows[:-1], every[:-1]))
    half = voice_partners(rows, 0.5, 3)
    assert half == voice_partners(rows, 0.5, 3) and 0 < sum(p is not None for p in half) < 8
    assert {voice_partners(rows, 1.0, seed)[0]["id"] for seed in range(40)} == {"a1", "a2", "a3"}  # any other


@pytest.mark.parametrize("key, value", [("token_noise", 1.0), ("token_noise", -0.1), ("voice_prompts", 1.5),
                                        ("text_dropout", 1.0), ("self_feed", 1.0)])
def test_bad_noise_and_prompt_shares_are_rejected(key, value):
    from tts.train import TtsTrainConfig

    with pytest.raises(ValueError, match=key):
        TtsTrainConfig(train_tokens="t", tokenizer="k", out_dir="o", **{key: value})


def test_word_error_rate_and_domain_lm():
    from tts.wer import bigram_arpa, edit_distance, word_error_rate, words

    assert words("Hello, World! It's 3.") == ["hello", "world", "it's"]
    assert edit_distance("a b c d".split(), "a x c".split()) == 2
    assert word_error_rate(["the cat sat", "a dog"], ["the cat sat", "dog a"]) == pytest.approx(2 / 5)
    arpa = bigram_arpa(["the cat sat", "the dog sat"])
    assert "ngram 1=6" in arpa and "ngram 2=6" in arpa and "\\end\\" in arpa
    pytest.importorskip("pocketsphinx")
    from tts.wer import Transcriber

    noise = 0.05 * np.random.default_rng(0).standard_normal(16000).astype(np.float32)
    heard = Transcriber(["the cat sat", "the dog sat"]).transcribe(noise, 16000)
    assert set(words(heard)) <= {"the", "cat", "dog", "sat"}  # the domain LM bounds the vocabulary


def test_delay_pattern_round_trip():
    from tts.delay import apply_delay, complete_frames, revert_delay

    codes = np.arange(12).reshape(3, 4)
    delayed = apply_delay(codes, pad=-1)
    assert delayed.shape == (3, 6)
    assert delayed[:, 0].tolist() == [0, -1, -1] and delayed[:, 2].tolist() == [2, 5, 8]  # frame 2 | 1 | 0
    np.testing.assert_array_equal(revert_delay(delayed), codes)
    assert complete_frames(6, 3) == 4 and complete_frames(1, 3) == 0
    np.testing.assert_array_equal(revert_delay(apply_delay(codes[:, :0], -1)), codes[:, :0])


@pytest.mark.parametrize("n_codebooks", [1, 3])
def test_token_noise_swaps_only_speech_codes_within_their_codebook(n_codebooks):
    from tts.data import corrupt_speech
    from tts.sequence import EMPTY

    model = TtsModel(load_preset("tiny", n_codebooks=n_codebooks, codebook_size=32))
    cfg = model.cfg
    codes = np.arange(3 * 2000).reshape(3, 2000)[:n_codebooks] % 32
    ids, _ = training_sequence(model, [7, 8, 9], codes)
    ids = ids[None]
    noisy = corrupt_speech(ids, cfg, 0.3, torch.Generator().manual_seed(5))
    assert torch.equal(noisy, corrupt_speech(ids, cfg, 0.3, torch.Generator().manual_seed(5)))  # seeded
    assert torch.equal(corrupt_speech(ids, cfg, 0.0, torch.Generator()), ids)
    grid, noisy = (t.reshape(-1, n_codebooks) for t in (ids, noisy))
    low = torch.tensor([cfg.codebook_offset(q) for q in range(n_codebooks)])
    is_code = (grid >= low) & (grid < low + cfg.codebook_size)
    assert torch.equal(noisy[~is_code], grid[~is_code])  # text, specials, EMPTY slots stay
    assert ((noisy >= low) & (noisy < low + cfg.codebook_size))[is_code].all()  # same codebook
    changed = float((noisy != grid)[is_code].float().mean())
    assert abs(changed - 0.3 * (1 - 1 / 32)) < 0.04  # a hit may draw the code it replaces
    assert (n_codebooks == 1) or bool((grid == EMPTY).any())  # the delay padding was in play


@pytest.fixture(scope="module")
def delayed_model() -> tuple[TtsModel, list[int], list[list[int]]]:
    """A 3-codebook tiny model overfitted on one utterance (text, frames of 3 codes)."""
    torch.manual_seed(1)
    model = TtsModel(load_preset("tiny", n_codebooks=3, codebook_size=32))
    g = torch.Generator().manual_seed(1)
    text = torch.randint(0, 500, (8,), generator=g).tolist()
    codes = torch.randint(0, 32, (3, 14), generator=g)
    ids, labels = training_sequence(model, text, codes.numpy())
    assert fit(model, ids[None], labels[None], 200)[-1] < 0.05
    return model, text, codes.T.tolist()


def test_delayed_training_sequence_layout():
    from tts.sequence import EMPTY

    model = TtsModel(load_preset("tiny", n_codebooks=3, codebook_size=32))
    cfg, codes = model.cfg, np.arange(12).reshape(3, 4) % 32
    ids, labels = training_sequence(model, [7, 8], codes)
    assert ids.shape == labels.shape == (6 + (4 + 3 - 1) - 1, 3)  # 6 prompt rows + delayed grid, shifted by one
    assert ids[:6, 1:].eq(EMPTY).all() and ids[5, 0] == cfg.special("<speech>")
    speech = torch.cat([ids[6:], labels[-1:]])  # the delayed grid rows
    assert speech[0].tolist() == [cfg.codebook_offset(0) + codes[0, 0], EMPTY, EMPTY]
    assert speech[2].tolist() == [cfg.codebook_offset(q) + codes[q, 2 - q] for q in range(3)]
    assert speech[4].tolist() == [cfg.special("</speech>"), cfg.codebook_offset(1) + codes[1, 3], cfg.codebook_offset(2) + codes[2, 2]]
    assert int((labels != IGNORE).sum()) == codes.size + 1  # every code of every codebook and </speech>
    assert cfg.vocab_size == cfg.codebook_offset(3) and TtsModel(cfg)(ids[None])[0].shape == (1, len(ids), cfg.vocab_size)


def test_delayed_heads_generate_the_overfitted_utterance(delayed_model):
    model, text, frames = delayed_model
    greedy = SamplingConfig(greedy=True)
    out = generate(model, [build_prompt(model, text)], [40], greedy)
    assert out[0] == frames  # every codebook reproduced, in frame order, stopped at </speech>
    assert generate(model, [build_prompt(model, text)], [40], greedy, use_cache=False) == out
    chunks = [c[0] for c in generate_stream(model, [build_prompt(model, text)], [40], greedy, chunk_frames=4)]
    assert sum(chunks, []) == frames and len(chunks) > 2
    assert generate(model, [build_prompt(model, text)], [6], greedy)[0] == frames[:6]  # frame budget


def test_delayed_voice_prompt_keeps_given_codes(delayed_model):
    """A prompt holding the first frames ends in partial delay rows; generation continues them."""
    model, text, frames = delayed_model
    prompt = build_prompt(model, text, prompt_codes=frames[:5])
    assert prompt[-1][0] == -1 and prompt[-2][0] == -1  # Q - 1 partial rows
    out = generate(model, [prompt], [40], SamplingConfig(greedy=True))
    assert out[0] == frames[5:]


def test_delayed_prompt_tail_is_fed_as_given(delayed_model):
    """The codes of the prompt's last frames that sit in partial rows are fed, not re-sampled."""
    from tts.decoding import decode_loop
    from tts.generate import TorchStepper

    model, text, frames = delayed_model
    cfg, given = model.cfg, [list(f) for f in frames[:5]]
    given[4][1], given[4][2], given[3][2] = (given[4][1] + 1) % 32, (given[4][2] + 1) % 32, (given[3][2] + 1) % 32
    fed = []

    class Recording(TorchStepper):
        def step(self, ids, positions, key_mask):
            fed.append(ids.copy())
            return super().step(ids, positions, key_mask)

    list(decode_loop(Recording(model), cfg, [build_prompt(model, text, prompt_codes=given)], [3], SamplingConfig(greedy=True)))
    row0, row1 = fed[1][0, 0].tolist(), fed[2][0, 0].tolist()
    assert row0[1:] == [cfg.codebook_offset(1) + given[4][1], cfg.codebook_offset(2) + given[3][2]]
    assert row1[2] == cfg.codebook_offset(2) + given[4][2]


def test_float16_storage_halves_the_file_and_keeps_the_hash(model, tmp_path):
    rounded = model.half().float()
    rounded.save_pretrained(tmp_path / "fp32")
    rounded.save_pretrained(tmp_path / "fp16", dtype=torch.float16)
    size = lambda d: (tmp_path / d / "model.safetensors").stat().st_size  # noqa: E731
    assert size("fp16") < 0.55 * size("fp32")
    again = TtsModel.from_pretrained(tmp_path / "fp16")
    assert again.weights_hash() == rounded.weights_hash() and next(again.parameters()).dtype == torch.float32


def test_trainer_warm_starts_from_a_published_model(tmp_path):
    import json

    from safetensors.torch import save_file

    from codec.train import Dist
    from tts.train import TtsTrainConfig, TtsTrainer

    texts = ["the old mill stood by the river", "a quiet bridge crossed the valley"]
    for name, size in (("tokenizer", 300), ("other", 262)):
        TextTokenizer(train_tokenizer(texts, vocab_size=size)).save(tmp_path / f"{name}.json")
    vocab = TextTokenizer.from_file(tmp_path / "tokenizer.json").vocab_size
    assert vocab != TextTokenizer.from_file(tmp_path / "other.json").vocab_size
    published = TtsModel(load_preset("tiny", text_vocab=vocab))
    published.save_pretrained(tmp_path / "pub")
    rows = [{"id": f"u{i}", "text": texts[i % 2], "speaker": "s"} for i in range(4)]
    codes = {r["id"]: torch.randint(0, 256, (1, 20), dtype=torch.int32) for r in rows}
    save_file(codes, str(tmp_path / "tokens.safetensors"), metadata={"codec": "x", "codec_hash": "0", "rows": json.dumps(rows)})
    cfg = dict(train_tokens=str(tmp_path / "tokens.safetensors"), tokenizer=str(tmp_path / "tokenizer.json"),
               out_dir=str(tmp_path / "out"), batch_size=2, init_from=str(tmp_path / "pub"))
    assert TtsTrainer(TtsTrainConfig(**cfg), Dist()).model.weights_hash() == published.weights_hash()
    other = {**cfg, "tokenizer": str(tmp_path / "other.json")}
    with pytest.raises(ValueError, match="text vocabulary"):
        TtsTrainer(TtsTrainConfig(**other), Dist())
    moved = TtsTrainer(TtsTrainConfig(**other, init_new_text=True), Dist()).model  # new text units, same speech side
    assert moved.cfg.text_vocab == 262 and moved.cfg.vocab_size == published.cfg.vocab_size - vocab + 262
    assert torch.equal(moved.embed.weight[262:], published.embed.weight[vocab:])
    assert torch.equal(moved.blocks[1].ffn.down.weight, published.blocks[1].ffn.down.weight)
    assert not torch.equal(moved.embed.weight[:262], published.embed.weight[:262])


def test_text_reliance_tells_a_reader_from_a_speech_lm(tmp_path):
    """Four utterances whose codes spell their (equal-length) texts: only a model that reads
    the text can tell them apart, so training opens a gap between own and other transcripts."""
    import json

    from safetensors.torch import save_file

    from tts.data import TokenDataset, collate, read_tokens, text_reliance

    texts = ["red cat", "big dog", "old owl", "wet elk"]
    tok = TextTokenizer(train_tokenizer(texts * 3, vocab_size=262))
    rows = [{"id": f"u{i}", "text": t, "speaker": "s"} for i, t in enumerate(texts)]
    codes = {r["id"]: torch.tensor([[i % 256 for i in tok.encode(r["text"]) for _ in range(3)]], dtype=torch.int32)
             for r in rows}
    path = tmp_path / "tokens.safetensors"
    save_file(codes, str(path), metadata={"codec": "x", "codec_hash": "0", "rows": json.dumps(rows)})
    torch.manual_seed(0)
    model = TtsModel(load_preset("tiny", text_vocab=tok.vocab_size))
    rows, dev_codes, _ = read_tokens(path)
    before = text_reliance(model.eval(), tok, rows, dev_codes)
    assert abs(before["dev/speech_ce"] - before["dev/speech_ce_other_text"]) < 0.05
    ids, labels, mask = collate(TokenDataset(path, model, tok).items, model.cfg.special("<pad>"))
    fit(model, ids, labels, 100, mask)
    after = text_reliance(model, tok, rows, dev_codes)
    assert after["dev/speech_ce"] < 0.5 < after["dev/speech_ce_other_text"] - after["dev/speech_ce"]


@pytest.mark.parametrize("name", ["tts_tiny", "tts_small", "tts_small_gpu", "tts_tiny_selffeed", "tts_small_gpu_selffeed",
                                  "tts_tiny_speeds", "tts_small_gpu_speeds"])
def test_recipe_tts_configs_load(name):
    """Every TTS config the recipe ships parses, and its guided heads exist in its preset."""
    from pathlib import Path

    from tts.train import TtsTrainConfig

    path = Path(__file__).resolve().parents[1] / f"recipes/libritts/conf/{name}.yaml"
    cfg = TtsTrainConfig.from_yaml(path)
    cfg.align.check(cfg.model_config(256))
    assert 0 <= cfg.text_dropout < 1 and cfg.batch_size >= 1
    merged = TtsTrainConfig.from_yaml(path, model={"codec": "elsewhere"})  # what run.sh's stage 8 passes
    assert merged.model == cfg.model | {"codec": "elsewhere"}


def test_guidance_needs_a_model_trained_for_it():
    from tts.train import TtsTrainConfig

    with pytest.raises(ValueError, match="text_dropout"):
        TtsTrainConfig(train_tokens="t", tokenizer="k", out_dir="o", model={"preset": "tiny", "cfg_scale": 2.0})
    guided = TtsTrainConfig(train_tokens="t", tokenizer="k", out_dir="o", text_dropout=0.1,
                            model={"preset": "tiny", "cfg_scale": 2.0}).model_config(300)
    assert guided.cfg_scale == 2.0
    with pytest.raises(ValueError, match="cfg_scale"):
        load_preset("tiny", cfg_scale=0.5)


@pytest.mark.parametrize("n_codebooks", [1, 3])
def test_self_feed_replaces_only_generated_codes_with_the_models_own_argmax(n_codebooks):
    """Scheduled sampling's first pass: at rate 1 every code generation would have produced
    itself becomes the argmax predicted one step earlier; text, the voice prompt's codes,
    specials and padding stay true; at rate 0 nothing changes; the draw is seeded."""
    from tts.data import collate
    from tts.self_feed import feed_own_predictions

    torch.manual_seed(0)
    model = TtsModel(load_preset("tiny", n_codebooks=n_codebooks, codebook_size=32)).eval()
    cfg, g = model.cfg, np.random.default_rng(0)
    items = [training_sequence(model, [7, 8, 9], g.integers(0, 32, (n_codebooks, 12)), [5], g.integers(0, 32, (n_codebooks, 6))),
             training_sequence(model, [4], g.integers(0, 32, (n_codebooks, 9)))]
    ids, labels, mask = collate(items, cfg.special("<pad>"))
    seeded = lambda: torch.Generator().manual_seed(3)  # noqa: E731
    assert torch.equal(feed_own_predictions(model, cfg, ids, labels, mask, 0.0, seeded()), ids)
    fed = feed_own_predictions(model, cfg, ids, labels, mask, 1.0, seeded())
    with torch.no_grad():
        logits = model(ids, key_mask=mask)[0]
    grid, fed_g, lab = (t if t.dim() == 3 else t[..., None] for t in (ids, fed, labels))
    for q in range(n_codebooks):
        lo = cfg.codebook_offset(q)
        guess = logits[:, :-1, lo : lo + cfg.codebook_size].argmax(-1) + lo
        own = (lab[:, :-1, q] != IGNORE) & (grid[:, 1:, q] >= lo) & (grid[:, 1:, q] < lo + cfg.codebook_size)
        last_only_a_label = 2 if q == n_codebooks - 1 > 0 else 0  # the delayed grid's final code is never an input
        assert int(own.sum()) == 12 + 9 - last_only_a_label  # the targets' codes, not the prompt's
        assert torch.equal(fed_g[:, 1:, q][own], guess[own]) and torch.equal(fed_g[:, 1:, q][~own], grid[:, 1:, q][~own])
    assert torch.equal(fed[:, 0], ids[:, 0])
    half = feed_own_predictions(model, cfg, ids, labels, mask, 0.5, seeded())
    assert torch.equal(half, feed_own_predictions(model, cfg, ids, labels, mask, 0.5, seeded()))
    assert not torch.equal(half, ids) and not torch.equal(half, fed)
