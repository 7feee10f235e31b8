"""An untrained tiny TTS over the tiny distilcodec, for tests of everything around the model (test helper)."""

from __future__ import annotations

import torch

from codec.pretrained import load_codec
from serve.engine import TorchCodecEngine
from tts.config import load_preset
from tts.model import TtsModel
from tts.synthesize import Synthesizer
from tts.text import TextTokenizer, train_tokenizer


def tiny_synthesizer(texts: list[str], **options) -> Synthesizer:
    """Seeded, so every test module that builds one gets the same weights; ``texts`` train its BPE."""
    torch.manual_seed(0)
    model = TtsModel(load_preset("tiny", codec="distilcodec-tiny")).eval()
    tokenizer = TextTokenizer(train_tokenizer(texts, vocab_size=300))
    return Synthesizer(model, tokenizer, codec=TorchCodecEngine(load_codec("distilcodec-tiny")), **options)
