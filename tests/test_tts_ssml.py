"""SSML: the parser's plan (pauses, prosody, sub, say-as, sentences), its refusals, and the
synthesizer reading a plan exactly as it reads each piece alone, with silence between."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from tts.sampling import SamplingConfig
from tts.mark_times import MarkAt, MarkTimer, marks_in_text
from tts.ssml import Mark, Pause, Say, is_ssml, parse_ssml
from tts.synthesize import Synthesizer, VoicePrompt
from tts.text import InvalidText, normalize
from tts.word_times import WordTime

from tiny_tts import tiny_synthesizer


def test_plan_of_a_document():
    plan = parse_ssml('<speak>Hello <break time="300ms"/> world. <prosody rate="150%" volume="-6dB">Quick '
                      '<emphasis>now</emphasis></prosody> and <sub alias="World Wide Web">WWW</sub>, '
                      '<say-as interpret-as="characters">abc</say-as> <say-as interpret-as="ordinal">22</say-as>.</speak>')
    assert plan == [Say("Hello"), Pause(0.3), Say("world."), Say("Quick now", 1.5, -6.0),
                    Say("and World Wide Web, a b c 22nd.")]
    assert parse_ssml("<speak><p><s>One</s><s>Two</s></p><p>Three</p></speak>") == [
        Say("One. Two."), Pause(0.5), Say("Three."), Pause(0.5)]
    namespaced = '<speak xmlns="http://www.w3.org/2001/10/synthesis" version="1.0">Hi <break strength="strong"/><break/> there</speak>'
    assert parse_ssml(namespaced) == [Say("Hi"), Pause(1.25), Say("there")]  # pauses in a row add up
    nested = parse_ssml('<speak><prosody rate="slow">a <prosody rate="2" volume="loud">b</prosody></prosody></speak>')
    assert nested == [Say("a", 0.75), Say("b", 1.5, 6.0)]  # nested prosody multiplies
    pitched = parse_ssml('<speak><prosody pitch="+2st">a <prosody pitch="high">b</prosody></prosody> '
                         '<prosody pitch="-20%">c</prosody><prosody pitch="default">d</prosody></speak>')
    assert pitched == [Say("a", pitch=2.0), Say("b", pitch=5.0), Say("c", pitch=pytest.approx(-3.863, abs=1e-3)),
                       Say("d")]  # pitches add up, in semitones
    assert parse_ssml('<speak><say-as interpret-as="digits">4 0 7</say-as> x</speak>') == [Say("4 0 7 x")]
    assert is_ssml("  <speak>x</speak>") and not is_ssml("speak <b>") and not is_ssml(None)
    # phonemes are read as letters that sound like them (tts.phonemes), in IPA or X-SAMPA
    assert parse_ssml('<speak>Ask <phoneme alphabet="ipa" ph="nˈuːjɛn">Nguyen</phoneme> and '
                      '<phoneme alphabet="x-sampa" ph="t@\'meI4oU">tomato</phoneme>.</speak>') == [
        Say("Ask nooyen and tamaytoh.")]


def test_marks_are_places_in_the_plan():
    """A mark between pieces or pauses is a plan item; one inside text that reads as one piece
    stays a place in it (the text is not cut there: no seam), before the word after it (a
    full stop after a mark goes with the word before, as after any tag); its place among the
    words as read is counted on its text normalized."""
    plan = parse_ssml('<speak><mark name="start"/>It costs $5 <mark name="price"/>today<mark name="dot"/>. '
                      '<mark name="next"/>Then more.<break time="1s"/><mark name="after pause"/><prosody rate="slow">'
                      'Slow <mark name="in slow"/>words</prosody><mark name="end"/></speak>')
    assert plan == [Mark("start"), Say("It costs $5 today. Then more.", marks=((12, "price"), (19, "dot"), (19, "next"))),
                    Pause(1.0), Mark("after pause"), Say("Slow words", 0.75, marks=((5, "in slow"),)), Mark("end")]
    assert [(m.name, m.sentence, m.word) for m in marks_in_text(plan[1], 4)] == [
        ("price", 4, 4), ("dot", 5, 0), ("next", 5, 0)]  # "it costs five dollars | today. || Then more."
    assert [(m.sentence, m.word) for m in marks_in_text(Say("One. Two three", marks=((14, "x"),)), 0)] == [(1, 2)]
    assert parse_ssml('<speak><s>One<mark name="m"/></s>Two</speak>') == [Say("One. Two", marks=((5, "m"),))]
    for doc, needle in (('<speak>x<mark/></speak>', "needs a name attribute"), ('<speak>x<mark name=" "/></speak>', "is empty")):
        with pytest.raises(InvalidText, match=needle):
            parse_ssml(doc)


def test_a_mark_is_told_once_its_time_is_known_and_in_order():
    """A mark between pieces is due once the audio passed it; one inside text once its
    sentence's words are found; a later mark waits for an earlier one."""
    marks = [MarkAt("a", 100), MarkAt("b", None, 0, 1), MarkAt("c", None, 0, 2), MarkAt("d", 500)]
    timer = MarkTimer(100, marks)
    assert [(m.name, m.time) for m in timer.due(200, [])] == [("a", 1.0)]
    assert timer.due(600, []) == []  # d has passed, but b and c come before it
    words = [WordTime("Hello", 2.0, 2.5, 0), WordTime("there.", 2.6, 3.0, 0)]
    assert [(m.name, m.time) for m in timer.due(600, words)] == [("b", 2.6), ("c", 3.0), ("d", 5.0)]
    late = MarkTimer(100, [MarkAt("e", None, 1, 0), MarkAt("f", 50)])  # a sentence with no words found: at the end
    assert [(m.name, m.time) for m in late.due(700, words, finished=True)] == [("e", 7.0), ("f", 0.5)]


