"""Monte Carlo yield (analog/built_board.py, analog/montecarlo.py, diodenet montecarlo): a built
board in ngspice against the reference solver on the same deviated parts computed here, the
co-simulated board's deviations, results independent of the number of Dask workers, a worker
killed mid-run, an unreachable scheduler, the sensitivity ranking and the command."""

import json
import os
import signal
import socket
import time

import numpy as np
import pytest

from diodenet.boards.afe import SMALL_AFE
from diodenet.boards.tolerances import Tolerances, dac_channel_index, nominal_deviations
from diodenet.host import diode_model as dm

pytestmark = pytest.mark.spice


@pytest.fixture(scope="module")
def moons_model():
    """A small board front-end model trained on two moons (ideal backend, a few seconds)."""
    from diodenet.host.commands.train import frontend_setup
    from diodenet.host.datasets import load_dataset
    from diodenet.host.train import TrainConfig, train
    from diodenet.analog.spice_backend import SpiceBackend
    data = load_dataset("moons", seed=0)
    net, _ = frontend_setup(data, 6, 0, "board")
    net = train(net, data, TrainConfig(epochs=5, lr=0.1, batch_size=16, lr_schedule="cosine"),
                progress=False).network
    with SpiceBackend(net) as spice:           # the realized (code-quantized) conductances
        net = spice.network
    return net, data


def _reference_readings(net, x, dev):
    """What a built board reads, computed here from the deviations alone: rheostats from their
    codes, fixed resistors, DAC gain/offset and V_MID shift on the lines, the perturbation DACs at
    rest through their injection resistors, each diode's shifted I_S, the reference solver, then
    ADC gain/offset (before quantization)."""
    from diodenet.analog.devices import NgspiceJunction, diode_card
    afe = SMALL_AFE
    m, rh = afe.n_pots, afe.rheostat
    g = net.conductance.copy()
    codes = np.array([rh.code_for_conductance(v) for v in g[:m]])
    chip = np.arange(m) // 4
    g[:m] = 1.0 / (dev["r_w"] + codes / 256 * rh.r_ab * dev["r_ab"][chip])
    r_fixed = np.array([r for _, _, r in afe.fixed_resistors()]) * dev["r_fixed"]
    g[m:] = 1.0 / r_fixed
    vm, vm_real = afe.v_mid, afe.v_mid + dev["v_mid"]
    lsb = afe.dac_lsb
    u = net.source_voltages(x)
    u_q = np.clip(np.rint((u + vm) / lsb), 0, 4095) * lsb          # DAC codes -> ideal volts
    ch = [dac_channel_index(afe, ln) for ln in afe.input_lines]
    u_real = u_q * dev["dac_gain"][ch] + dev["dac_offset"][ch] - vm_real
    inject = np.zeros((len(x), afe.n_neurons))
    for k, line in enumerate(afe.pert_lines()):
        c = dac_channel_index(afe, line)
        inject[:, afe.n_hidden + k] = (vm * dev["dac_gain"][c] + dev["dac_offset"][c] - vm_real) \
            / r_fixed[afe.n_neurons + k]
    card = diode_card(afe.diode)
    i_s = np.full(afe.n_neurons, card.saturation_current())
    i_s[:afe.n_hidden] *= np.exp(-dev["diode_vf"] / (card.N * dm.thermal_voltage(dm.DEFAULT_TEMP)))
    import copy
    ref = copy.copy(net)
    ref.conductance, ref.g_min, ref.g_max = g, np.minimum(net.g_min, g), np.maximum(net.g_max, g)
    # the card's series resistance RS by fixed point: a junction carrying I behind RS is a junction
    # of saturation current I_S·exp(-RS·I/(N·V_t)) at the node voltage
    nvt = card.N * dm.thermal_voltage(dm.DEFAULT_TEMP)
    v = np.empty((len(x), afe.n_neurons))
    for s in range(len(x)):
        i_eff = i_s.copy()
        for _ in range(6):
            ref.element = NgspiceJunction(i_eff, card.N)
            v[s] = ref.solve(u=u_real[s:s + 1], inject=inject[s:s + 1]).x[0]
            current = np.maximum(-ref.element.current(v[s]), 0.0)      # forward diode current
            i_eff = i_s * np.exp(-card.RS * current / nvt)
    n = afe.n_neurons
    return dev["adc_gain"][:n] * (vm_real + v) + dev["adc_offset"][:n] - vm


