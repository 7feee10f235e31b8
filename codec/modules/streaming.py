"""Explicit streaming state, in the moshi spirit but functional.

Every streaming layer owns a small state (a :class:`ConvState` tail of past input or of
overlap-add output) and exposes ``step(x, state) -> (y, new_state)``.  Offline
``forward(x)`` is ``step`` from the zero state, so chunked == offline holds by
construction.  States of a module tree nest as lists mirroring the tree; a batch of
independent streams advances together and ``reset_state(state, mask)`` restarts chosen
items.  ``flatten_state``/``unflatten_state`` turn a tree into the flat tensor list an
ONNX step graph takes as ``state_i`` inputs.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import Any, Iterator

import torch
from torch import Tensor, nn


@dataclass
class ConvState:
    """A tail kept between chunks: past input (convs) or pending overlap-add (transposed)."""

    buffer: Tensor  # [B, C, L]

    def reset(self, mask: Tensor) -> "ConvState":
        """Zero the items where ``mask`` [B] is True (a new stream starts in that slot)."""
        keep = (~mask).to(self.buffer.dtype).view(-1, 1, 1)
        return ConvState(self.buffer * keep)


State = Any  # ConvState | None | list[State]


class StreamingModule(nn.Module, abc.ABC):
    """A layer that can run offline or chunk by chunk with an explicit state."""

    @abc.abstractmethod
    def initial_state(self, batch: int, device: torch.device | None = None, dtype: torch.dtype | None = None) -> State:
        """The zero state: offline processing is ``step`` from here."""

    @abc.abstractmethod
    def step(self, x: Tensor, state: State) -> tuple[Tensor, State]:
        """Process one chunk; return the output chunk and the state after it."""

    def forward(self, x: Tensor) -> Tensor:
        y, _ = self.step(x, self.initial_state(x.shape[0], x.device, x.dtype))
        return y


class StreamingSequential(StreamingModule):
    """Run children in order; stateless children (activations, 1x1 convs) get ``None``."""

    def __init__(self, *layers: nn.Module) -> None:
        super().__init__()
        self.layers = nn.ModuleList(layers)

    def initial_state(self, batch: int, device: torch.device | None = None, dtype: torch.dtype | None = None) -> State:
        return [
            m.initial_state(batch, device, dtype) if isinstance(m, StreamingModule) else None for m in self.layers
        ]

    def step(self, x: Tensor, state: State) -> tuple[Tensor, State]:
        new_state = []
        for layer, s in zip(self.layers, state):
            if isinstance(layer, StreamingModule):
                x, s = layer.step(x, s)
            else:
                x = layer(x)
            new_state.append(s)
        return x, new_state


def _leaves(state: State) -> Iterator[ConvState]:
    if isinstance(state, ConvState):
        yield state
    elif isinstance(state, (list, tuple)):
        for item in state:
            yield from _leaves(item)


def flatten_state(state: State) -> list[Tensor]:
    """All tail tensors of a state tree, depth first (the ONNX ``state_i`` order)."""
    return [leaf.buffer for leaf in _leaves(state)]


def unflatten_state(template: State, tensors: list[Tensor]) -> State:
    """Rebuild a state tree shaped like ``template`` from ``flatten_state`` output."""
    it = iter(tensors)

    def build(node: State) -> State:
        if isinstance(node, ConvState):
            return ConvState(next(it))
        if isinstance(node, (list, tuple)):
            return [build(item) for item in node]
        return node

    out = build(template)
    if next(it, None) is not None:
        raise ValueError("more state tensors than the template holds")
    return out


def reset_state(state: State, mask: Tensor) -> State:
    """Zero the state of the batch items selected by ``mask`` [B] (bool)."""
    if isinstance(state, ConvState):
        return state.reset(mask)
    if isinstance(state, (list, tuple)):
        return [reset_state(item, mask) for item in state]
    return state
