"""In-place calibration (analog/calibration.py, analog/calibration_fit.py, `diodenet calibrate`).

The truth is the co-simulated board's seeded part deviations (`sim.bridge.part_deviations`, read
only through its output): calibration must recover every rheostat within 1 % and make the node
voltages match the reference solver on the calibrated values within 2 ADC LSB.  Three tiers: the
file and its checks (no simulator); the measurement and fits on the co-simulated board's analog
side (its ngspice bridge, driven directly: seconds); and the whole stack through the controller
gateware in Icarus (a short plan in CI, the full plan marked slow).
"""

from dataclasses import replace
import datetime as dt
import json
import shutil
import warnings

import numpy as np
import pytest

from diodenet.boards.afe import SMALL_AFE
from diodenet.boards.platforms import ControllerConfig
from diodenet.hdl.protocol import Caps
from diodenet.analog.calibration import (Calibration, CalibrationMismatch, StaleCalibration,
                                       board_identity, check_calibration, frontend_identity,
                                       load_calibration, now_iso)
from diodenet.analog.calibration_fit import Plan, calibration_from, measure

AFE = SMALL_AFE
CAPS = Caps.of(ControllerConfig(afe=AFE))
HAS_ICARUS = shutil.which("iverilog") is not None and shutil.which("vvp") is not None


def _cal(seed=0, date=None, caps=CAPS, afe=AFE):
    rng = np.random.default_rng(seed)
    m = afe.n_pots
    return Calibration(
        identity=board_identity(caps), frontend=frontend_identity(afe), date=date or now_iso(),
        r_ab=afe.pot_r_ab * rng.uniform(0.8, 1.2, m), r_w=rng.uniform(75, 300, m),
        dac_gain=rng.uniform(-1e-3, 1e-3, 16), dac_offset=rng.uniform(-3e-3, 3e-3, 16),
        adc_gain=rng.uniform(-1e-3, 1e-3, 8), adc_offset=rng.uniform(-1e-3, 1e-3, 8),
        diode_is=rng.uniform(1e-7, 3e-7, afe.n_hidden), diode_n=rng.uniform(1.0, 1.05, afe.n_hidden),
        diode_points=[[[1e-5, 0.1], [1e-4, 0.15]]] * afe.n_hidden,
        reverse_current=-rng.uniform(1e-7, 3e-7, afe.n_hidden))


# --- the file and its checks -------------------------------------------------------------------------

def test_file_is_plain_json_and_round_trips(tmp_path):
    cal = _cal()
    path = tmp_path / "calibration.json"
    cal.save(path)
    assert [p.name for p in tmp_path.iterdir()] == ["calibration.json"]     # no temporary left
    d = json.loads(path.read_text())
    assert d["schema"] == "diodenet-calibration/1" and d["identity"]["board"] == "icebreaker"
    assert len(d["rheostats"]["r_ab"]) == AFE.n_pots
    back = load_calibration(path)
    for name in ("r_ab", "r_w", "dac_gain", "dac_offset", "adc_gain", "adc_offset", "diode_is",
                 "diode_n", "reverse_current"):
        assert np.array_equal(getattr(back, name), getattr(cal, name)), name
    assert back.identity == cal.identity and back.frontend == cal.frontend and back.date == cal.date


def test_codes_are_the_nearest_in_calibrated_resistance():
    cal = _cal(1)
    rng = np.random.default_rng(2)
    g = 1.0 / rng.uniform(5e3, 130e3, AFE.n_pots)
    codes = cal.codes_for_conductance(g)
    all_codes = np.arange(257)
    for e in range(AFE.n_pots):
        r = cal.r_w[e] + cal.r_ab[e] * all_codes / 256
        best = np.abs(r - 1 / g[e]).min()
        assert abs(cal.resistance(e, codes[e]) - 1 / g[e]) <= best + 1e-9
    assert np.allclose(cal.realized(codes), 1 / (cal.r_w + cal.r_ab * codes / 256))


def test_converter_maps_invert():
    cal = _cal(3)
    v = np.linspace(0.05, 2.4, 50)
    for k in (0, 3, 9, 11):
        code = cal.dac_code(k, v)
        assert np.all(np.abs(cal.dac_volts(k, code) - v) <= 0.5 * cal.dac_lsb * (1 + abs(cal.dac_gain[k])) + 1e-12)
    for j in range(8):
        reading = (1 + cal.adc_gain[j]) * v + cal.adc_offset[j]
        assert np.allclose(cal.adc_volts(j, reading), v)