def test_a_built_board_in_ngspice_reads_what_its_parts_give(moons_model):
    from diodenet.analog.montecarlo import measure_board
    net, data = moons_model
    x = data.x_test[:40]
    dev = Tolerances().sample(SMALL_AFE, [1, 2])
    got, ok = measure_board(net, x, dev, adc=False)
    assert ok.all()
    want = _reference_readings(net, x, dev)
    lsb = SMALL_AFE.adc_lsb
    assert np.abs(got - want).max() < 0.1 * lsb
    # the board solved by the reference solver through its own maps and diode element (the fast
    # scorer of benchmarks/tolerance_study.py) reads what ngspice reads
    from diodenet.analog.built_board import BuiltBoard
    board = BuiltBoard(net, dev)
    built = board.network_of(net.conductance)
    built.element = board.reference_element(SMALL_AFE.diode)
    u = board.sources(net.source_voltages(x))
    fast = board.readings(built.solve(u=u, inject=board.injection(None, len(x))).x, quantize=False)
    assert np.abs(fast - got).max() < 0.1 * lsb
    # each diode's own forward-voltage shift, alone: the same change in ngspice as here
    only = Tolerances().only("diode_vf").sample(SMALL_AFE, [1, 2])
    nominal = nominal_deviations(SMALL_AFE)
    shift = measure_board(net, x, only, adc=False)[0] - measure_board(net, x, nominal, adc=False)[0]
    want_shift = _reference_readings(net, x, only) - _reference_readings(net, x, nominal)
    assert np.abs(shift).max() > 5 * lsb and np.abs(shift - want_shift).max() < 0.1 * lsb
    quantized, _ = measure_board(net, x, dev)
    assert np.abs(quantized - got).max() <= 0.5 * lsb * (1 + 1e-9)
    nominal, _ = measure_board(net, x, nominal_deviations(SMALL_AFE), adc=False)
    assert np.abs(got - nominal).max() > 2 * lsb                      # the parts do matter


def test_the_nominal_board_is_the_spice_backend_with_its_frontend_parts(moons_model):
    from diodenet.analog.montecarlo import evaluate_board, measure_board
    from diodenet.analog.spice_backend import SpiceBackend
    from diodenet.host.train import evaluate
    net, data = moons_model
    with SpiceBackend(net) as spice:
        meas = spice.measure(net.source_voltages(data.x_test))
        ref = evaluate(net, data.x_test, data.y_test, "cross_entropy", spice)
    v, ok = measure_board(net, data.x_test, nominal_deviations(SMALL_AFE))
    assert ok.all() and np.array_equal(v, meas.v)
    got = evaluate_board(net, data.x_test, data.y_test, nominal_deviations(SMALL_AFE))
    assert got["accuracy"] == ref["accuracy"] and got["failed"] == 0


def test_the_cosimulated_board_reads_its_drawn_parts():
    """sim.bridge applies every entry of the drawn deviations (the truth calibration recovers)."""
    from diodenet.sim.bridge import AnalogBridge
    bridge = AnalogBridge(SMALL_AFE, pot_tolerance=0.2, seed=3)
    dev = bridge.deviations
    rng = np.random.default_rng(0)
    lowest = SMALL_AFE.rheostat.code_for_conductance(SMALL_AFE.g_max)
    codes = rng.integers(lowest, 257, SMALL_AFE.n_pots)
    for e, code in enumerate(codes):
        bridge.set_pot(*SMALL_AFE.pot_location(e), int(code))
    net = bridge.network
    g = np.array([1.0 / SMALL_AFE.rheostat.resistance(int(c)) for c in codes])
    model = net.with_conductance(np.concatenate([g, net.conductance[SMALL_AFE.n_pots:]]))
    x = np.array([[0.6, -0.3]])
    u = model.source_voltages(x)[0]
    lsb = SMALL_AFE.dac_lsb
    for line, value in zip(SMALL_AFE.input_lines, u):
        code = np.clip(np.rint((value + SMALL_AFE.v_mid) / lsb), 0, 4095)
        bridge.set_dac(*SMALL_AFE.line_dac(line), code * lsb)
    for ch in SMALL_AFE.pert_dac_channels:
        bridge.set_dac(1, ch, SMALL_AFE.v_mid)
    got = np.array([bridge.voltage(c) for c in range(SMALL_AFE.n_neurons)]) - SMALL_AFE.v_mid
    want = _reference_readings(model, x, dev)[0]
    assert np.abs(got - want).max() < 0.25 * SMALL_AFE.adc_lsb


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_scheduler_that_does_not_answer_is_a_clear_error_within_seconds():
    from diodenet.analog.montecarlo import SchedulerUnreachable, connect
    address = f"tcp://127.0.0.1:{_free_port()}"
    t0 = time.perf_counter()
    with pytest.raises(SchedulerUnreachable, match=f"no Dask scheduler answers at {address}.*--scheduler"):
        connect(address, timeout=2.0)
    assert time.perf_counter() - t0 < 10