def test_voices_are_pieces_of_their_own():
    """<voice name>: its text read in that voice (names checked by the reader); text in one voice
    is still one piece, text in two is two."""
    plan = parse_ssml('<speak>Hi. <voice name="ann">Hello <prosody volume="loud">you</prosody> there.</voice> '
                      '<voice name="ann">Again.</voice> Bye.</speak>')
    assert plan == [Say("Hi."), Say("Hello", voice="ann"), Say("you", volume_db=6.0, voice="ann"),
                    Say("there. Again.", voice="ann"), Say("Bye.")]
    for doc, needle in (('<speak><voice gender="female">x</voice></speak>', "<voice gender> is not supported"),
                        ('<speak><voice name=" ">x</voice></speak>', "<voice name> is empty")):
        with pytest.raises(InvalidText, match=needle):
            parse_ssml(doc)


@pytest.mark.parametrize("say_as, spoken", [
    ('interpret-as="telephone">+1 (555) 123-4567', "plus one, five five five, one two three, four five six seven"),
    ('interpret-as="date">12/25/2020', "december twenty fifth, twenty twenty"),
    ('interpret-as="date" format="ymd">2020-12-25', "december twenty fifth, twenty twenty"),
    ('interpret-as="date" format="dmy">25.12.2020', "december twenty fifth, twenty twenty"),
    ('interpret-as="date" format="md">7/4', "july fourth"),
    ('interpret-as="date" format="my">12/2020', "december twenty twenty"),
    ('interpret-as="date" format="y">1887', "eighteen eighty seven"),
    ('interpret-as="fraction">2 5/7', "two and five sevenths"),
    ('interpret-as="time">3:30 pm', "three thirty p m"),
    ('interpret-as="unit">5 kg', "five kilograms"),
    ('interpret-as="verbatim">IBM', "I B M"),
    ('interpret-as="currency">$42.01', "forty two dollars and one cent"),  # Google's, Polly's, Azure's kinds
    ('interpret-as="address">12 Main St.', "twelve Main street."),
    ('interpret-as="name">Ann Lee', "Ann Lee"),
])
def test_say_as_reads_telephones_dates_fractions_times_units(say_as, spoken):
    """What the normalizer then makes of the say-as text: the words spoken."""
    (said,) = parse_ssml(f"<speak><say-as {say_as}</say-as></speak>")
    assert normalize(said.text) == spoken