def test_another_board_is_refused_naming_both():
    other = Caps.of(ControllerConfig(afe=AFE, board="hx8k"))
    with pytest.raises(CalibrationMismatch) as exc:
        check_calibration(_cal(caps=other), CAPS, AFE)
    msg = str(exc.value)
    assert "board=hx8k" in msg and "board=icebreaker" in msg and "diodenet calibrate" in msg


def test_another_frontend_is_refused_naming_both():
    other = replace(AFE, r_inject=47e3)
    with pytest.raises(CalibrationMismatch) as exc:
        check_calibration(_cal(afe=other), CAPS, AFE)
    msg = str(exc.value)
    assert "r_inject=47000.0" in msg and "r_inject=100000.0" in msg


def test_stale_calibration_warns_and_fresh_does_not():
    old = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=45)).isoformat()
    with pytest.warns(StaleCalibration, match="45 days old"):
        check_calibration(_cal(date=old), CAPS, AFE)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_calibration(_cal(), CAPS, AFE)
    with pytest.raises(ValueError, match="not an ISO 8601 date"):
        check_calibration(_cal(date="yesterday"), CAPS, AFE)


def test_bad_files_are_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="diodenet calibrate"):
        load_calibration(tmp_path / "missing.json")
    p = tmp_path / "bad.json"
    p.write_text("{not json")
    with pytest.raises(ValueError, match="not JSON"):
        load_calibration(p)
    p.write_text(json.dumps({"schema": "something-else"}))
    with pytest.raises(ValueError, match="not a diodenet calibration"):
        load_calibration(p)
    d = _cal().to_dict()
    del d["rheostats"]
    p.write_text(json.dumps(d))
    with pytest.raises(ValueError, match="missing 'rheostats'"):
        load_calibration(p)


def test_plan_refuses_what_cannot_separate_r_w_and_r_ab():
    with pytest.raises(ValueError, match="two different rheostat codes"):
        Plan(codes=(64, 64))
    with pytest.raises(ValueError, match="bias groups"):
        Plan(samples=4, bias_groups=1)
    cfg = Plan(codes=(25, 90, 256)).configurations(AFE.n_pots)
    # every rheostat takes every code exactly once
    assert all(sorted(cfg[:, e]) == [25, 90, 256] for e in range(AFE.n_pots))


def test_command_bad_input_is_a_one_line_error(tmp_path, capsys):
    from diodenet.host.cli import main
    cases = [(["--codes", "a,b"], "integers separated by commas"),
             (["--codes", "25,25"], "two different rheostat codes"),
             (["--codes", "25,300"], "codes 0..256"),
             (["-o", str(tmp_path)], "is a folder"),
             ([], "cannot open the board at socket://127.0.0.1:1")]
    for extra, msg in cases:
        assert main(["calibrate", "--port", "socket://127.0.0.1:1", "--quiet"] + extra) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("diodenet calibrate: error:") and msg in err and "\n" not in err, err


# --- measurement and fits on the co-simulated board's analog side (ngspice) -----------------------------