def _inline(tasks, net, data, tol):
    from diodenet.analog.montecarlo import run_task
    return [run_task(t, net, data.x_test, data.y_test, tol.to_dict()) for t in tasks]


def _strip(results):
    return [{k: v for k, v in r.items() if k != "seconds"} for r in results]


def test_results_do_not_depend_on_the_number_of_workers_and_a_killed_worker_is_retried(moons_model):
    from diodenet.analog.montecarlo import connect, run_tasks, tasks_for
    net, data = moons_model
    tol = Tolerances()
    tasks = tasks_for(10, 4, tol, sensitivity_runs=1)
    want = _strip(_inline(tasks, net, data, tol))
    assert len({r["accuracy"] for r in want}) > 1                    # the boards differ
    for workers in (1, 2):
        client, cluster = connect(None, workers)
        try:
            killed = []

            def kill_one(k, result):
                if workers == 2 and not killed:           # a worker dies mid-run (SIGKILL)
                    pids = client.run(os.getpid)
                    pid = sorted(pids.values())[0]
                    os.kill(pid, signal.SIGKILL)
                    killed.append(pid)

            got = run_tasks(client, tasks, net, data.x_test, data.y_test, tol, progress=False,
                            on_result=kill_one)
            if workers == 2:
                assert killed
                assert killed[0] not in client.run(os.getpid).values()  # it really went away
        finally:
            client.close()
            cluster.close()
        assert _strip(got) == want


def test_the_sensitivity_ranking_finds_the_part_that_costs_accuracy(moons_model):
    from diodenet.analog.montecarlo import run_task, summarize, tasks_for
    net, data = moons_model
    # converter offsets of 0.3 V swamp the outputs' differences; the rest stays at its default
    tol = Tolerances.from_dict({"adc_offset": 0.3})
    tasks = [t for t in tasks_for(6, 0, tol, sensitivity_runs=6) if t.group in ("nominal", "all", "adc_offset",
                                                                                  "r_fixed", "v_mid")]
    results = [run_task(t, net, data.x_test, data.y_test, tol.to_dict()) for t in tasks]
    s = summarize(results)
    assert s["sensitivity"][0]["part"] == "adc_offset"
    assert s["sensitivity"][0]["accuracy_cost"] > 0.1
    acc = np.array([r["accuracy"] for r in results if r["group"] == "all"])
    assert s["p5"] == pytest.approx(np.percentile(acc, 5)) and s["mean"] == pytest.approx(acc.mean())
    assert s["yield"] == pytest.approx(np.mean(acc >= s["nominal_accuracy"] - 0.02))


def test_the_command_writes_the_distribution_and_refuses_bad_input(moons_model, tmp_path, capsys):
    from diodenet.host.cli import main
    from diodenet.host.modelio import save_model
    net, _ = moons_model
    model = tmp_path / "model.npz"
    save_model(model, net)
    out = tmp_path / "mc"
    from distributed import LocalCluster
    with LocalCluster(n_workers=1, threads_per_worker=1, dashboard_address=":0") as cluster:
        rc = main(["montecarlo", str(model), "--runs", "4", "--scheduler", cluster.scheduler_address,
                   "--sensitivity-runs", "1", "--dataset", "moons", "-o", str(out), "--quiet", "--json"])
    assert rc == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    doc = json.loads((out / "montecarlo.json").read_text())
    acc = [r["accuracy"] for r in doc["runs"] if r["group"] == "all"]
    assert summary["runs"] == len(acc) == 4 and summary["p5"] == pytest.approx(np.percentile(acc, 5))
    assert (out / "histogram.png").stat().st_size > 10_000
    assert {row["part"] for row in doc["table"]} == set(Tolerances().to_dict())
    bad = tmp_path / "bad.json"
    bad.write_text('{"pot_rab": 0.1}')
    assert main(["montecarlo", str(model), "--runs", "2", "--tolerances", str(bad), "--dataset", "moons",
                 "-o", str(out)]) == 2
    assert "unknown part tolerance 'pot_rab'" in capsys.readouterr().err
    t0 = time.perf_counter()
    assert main(["montecarlo", str(model), "--runs", "2", "--scheduler", f"tcp://127.0.0.1:{_free_port()}",
                 "--connect-timeout", "2", "--dataset", "moons", "-o", str(out)]) == 2
    assert "no Dask scheduler answers" in capsys.readouterr().err and time.perf_counter() - t0 < 15