@pytest.mark.parametrize("text, needle", [
    ('<speak>Hi <audio src="x.wav"/></speak>', "<audio> is not supported"),
    ("<speak>Hi", "not well-formed"),
    ('<!DOCTYPE s [<!ENTITY a "b">]><speak>&a;</speak>', "DOCTYPE or entities"),
    ('<speak><break time="20s"/>x</speak>', "at most 10 s"),
    ('<speak><break time="soon"/>x</speak>', "500ms or 1.5s"),
    ('<speak><break strength="huge"/>x</speak>', "one of none"),
    ('<speak><prosody rate="300%">x</prosody></speak>', "rate comes to 3"),
    ('<speak><prosody rate="zippy">x</prosody></speak>', "a percentage"),
    ('<speak><prosody volume="max">x</prosody></speak>', "decibels"),
    ('<speak><prosody pitch="+50Hz">x</prosody></speak>', "not Hz: the voice's own pitch is not known"),
    ('<speak><prosody pitch="+8st"><prosody pitch="+6st">x</prosody></prosody></speak>', "the pitch comes to .14 semitones"),
    ('<speak><prosody contour="(0%,+20Hz)">x</prosody></speak>', "<prosody contour> is not supported"),
    ('<speak><sub>x</sub></speak>', "needs a alias attribute"),
    ('<speak><say-as interpret-as="chemical">1</say-as></speak>', "one of characters"),
    ('<speak><say-as interpret-as="telephone">none</say-as></speak>', "has no digits"),
    ('<speak><say-as interpret-as="date">13/25/2020</say-as></speak>', "cannot read '13/25/2020'"),
    ('<speak><say-as interpret-as="date" format="ydm">2020/1/2</say-as></speak>', "one of mdy, dmy, ymd"),
    ('<speak><say-as interpret-as="date" format="dmy">5/2020</say-as></speak>', "cannot read"),
    ('<speak><say-as interpret-as="fraction">1/0</say-as></speak>', "cannot read '1/0'"),
    ('<speak><say-as interpret-as="time">noon</say-as></speak>', "cannot read 'noon'"),
    ('<speak><phoneme alphabet="ups" ph="S1 AA R . IY">x</phoneme></speak>', "phoneme alphabet 'ups': one of ipa, x-sampa"),
    ('<speak><phoneme alphabet="ipa" ph="\u0298a">x</phoneme></speak>', "no English sound for"),
    ('<speak><phoneme>x</phoneme></speak>', "needs a ph attribute"),
    ('<speak><say-as interpret-as="ordinal">first</say-as></speak>', "not a whole number"),
    ("<speak> <break/> , </speak>", "nothing to say"),
    ("<speak>x" + '<break time="9s"/>' * 7 + "</speak>", "pauses add up to 63 s"),
    ("<p>x</p>", "<speak> as its root"),
    ("<speak>" + "<emphasis>" * 40 + "x" + "</emphasis>" * 40 + "</speak>", "more than 32 elements deep"),
    ("<speak>" + "word " * 500 + "</speak>", "at most 2000"),
])
def test_bad_documents_are_refused_in_one_line(text, needle):
    with pytest.raises(InvalidText, match=needle):
        parse_ssml(text)


@pytest.fixture(scope="module")
def synth():
    return tiny_synthesizer(["hello there", "a quiet bridge"])