class BridgePort:
    """The co-simulated board's analog side (`sim.bridge.AnalogBridge`: ngspice and the seeded
    part deviations) driven the way the controller drives it -- write_codes and measure_codes of
    `host.driver.board_driver.BoardDriver` -- with the AD7928's quantization (round to the LSB), without the
    gateware: the fits are tested in seconds; the gateware path below."""

    def __init__(self, afe, tolerance, seed):
        from diodenet.sim.bridge import AnalogBridge
        self.afe, self.caps = afe, Caps.of(ControllerConfig(afe=afe))
        self.bridge = AnalogBridge(afe, pot_tolerance=tolerance, seed=seed)
        self.rest = 2 ** (afe.dac.bits - 1)

    def write_codes(self, codes):
        for e, c in enumerate(codes):
            self.bridge.set_pot(*self.afe.pot_location(e), int(c))

    def _dac(self, dac, ch, code):
        self.bridge.set_dac(dac, ch, int(code) * self.afe.dac_lsb)

    def _read(self):
        lsb = self.afe.adc_lsb
        return np.array([min(max(round(self.bridge.voltage(j) / lsb), 0), 4095) * lsb
                         for j in range(self.afe.n_adc)])

    def measure_codes(self, x_codes, bias_codes, pert_codes):
        a = self.afe
        for ch, c in zip(a.bias_dac_channels, bias_codes):
            self._dac(1, ch, c)
        fwd, per = [], []
        for xc, pc in zip(x_codes, pert_codes):
            for s, c in enumerate(xc):
                self._dac(0, s, c)
            for ch in a.pert_dac_channels:
                self._dac(1, ch, self.rest)
            fwd.append(self._read())
            for ch, c in zip(a.pert_dac_channels, pc):
                self._dac(1, ch, c)
            per.append(self._read())
        return np.array(fwd), np.array(per)

    def node_voltages(self, cal, network, x):
        """What the board driver does with a calibration (codes, line voltages, readings):
        (measured v, applied u, realized network)."""
        a, m = self.afe, self.afe.n_pots
        k = np.array([d * 8 + c for d, c in map(a.line_dac, a.input_lines)])
        codes = cal.codes_for_conductance(network.conductance[:m])
        self.write_codes(codes)
        g = network.conductance.copy()
        g[:m] = cal.realized(codes)
        u = network.source_voltages(x)
        dc = np.clip(cal.dac_code(k, u + a.v_mid), 0, 4095).astype(int)
        fwd, _ = self.measure_codes(dc[:, :a.n_dac_inputs], dc[0, a.n_dac_inputs:],
                                    np.full((len(x), 2), self.rest))
        return (cal.adc_volts(np.arange(a.n_adc), fwd) - a.v_mid,
                cal.dac_volts(k, dc) - a.v_mid, network.with_realized(g))


@pytest.fixture(scope="module")
def bridge_calibration():
    pytest.importorskip("PySpice")
    port = BridgePort(AFE, 0.2, 5)
    data = measure(port, AFE, Plan())
    return port, calibration_from(AFE, port.caps, data)


@pytest.mark.spice
def test_rheostats_recovered_within_one_percent(bridge_calibration):
    from diodenet.sim.calibration_check import resistance_errors
    port, cal = bridge_calibration
    err = resistance_errors(cal, AFE, port.bridge.deviations)
    assert np.abs(err).max() <= 0.01, np.abs(err).max()
    # the board really is off nominal: the nominal map would miss by several percent
    nominal = AFE.pot.r_w + AFE.pot_r_ab * np.arange(25, 257) / 256
    from diodenet.sim.calibration_check import true_resistances
    assert np.abs(nominal / true_resistances(AFE, port.bridge.deviations, np.arange(25, 257)) - 1).max() > 0.05
    assert cal.fit["residual_rms_lsb"] < 0.4 and cal.fit["residual_max_lsb"] < 1.0


@pytest.mark.spice
def test_calibrated_node_voltages_match_the_reference_within_two_lsb(bridge_calibration):
    from diodenet.boards.frontend import frontend_network
    port, cal = bridge_calibration
    net = frontend_network(AFE, rng=7)
    x = np.random.default_rng(7).uniform(-1, 1, (24, AFE.n_inputs))
    v, u, realized = port.node_voltages(cal, net, x)
    ref = cal.reference_network(realized).solve(u=u).x
    err = np.abs(v - ref) / AFE.adc_lsb
    assert err.max() <= 2.0, err.max()
    assert 0.1 < np.mean(v[:, :AFE.n_hidden] < 0) < 0.9          # diodes conducting and blocking
    # the diodes' fitted curves follow the board's: every diode's forward points within 1 mV
    assert max(cal.fit["diode_residual_rms_v"]) < 1e-3


# --- the whole stack: the controller gateware in Icarus ---------------------------------------------------

@pytest.fixture(scope="module")
def board():
    if not HAS_ICARUS:
        pytest.skip("Icarus Verilog is not installed")
    from diodenet.sim import CosimBoard, SimConfig
    b = CosimBoard(SimConfig(pot_tolerance=0.2, seed=5, clk_hz=3e6), timeout=900)
    b.start()
    yield b
    b.close()


def test_gateware_path_reads_what_the_analog_side_gives(board):
    """The calibration's measurements through the controller (POT_WRITE, DAC_WRITE, LOAD_SAMPLES,
    RUN_BATCH) equal those of the same plan on the board's analog side driven directly."""
    from diodenet.host.driver.board_driver import BoardDriver
    from diodenet.boards.frontend import frontend_network
    plan = Plan(codes=(25, 256), samples=2, bias_groups=2, diode_configs=1, diode_samples=4)
    with BoardDriver(frontend_network(AFE), board.url) as be:
        through = measure(be, AFE, plan)
    direct = measure(BridgePort(AFE, 0.2, 5), AFE, plan)
    assert np.array_equal(np.array(through.line_codes), np.array(direct.line_codes))
    diff = np.abs(np.array(through.readings) - np.array(direct.readings)) / AFE.adc_lsb
    assert len(diff) == 2 * plan.n_samples and diff.max() <= 1.0 and diff.mean() < 0.1, diff.max()


