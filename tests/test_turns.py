"""serve.turns: what a client keeps of a text stream's answers around its interrupts."""

from serve.turns import FLUSH, INTERRUPT, Interrupts
from serve.gen.speech.v1 import speech_pb2 as pb


def audio(tag: bytes) -> pb.SynthesizeSpeechResponse:
    return pb.SynthesizeSpeechResponse(audio=tag)


MARK = pb.SynthesizeSpeechResponse(interrupted=True)


def test_audio_between_an_interrupt_and_its_mark_is_dropped():
    """The server may send old audio after the client asked (it was on the wire): dropped until
    the mark; with two interrupts asked, until the second mark."""
    interrupts = Interrupts()
    assert interrupts.request("Hello.") == pb.SynthesizeTextStreamRequest(text="Hello.")
    kept = [interrupts.wanted(audio(b"a"))]
    assert interrupts.request(INTERRUPT) == pb.SynthesizeTextStreamRequest(interrupt=True)
    kept += [interrupts.wanted(a) for a in (audio(b"old"), MARK, audio(b"new"))]
    interrupts.ask(pb.SynthesizeTextStreamRequest(interrupt=True, text="Next."))
    interrupts.request(INTERRUPT)
    kept += [interrupts.wanted(a) for a in (audio(b"old"), MARK, audio(b"old"), MARK, audio(b"newest"))]
    assert kept == [True, False, False, True, False, False, False, False, True]
    assert (interrupts.asked, interrupts.answered) == (3, 3)


def test_a_plain_message_is_not_counted():
    interrupts = Interrupts()
    assert interrupts.request(FLUSH) == pb.SynthesizeTextStreamRequest(flush=True)
    interrupts.ask(pb.SynthesizeTextStreamRequest(text="Hi.", flush=True))
    assert interrupts.asked == 0 and interrupts.wanted(audio(b"a"))
