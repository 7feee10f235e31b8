"""A text stream's turns, the client's side. ``FLUSH`` among the texts ends a turn (the text so
far is read now; the server marks, with ``flushed``, where its audio is all out). ``INTERRUPT``
cuts one short (barge-in: a voice agent whose listener starts talking stops the answer being
said and goes on with the next): the server marks where its audio for the new text begins
(``interrupted``); what comes between the ask and the mark was made before the ask and is
dropped here, so a caller never plays a word of the old answer after interrupting. Shared by
``SpeechClient``, ``AsyncSpeechClient`` and the gateway's WebSocket.
"""

from __future__ import annotations

from serve.gen.speech.v1 import speech_pb2 as pb


class Turn:
    """A mark among a text stream's texts: ``FLUSH`` (the turn is over: read its text now) or
    ``INTERRUPT`` (stop what is being said; the texts after it are read as a new stream would)."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


FLUSH, INTERRUPT = Turn("FLUSH"), Turn("INTERRUPT")


class Interrupts:
    """Interrupts asked (by the thread writing the stream) and answered (read from it): each side
    counts its own, so the writer and reader may be different threads."""

    def __init__(self) -> None:
        self.asked = self.answered = 0

    def request(self, text: str | Turn) -> pb.SynthesizeTextStreamRequest:
        """The stream message for ``text``, or for a FLUSH or an INTERRUPT."""
        if text is INTERRUPT:
            self.asked += 1
            return pb.SynthesizeTextStreamRequest(interrupt=True)
        if text is FLUSH:
            return pb.SynthesizeTextStreamRequest(flush=True)
        return pb.SynthesizeTextStreamRequest(text=text)

    def ask(self, message: pb.SynthesizeTextStreamRequest) -> pb.SynthesizeTextStreamRequest:
        """``message`` with its interrupt counted (the WebSocket builds its own messages)."""
        self.asked += message.interrupt
        return message

    def wanted(self, answer: pb.SynthesizeSpeechResponse) -> bool:
        """Whether ``answer`` belongs to the text being read now (False for the mark itself)."""
        if answer.interrupted:
            self.answered += 1
            return False
        return self.answered >= self.asked
