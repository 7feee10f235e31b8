"""recipes/libritts/code_phonetics.py: held-out information between codes and phonetic units."""

from __future__ import annotations

import numpy as np
import pytest

from recipe_scripts import load_recipe_script

@pytest.fixture(scope="module")
def module():
    return load_recipe_script("code_phonetics")


def test_codes_that_name_the_unit_carry_all_its_bits_and_random_codes_none(module):
    rng = np.random.default_rng(0)
    units_tr, units_te = rng.integers(0, 8, 20000), rng.integers(0, 8, 5000)
    h, h_given = module.held_out_bits(units_tr * 4 + rng.integers(0, 4, units_tr.size), units_tr,
                                      units_te * 4 + rng.integers(0, 4, units_te.size), units_te, 32, 8)
    assert h == pytest.approx(3.0, abs=0.01) and h_given < 0.01  # 4 codes per unit: the code names the unit
    h, h_given = module.held_out_bits(rng.integers(0, 32, units_tr.size), units_tr, rng.integers(0, 32, units_te.size),
                                      units_te, 32, 8)
    assert h - h_given < 0.01  # codes independent of the units: nothing to learn (held out, so not > 0 by chance)
