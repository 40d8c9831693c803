"""The front-end's tolerance table (boards/tolerances.py): sources, overrides, seeded draws, and
the co-simulated board drawing from it (sim/bridge.py part_deviations)."""

import json

import numpy as np
import pytest

from diodenet.boards.afe import AFE, SMALL_AFE
from diodenet.boards.parts import MCP4351
from diodenet.boards.tolerances import (DEFAULT_TOLERANCES, Tolerances, dac_channel_count,
                                        dac_channel_index, nominal_deviations)

DIGITS_AFE = AFE(n_hidden=6, n_outputs=10, n_inputs=64, kind="simulation")


def test_every_default_entry_names_its_source_and_the_datasheet_numbers_are_the_parts():
    for name, t in DEFAULT_TOLERANCES.items():
        assert t.source and t.per and not t.is_zero, name
    assert DEFAULT_TOLERANCES["pot_r_ab"].value == MCP4351.r_ab_tolerance == 0.20
    assert DEFAULT_TOLERANCES["pot_r_w"].value == tuple(MCP4351.r_w_range)


def test_a_draw_is_seeded_within_its_spreads_and_sized_by_the_frontend():
    tol = Tolerances()
    for afe in (SMALL_AFE, DIGITS_AFE):
        a, b, c = tol.sample(afe, 3), tol.sample(afe, 3), tol.sample(afe, 4)
        assert all(np.array_equal(a[k], b[k]) for k in a)
        assert not np.array_equal(a["r_ab"], c["r_ab"])
        assert a["r_ab"].shape == (afe.n_pot_chips,) and a["r_w"].shape == (afe.n_pots,)
        assert a["diode_vf"].shape == (afe.n_hidden,) and a["r_fixed"].shape == (len(afe.fixed_resistors()),)
        assert a["dac_gain"].shape == (dac_channel_count(afe),)
        assert a["adc_offset"].shape[0] >= afe.n_neurons
        assert np.all(np.abs(a["r_ab"] - 1) <= 0.2) and np.ptp(a["r_ab"]) > 0.05
        assert np.all((a["r_w"] >= 75) & (a["r_w"] <= 300))
        assert np.all(np.abs(a["r_fixed"] - 1) <= 1e-3)
        assert np.all(np.abs(a["diode_vf"]) <= 0.025) and abs(a["v_mid"]) <= 1.75e-3


def test_each_entry_has_its_own_stream_so_switching_others_off_keeps_its_draw():
    full = Tolerances().sample(DIGITS_AFE, [7, 2])
    only = Tolerances().only("pot_r_ab").sample(DIGITS_AFE, [7, 2])
    nominal = nominal_deviations(DIGITS_AFE)
    assert np.array_equal(only["r_ab"], full["r_ab"])
    for key in ("r_w", "r_fixed", "diode_vf", "dac_gain", "dac_offset", "adc_gain", "adc_offset"):
        assert np.array_equal(only[key], nominal[key]), key
    assert only["v_mid"] == 0.0
    wider = Tolerances.from_dict({"dac_offset": 0.05}).sample(DIGITS_AFE, [7, 2])
    assert np.array_equal(wider["r_w"], full["r_w"])                 # other entries unchanged
    assert np.abs(wider["dac_offset"]).max() > 0.003


def test_overrides_from_a_file_and_bad_input_named(tmp_path):
    f = tmp_path / "tol.json"
    f.write_text(json.dumps({"pot_r_ab": 0.05, "pot_r_w": [100, 120]}))
    tol = Tolerances.load(f)
    d = tol.sample(SMALL_AFE, 0)
    assert np.all(np.abs(d["r_ab"] - 1) <= 0.05) and np.all((d["r_w"] >= 100) & (d["r_w"] <= 120))
    assert tol["adc_gain"] == DEFAULT_TOLERANCES["adc_gain"]
    f.write_text(json.dumps({"pot_rab": 0.1}))
    with pytest.raises(ValueError, match="unknown part tolerance 'pot_rab'.*pot_r_ab"):
        Tolerances.load(f)
    f.write_text(json.dumps({"pot_r_w": [300, 100]}))
    with pytest.raises(ValueError, match="lo <= hi"):
        Tolerances.load(f)
    f.write_text(json.dumps({"pot_r_ab": -0.1}))
    with pytest.raises(ValueError, match="pot_r_ab.*>= 0"):
        Tolerances.load(f)
    f.write_text("{not json")
    with pytest.raises(ValueError, match="not JSON.*pot_r_ab"):
        Tolerances.load(f)
    with pytest.raises(FileNotFoundError, match="tolerance file"):
        Tolerances.load(tmp_path / "missing.json")


def test_dac_channel_numbering_is_the_boards_on_a_board_and_distinct_on_a_simulation_frontend():
    for line in SMALL_AFE.input_lines:
        dac, ch = SMALL_AFE.line_dac(line)
        assert dac_channel_index(SMALL_AFE, line) == dac * SMALL_AFE.dac.channels + ch
    for k, line in enumerate(SMALL_AFE.pert_lines()):
        assert dac_channel_index(SMALL_AFE, line) == SMALL_AFE.dac.channels + SMALL_AFE.pert_dac_channels[k]
    lines = DIGITS_AFE.input_lines + DIGITS_AFE.pert_lines()
    idx = [dac_channel_index(DIGITS_AFE, ln) for ln in lines]
    assert len(set(idx)) == len(lines) and max(idx) < dac_channel_count(DIGITS_AFE)


def test_the_cosimulated_board_draws_from_the_table():
    from diodenet.sim.bridge import part_deviations
    a = part_deviations(SMALL_AFE, 0.2, seed=5)
    b = Tolerances().sample(SMALL_AFE, 5)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    c = part_deviations(SMALL_AFE, 0.1, seed=5, table=Tolerances().only("pot_r_ab"))
    assert np.all(np.abs(c["r_ab"] - 1) <= 0.1) and np.all(c["r_w"] == SMALL_AFE.pot.r_w)
    nominal = part_deviations(SMALL_AFE, 0.0, seed=5)
    assert np.all(nominal["r_ab"] == 1) and nominal["v_mid"] == 0 and np.all(nominal["diode_vf"] == 0)


def test_seeds_of_different_lengths_never_share_a_draw():
    """numpy's SeedSequence does not see a trailing zero: [0, 5] and [0, 5, 0] must still differ
    (a Monte Carlo run's board [seed, run] and a training step's [seed, epoch, step])."""
    tol = Tolerances()
    a, b = tol.sample(SMALL_AFE, [0, 5]), tol.sample(SMALL_AFE, [0, 5, 0])
    assert not np.array_equal(a["r_ab"], b["r_ab"])
    assert not np.array_equal(tol.sample(SMALL_AFE, 0)["r_w"], tol.sample(SMALL_AFE, [0, 0])["r_w"])