def test_a_plan_reads_as_its_pieces_with_silence_between(synth):
    """Each piece is generated on its own, through one decoder stream (the second continues
    where the first left the decoder), at its rate and volume, the break as silence."""
    sampling = SamplingConfig(seed=2, max_frames=30)
    doc = '<speak>Hello there.<break time="250ms"/><prosody rate="1.5" volume="-6dB">A quiet bridge.</prosody></speak>'
    got = np.concatenate(list(synth.stream(doc, sampling=sampling, chunk_frames=4)))
    decoder = synth._decoder(None)
    first = np.concatenate(list(synth._stream_text("Hello there.", None, sampling, 4, None, None, 1.0, decoder)))
    second = np.concatenate(list(synth._stream_text("A quiet bridge.", None, replace(sampling, seed=3), 4, None, None,
                                                     1.5, decoder)))  # the document's second sentence: seed + 1
    fresh = np.concatenate(list(synth.stream("A quiet bridge.", sampling=sampling, chunk_frames=4, speaking_rate=1.5)))
    assert not np.array_equal(second, fresh)  # a fresh decoder would have started over
    expected = np.concatenate([first, np.zeros(synth.sample_rate // 4, np.float32), second * np.float32(10 ** (-6 / 20))])
    np.testing.assert_array_equal(got, expected)
    np.testing.assert_allclose(synth.synthesize(doc, sampling=sampling), got, atol=1e-5)
    plain = synth.synthesize("Hello there. A quiet bridge.", sampling=sampling)
    same = '<speak>Hello there. <prosody rate="100%" volume="+0dB">A quiet bridge.</prosody></speak>'
    np.testing.assert_array_equal(np.concatenate(list(synth.stream(same, sampling=sampling))),
                                  np.concatenate(list(synth.stream("Hello there. A quiet bridge.", sampling=sampling))))
    np.testing.assert_allclose(synth.synthesize(same, sampling=sampling), plain, atol=1e-5)  # markup that changes nothing
    with pytest.raises(InvalidText, match="SSML is read by stream"):
        synth.speak(doc)
    with pytest.raises(ValueError, match="speaking_rate must be"):  # 1.5 in the document x 1.5 asked
        synth.synthesize(doc, sampling=sampling, speaking_rate=1.5)


def test_marks_change_nothing_heard_and_fall_where_they_stand(synth):
    """A document read with marks is the same audio as without them; a mark between pieces is
    at the sample where the audio before it ends, one inside text before its word."""
    sampling = SamplingConfig(seed=2, max_frames=30)
    doc = ('<speak><mark name="a"/>Hello <mark name="b"/>there.<break time="250ms"/><mark name="c"/>'
           '<prosody rate="1.5">A quiet bridge.</prosody><mark name="d"/></speak>')
    unmarked = '<speak>Hello there.<break time="250ms"/><prosody rate="1.5">A quiet bridge.</prosody></speak>'
    plain = np.concatenate(list(synth.stream(unmarked, sampling=sampling)))
    sentences, marks = [], []
    got = np.concatenate(list(synth.stream(doc, sampling=sampling, sentences=sentences, marks=marks)))
    np.testing.assert_array_equal(got, plain)
    first = sentences[1][1]  # where "Hello there." ends and the break begins
    assert sentences == [("Hello there.", 0), (None, first), ("A quiet bridge.", first + synth.sample_rate // 4)]
    assert marks == [MarkAt("a", 0), MarkAt("b", None, 0, 1), MarkAt("c", sentences[2][1]), MarkAt("d", len(got))]
    assert first > 0 and not got[first:sentences[2][1]].any() and got[first - 100:first].any()


@pytest.mark.parametrize("context", ["voice", "previous"])
def test_a_piece_in_another_voice_is_read_as_that_voice_reads_it(synth, context):
    """A piece in another voice starts where a request in that voice starts (a decoder stream
    warmed by it, a prompt of it, not the other speaker's last sentence), its draws numbered
    on; the voice after it likewise; an unknown name is refused before anything plays."""
    reader = Synthesizer(synth.model, synth.tokenizer, codec=synth.codec, context=context)
    ann = VoicePrompt(np.random.default_rng(1).integers(0, 256, 20).tolist(), "A quiet bridge.")
    sampling = SamplingConfig(seed=2, max_frames=30)
    doc = '<speak>Hello there. <voice name="ann">A quiet bridge.</voice> Hello.</speak>'
    got = np.concatenate(list(reader.stream(doc, sampling=sampling, voices={"ann": ann})))
    alone = [reader.stream("Hello there.", sampling=sampling),
             reader.stream("A quiet bridge.", ann, replace(sampling, seed=3)),
             reader.stream("Hello.", sampling=replace(sampling, seed=4))]
    np.testing.assert_array_equal(got, np.concatenate([np.concatenate(list(chunks)) for chunks in alone]))
    with pytest.raises(InvalidText, match="no voice of that name"):
        next(reader.stream(doc, sampling=sampling))
    # a piece in the request's own voice (an equal copy: a server respells a named voice anew) goes
    # on as the text without the element does: no new decoder stream, no new start
    own = np.concatenate(list(reader.stream('<speak>Hello there. A quiet bridge. Hello.</speak>', ann, sampling)))
    same = np.concatenate(list(reader.stream(doc, ann, sampling, voices={"ann": replace(ann)})))
    np.testing.assert_array_equal(same, own)


def test_an_expletive_is_a_bleep_as_long_as_the_word(synth):
    """say-as expletive: a 1 kHz tone in the word's place (0.07 s a letter, 0.25 s at least),
    never merged with a pause next to it."""
    assert parse_ssml('<speak>a <say-as interpret-as="expletive">darned</say-as><break time="1s"/>b</speak>') == [
        Say("a"), Pause(6 * 0.07, bleep=True), Pause(1.0), Say("b")]
    sentences: list = []
    got = np.concatenate(list(synth.stream('<speak>Hello there. <say-as interpret-as="expletive">darned</say-as> '
                                           'A quiet bridge.</speak>', sampling=SamplingConfig(seed=2, max_frames=30),
                                           sentences=sentences)))
    assert [text for text, _ in sentences] == ["Hello there.", None, "A quiet bridge."]  # the bleep is a pause
    end = sentences[2][1]
    bleep = got[sentences[1][1] : end]
    assert len(bleep) == round(0.42 * synth.sample_rate)
    spectrum = np.abs(np.fft.rfft(bleep))
    assert np.argmax(spectrum) * synth.sample_rate / len(bleep) == pytest.approx(1000, abs=5)
    assert 0.24 < np.abs(bleep).max() <= 0.25 and abs(bleep[0]) < 1e-3 and abs(bleep[-1]) < 0.01  # faded


def test_a_piece_goes_on_from_the_last_sentence_before_it(synth):
    """With ``context='previous'`` an SSML piece's first sentence continues the piece before it
    (across a break), as the second sentence of plain text does."""
    going_on = Synthesizer(synth.model, synth.tokenizer, codec=synth.codec, context="previous")
    sampling = SamplingConfig(seed=2, max_frames=30)
    plain = going_on.synthesize("Hello there. A quiet bridge.", sampling=sampling)
    n = len(going_on.synthesize("Hello there.", sampling=sampling))  # the first sentence's audio
    doc = '<speak>Hello there.<break time="100ms"/>A quiet bridge.</speak>'
    got = np.concatenate(list(going_on.stream(doc, sampling=sampling)))
    np.testing.assert_allclose(got, np.concatenate([plain[:n], np.zeros(synth.sample_rate // 10, np.float32), plain[n:]]),
                               atol=1e-5)
    restarted = np.concatenate(list(synth.stream(doc, sampling=sampling)))
    assert np.array_equal(restarted[:n], got[:n]) and not np.array_equal(restarted[n:], got[n:])
