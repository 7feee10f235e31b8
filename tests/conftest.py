"""Shared fixtures: seeded RNGs and single-threaded torch for deterministic, quiet tests."""

import numpy as np
import pytest
import torch


@pytest.fixture(autouse=True)
def _seed_everything():
    torch.manual_seed(0)
    np.random.seed(0)
    yield


@pytest.fixture
def np_rng():
    return np.random.default_rng(0)


def pytest_configure(config):
    torch.set_num_threads(1)
