"""The CTC recognizer as one ONNX graph, audio in, CTC log-probabilities out (``asr.onnx``),
so the torch-free server can verify best-of-N candidates (``tts.verify``).

The log-mel front end is rewritten as a convolution with a windowed DFT basis: the same
numbers as torchaudio's ``MelSpectrogram`` (reflect padding, Hann window, power 2, the same
mel filters). The TorchScript exporter is used because it writes the BiGRU as ONNX ``GRU``
nodes over any length; the dynamo exporter unrolls it for the example's length.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from codec.modules.spectral import dft_basis
from serve.asr_runtime import ASR_ONNX

from .asr import CtcRecognizer


class ConvLogMel(nn.Module):
    """``LogMel`` as Pad + Conv1d + MatMul (exportable; no complex STFT)."""

    def __init__(self, recognizer: CtcRecognizer) -> None:
        super().__init__()
        cfg, mel = recognizer.cfg, recognizer.features.mel
        cos, sin = dft_basis(cfg.n_fft)
        basis = torch.cat([cos, -sin]) * mel.spectrogram.window.double()  # [2 * freqs, n_fft]
        self.register_buffer("basis", basis.float()[:, None])
        self.register_buffer("filters", mel.mel_scale.fb.float().T.contiguous())  # [n_mels, freqs]
        self.n_fft, self.hop, self.n_freqs = cfg.n_fft, cfg.hop, cfg.n_fft // 2 + 1

    def forward(self, wav: Tensor) -> Tensor:
        x = F.pad(wav[:, None], (self.n_fft // 2, self.n_fft // 2), mode="reflect")
        spec = F.conv1d(x, self.basis, stride=self.hop)  # [B, 2 * freqs, frames]
        power = spec[:, : self.n_freqs] ** 2 + spec[:, self.n_freqs :] ** 2
        logmel = torch.log(torch.matmul(self.filters, power) + 1e-6).transpose(1, 2)
        return (logmel - logmel.mean((1, 2), keepdim=True)) / (logmel.std((1, 2), keepdim=True) + 1e-5)


class AudioToLogProbs(nn.Module):
    def __init__(self, recognizer: CtcRecognizer) -> None:
        super().__init__()
        self.features, self.recognizer = ConvLogMel(recognizer), recognizer

    def forward(self, wav: Tensor) -> Tensor:
        return self.recognizer(self.features(wav))


def export_asr(recognizer: CtcRecognizer, directory: str | Path) -> Path:
    """Write ``directory/asr.onnx``: wav [1, samples] (at least n_fft) -> log_probs [1, frames, classes];
    its metadata carries the weights hash, so a stale graph is refused at load."""
    import io

    import onnx

    from codec.atomic import atomic_write
    from codec.checkpoint import state_hash

    buffer = io.BytesIO()
    with warnings.catch_warnings(), torch.no_grad():  # the TorchScript exporter's deprecation notice
        warnings.simplefilter("ignore")
        torch.onnx.export(AudioToLogProbs(recognizer.eval()), (torch.zeros(1, recognizer.cfg.sample_rate),), buffer,
                          dynamo=False, opset_version=17, input_names=["wav"], output_names=["log_probs"],
                          dynamic_axes={"wav": {1: "samples"}, "log_probs": {1: "frames"}})
    proto = onnx.load_from_string(buffer.getvalue())
    proto.metadata_props.add(key="weights_hash", value=state_hash(recognizer))
    onnx.checker.check_model(proto, full_check=True)
    path = Path(directory) / ASR_ONNX
    atomic_write(path, lambda tmp: onnx.save_model(proto, tmp))
    return path
