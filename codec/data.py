"""Training data: JSONL manifests, reproducible random crops and per-rank shards.

A manifest line is ``{"id", "path", "text", "speaker", "duration", "sample_rate"}`` (see
``recipes/libritts/prepare.py``). The crop for item ``i`` at epoch ``e`` depends only on
``(seed, e, i)``, and the shard order only on ``(seed, e)``, so runs are reproducible for any
number of workers and resume from a step without replaying the data.
"""

from __future__ import annotations

import json
import math
import os
import random
from pathlib import Path
from typing import Iterator, Sequence, Sized, Union

import numpy as np
import soundfile as sf
import soxr
import torch
import torch.distributed as dist
from torch.utils.data import DataLoader, Dataset, Sampler

PathLike = Union[str, os.PathLike]
RESAMPLE_MARGIN = 256  # native samples of context read around a crop for the resampling filter


def read_manifest(path: PathLike) -> list[dict]:
    """Rows of a JSONL manifest; relative ``path`` fields resolve against the manifest's folder."""
    path = Path(path)
    rows = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                raise ValueError(f"{path}:{n}: not valid JSON ({e.msg})") from None
            if "path" not in row:
                raise ValueError(f"{path}:{n}: missing 'path'")
            if not os.path.isabs(row["path"]):
                row["path"] = str((path.parent / row["path"]).resolve())
            rows.append(row)
    return rows


def read_crop(f: sf.SoundFile, start: int, length: int, sample_rate: int) -> np.ndarray:
    """``length`` mono samples at ``sample_rate`` from target-rate sample ``start`` (zero-padded)."""
    sr = f.samplerate
    if sr == sample_rate:
        lo, skip, count = start, 0, length
    else:  # start the read on a sample that falls exactly on the target grid
        g = math.gcd(sr, sample_rate)
        step_in, step_out = sr // g, sample_rate // g
        k = max(0, start * sr // sample_rate - RESAMPLE_MARGIN) // step_in
        lo, skip = k * step_in, start - k * step_out
        count = math.ceil((skip + length) * sr / sample_rate) + RESAMPLE_MARGIN
    f.seek(min(lo, f.frames))
    x = f.read(count, dtype="float32", always_2d=True)
    mono = x.mean(axis=1, dtype=np.float32) if x.shape[1] > 1 else x[:, 0]
    if sr != sample_rate and mono.size:
        mono = soxr.resample(mono, sr, sample_rate, quality="HQ").astype(np.float32)
    out = np.zeros(length, dtype=np.float32)
    seg = mono[skip : skip + length]
    out[: seg.size] = seg
    return out


class AudioSegmentDataset(Dataset):
    """Random fixed-length crops (float32 [segment_samples], zero-padded if shorter)."""

    def __init__(self, manifest: PathLike | Sequence[dict], segment_samples: int, sample_rate: int,
                 seed: int = 0):
        if segment_samples <= 0:
            raise ValueError(f"segment_samples must be positive, got {segment_samples}")
        self.items = read_manifest(manifest) if isinstance(manifest, (str, os.PathLike)) else list(manifest)
        self.segment_samples = segment_samples
        self.sample_rate = sample_rate
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.items)

    def crop_start(self, index: int, n_samples: int) -> int:
        """Crop offset (target-rate samples) for ``index``; a function of (seed, epoch, index)."""
        slack = n_samples - self.segment_samples
        if slack <= 0:
            return 0
        rng = np.random.default_rng([self.seed, self.epoch, index])
        return int(rng.integers(0, slack + 1))

    def __getitem__(self, index: int) -> torch.Tensor:
        with sf.SoundFile(self.items[index]["path"]) as f:
            n = int(f.frames * self.sample_rate / f.samplerate)
            start = self.crop_start(index, n)
            return torch.from_numpy(read_crop(f, start, self.segment_samples, self.sample_rate))


def _dist_default(rank: int | None, world_size: int | None) -> tuple[int, int]:
    """Fill missing rank/world_size from torch.distributed, else a single process."""
    initialized = dist.is_available() and dist.is_initialized()
    if world_size is None:
        world_size = dist.get_world_size() if initialized else 1
    if rank is None:
        rank = dist.get_rank() if initialized else 0
    if not 0 <= rank < world_size:
        raise ValueError(f"rank {rank} out of range for world_size {world_size}")
    return rank, world_size


class ShardSampler(Sampler[int]):
    """Like DistributedSampler: a seeded per-epoch shuffle split into equal, disjoint rank shards.

    Without ``drop_last`` the permutation is padded by wrapping around so every rank gets
    ``ceil(n / world_size)`` indices; with it the tail is dropped instead.
    """

    def __init__(self, data: Sized | int, rank: int | None = None, world_size: int | None = None,
                 seed: int = 0, shuffle: bool = True, drop_last: bool = False):
        self.n = data if isinstance(data, int) else len(data)
        self.rank, self.world_size = _dist_default(rank, world_size)
        self.seed, self.shuffle, self.drop_last = seed, shuffle, drop_last
        self.epoch = 0
        per = self.n // self.world_size if drop_last else math.ceil(self.n / self.world_size)
        self.num_samples = per
        self.total = per * self.world_size

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.num_samples

    def __iter__(self) -> Iterator[int]:
        if self.shuffle:
            g = torch.Generator().manual_seed(self.seed + self.epoch)
            order = torch.randperm(self.n, generator=g).tolist()
        else:
            order = list(range(self.n))
        if self.total > len(order) and order:
            reps = math.ceil(self.total / len(order))
            order = (order * reps)[: self.total]
        order = order[: self.total]
        return iter(order[self.rank : self.total : self.world_size])


def _seed_worker(worker_id: int) -> None:
    """Workers derive numpy/random seeds from torch's per-worker seed (crops use their own RNG)."""
    seed = torch.initial_seed() % 2**32
    np.random.seed(seed)
    random.seed(seed)


def make_loader(manifest: PathLike | Sequence[dict], segment_samples: int, sample_rate: int,
                batch_size: int, seed: int = 0, rank: int | None = None,
                world_size: int | None = None, num_workers: int = 0) -> DataLoader:
    """A seeded DataLoader of [batch_size, segment_samples] crops over this rank's shard.

    Call ``set_epoch(loader, e)`` before each epoch to reshuffle and re-crop.
    """
    dataset = AudioSegmentDataset(manifest, segment_samples, sample_rate, seed=seed)
    sampler = ShardSampler(len(dataset), rank=rank, world_size=world_size, seed=seed)
    if len(sampler) < batch_size:
        raise ValueError(f"batch_size {batch_size} exceeds this rank's shard of {len(sampler)} utterances")
    return DataLoader(dataset, batch_size=batch_size, sampler=sampler, drop_last=True,
                      num_workers=num_workers, worker_init_fn=_seed_worker,
                      generator=torch.Generator().manual_seed(seed), pin_memory=False)


def set_epoch(loader: DataLoader, epoch: int) -> None:
    """Advance a ``make_loader`` loader to ``epoch`` (sampler order and crop offsets)."""
    loader.sampler.set_epoch(epoch)
    loader.dataset.set_epoch(epoch)