def test_driver_uses_the_calibration_and_refuses_another_boards(board, bridge_calibration, tmp_path):
    from diodenet.host.driver.board_driver import BoardDriver
    from diodenet.boards.frontend import frontend_network
    _, cal = bridge_calibration
    path = tmp_path / "cal.json"
    cal.save(path)
    net = frontend_network(AFE, rng=3)
    m = AFE.n_pots
    with BoardDriver(net, board.url, calibration=path) as be:
        g = be.program(net.conductance)
        assert np.array_equal(be.codes, cal.codes_for_conductance(net.conductance[:m]))
        assert np.allclose(g[:m], cal.realized(be.codes))     # calibrated values reported as realized
        assert np.allclose(be.network.conductance[:m], g[:m])

    d = json.loads(path.read_text())
    d["identity"]["board"] = "hx8k"
    other = tmp_path / "other_board.json"
    other.write_text(json.dumps(d))
    with pytest.raises(CalibrationMismatch) as exc:
        BoardDriver(net, board.url, calibration=other)
    assert "board=hx8k" in str(exc.value) and "board=icebreaker" in str(exc.value)

    d = json.loads(path.read_text())
    d["frontend"]["r_leak"] = 2e6
    other.write_text(json.dumps(d))
    with pytest.raises(CalibrationMismatch) as exc:
        BoardDriver(net, board.url, calibration=other)
    assert "r_leak=2000000.0" in str(exc.value) and "r_leak=1000000.0" in str(exc.value)


@pytest.mark.slow
def test_calibrate_command_through_the_cosimulated_board(board, tmp_path, capsys):
    """A short plan (6 configurations x 4 samples) through the gateware with the command: the
    file names the board, and recovers the rheostats within a few percent."""
    from diodenet.host.cli import main
    from diodenet.sim.bridge import part_deviations
    from diodenet.sim.calibration_check import resistance_errors
    out = tmp_path / "cal.json"
    rc = main(["calibrate", "--port", board.url, "-o", str(out), "--codes", "25,40,64,100,160,256",
               "--samples", "4", "--diode-samples", "4", "--quiet", "--json"])
    assert rc == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["rheostats"] == AFE.n_pots and summary["residual_max_lsb"] < 1.5
    cal = load_calibration(out)
    assert cal.identity["board"] == "icebreaker" and cal.identity["n_adc"] == AFE.n_adc
    err = resistance_errors(cal, AFE, part_deviations(AFE, 0.2, 5))
    assert np.abs(err).max() < 0.04, np.abs(err).max()       # a short plan: a few percent


@pytest.mark.slow
def test_full_calibration_through_the_cosimulated_board(board, tmp_path):
    """The must-show: the default plan through the gateware recovers every rheostat within 1 %,
    and node voltages then match the reference solver on the calibrated values within 2 ADC LSB
    (they miss by far more with the nominal values)."""
    from diodenet.host.driver.board_driver import BoardDriver
    from diodenet.analog.calibration_fit import calibrate
    from diodenet.boards.frontend import frontend_network
    from diodenet.sim.bridge import part_deviations
    from diodenet.sim.calibration_check import resistance_errors, voltage_errors
    with BoardDriver(frontend_network(AFE), board.url) as be:
        cal = calibrate(be, AFE, Plan(), progress=False)
    err = resistance_errors(cal, AFE, part_deviations(AFE, 0.2, 5))
    assert np.abs(err).max() <= 0.01, np.abs(err).max()
    net = frontend_network(AFE, rng=7)
    x = np.random.default_rng(7).uniform(-1, 1, (16, AFE.n_inputs))
    calibrated, v = voltage_errors(BoardDriver, board.url, net, x, calibration=cal)
    nominal, _ = voltage_errors(BoardDriver, board.url, net, x)
    assert calibrated.max() <= 2.0, calibrated.max()
    assert nominal.max() > 5 * calibrated.max()
    assert 0.1 < np.mean(v[:, :AFE.n_hidden] < 0) < 0.9
