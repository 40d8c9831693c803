"""The spice backend against the ideal backend, the host's models of ngspice's diodes, and faults."""

import numpy as np
import pytest

from diodenet.analog.devices import Potentiometer, adc_quantizer, dac_quantizer
from diodenet.boards.parts import PartRangeError
from diodenet.analog.spice_backend import SpiceBackend, part_scale
from diodenet.boards.parts import MCP4351, Rheostat
from diodenet.host.backends import open_backend
from diodenet.host.elements import ShockleyDiode
from diodenet.host.network import ResistorDiodeNetwork
from diodenet.host.seam import IdealBackend, MeasurementBackend

pytestmark = pytest.mark.spice


@pytest.fixture(scope="module")
def net():
    return ResistorDiodeNetwork.layered(4, 10, 3, rng=1, hidden_coupling=True, output_diodes=True)


@pytest.fixture(scope="module")
def samples(net):
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, size=(12, 4))
    inj = rng.normal(size=(12, net.n_neurons)) * 2e-6
    return net.source_voltages(x), inj


def test_ideal_card_matches_the_exact_solver(net, samples):
    u, inj = samples
    ref = IdealBackend(net).measure(u, inj)
    with open_backend("spice", net) as sb:
        assert isinstance(sb, MeasurementBackend)
        m = sb.measure(u, inj)
    assert m.ok.all()
    assert np.count_nonzero(ref.state == -1) > 10 and np.count_nonzero(ref.state == 0) > 10
    assert np.abs(m.v - ref.v).max() <= 1e-6  # the ideal-diode approximation's clamp (≈ −0.5 µV)
    assert np.array_equal(m.state, ref.state)
    assert np.abs(m.drops(net) - ref.drops(net)).max() <= 2e-6


@pytest.mark.parametrize("card", ["1n4148", "bat54"])
def test_real_cards_match_the_host_models_of_ngspice(net, samples, card):
    from diodenet.host.operating_point import solve_shockley
    from diodenet.host.netlist_reader import parse_netlist
    u, inj = samples
    with SpiceBackend(net, diode=card) as sb:
        m = sb.measure(u[:4], inj[:4])
        assert m.ok.all() and m.v.min() < -0.1
        for s in range(4):
            # the same circuit with this sample's sources, solved on the host two ways
            sb._u[:], sb._inject[:] = u[s], inj[s]
            text = sb.netlist()
            ref = solve_shockley(sb.circuit).node_voltages   # the circuit object, on the host
            v_ref = np.array([ref[f"n{j}"] for j in range(net.n_neurons)])
            assert np.abs(m.v[s] - v_ref).max() <= 1e-6 * np.abs(v_ref).max()
            op = solve_shockley(parse_netlist(text))  # the host's netlist solver, independently
            v_cs = np.array([op.node_voltages[f"n{j}"] for j in range(net.n_neurons)])
            assert np.abs(m.v[s] - v_cs).max() <= 1e-6 * np.abs(v_cs).max()


def test_shockley_element_network_matches_host_solve(samples):
    net = ResistorDiodeNetwork.layered(4, 6, 2, rng=3, element=ShockleyDiode(1e-9, 1.5), output_diodes=True)
    u, inj = samples
    inj = inj[:, :net.n_neurons]
    ref = net.solve(u=u, inject=inj).x  # host ShockleyDiode: pure Shockley + GMIN
    with SpiceBackend(net) as sb:
        m = sb.measure(u, inj)
    # ngspice differs from pure Shockley only in its reverse tail below −3·N·Vt (nodes > 0.12 V)
    assert np.abs(m.v - ref).max() <= 2e-6 * np.abs(ref).max()


def test_program_quantizes_through_the_rheostat_map_and_alters_only_changes(net, samples):
    u, _ = samples
    part = Potentiometer(MCP4351)
    s = part_scale(net, part)
    rh = Rheostat.of(MCP4351)
    with SpiceBackend(net, part=part, conductance_scale=s) as sb:
        g = net.conductance.copy()
        realized = sb.program(g)
        expect = np.array([rh.conductance(rh.code_for_conductance(gi * s)) for gi in g]) / s
        assert np.allclose(realized, expect, rtol=1e-15, atol=0)
        assert np.abs(realized / g - 1).max() > 1e-4  # quantization does something …
        assert np.array_equal(sb.codes, [rh.code_for_conductance(gi * s) for gi in g])
        m = sb.measure(u)
        ref = IdealBackend(net.with_conductance(np.clip(realized, net.g_min, net.g_max)))
        # … and ngspice sees exactly the realized values (ideal nodes are scale-free)
        r = IdealBackend(sb.network).measure(u)
        assert np.abs(m.v - r.v).max() <= 1e-6
        del ref
        sb.measure(u[:1])  # one sample: measured by `op` on the loaded circuit (a batch is a DC sweep)
        calls = []
        real_alter = sb.engine.alter
        sb.engine.alter = lambda name, value: (calls.append(name), real_alter(name, value))
        try:
            g2 = realized.copy()
            g2[[3, 7]] *= 1.3
            sb.program(g2)
            assert sorted(calls) == ["r3", "r7"]
            calls.clear()
            sb.measure(u[:1])
            sb.measure(u[:1])  # the same sample again: nothing to alter
            assert len([c for c in calls if c.startswith("vs")]) <= net.n_sources
            calls.clear()
            sb.measure(u[:1])
            assert calls == []
        finally:
            sb.engine.alter = real_alter
        with pytest.raises(PartRangeError, match="outside what a MCP4351"):
            sb.program(np.full(net.n_edges, net.g_max.max() * 1e3))  # clipped to g_max … fine
            sb.program(np.where(np.arange(net.n_edges) == 0, 0.0, g))  # 0 S: no tap realizes it
        with pytest.raises(PartRangeError, match="finite"):
            sb.program(np.where(np.arange(net.n_edges) == 0, -1.0, g))


def test_converters_quantize(net, samples):
    u, _ = samples
    dac = dac_quantizer(-2.5, 2.5)
    adc = adc_quantizer(-2.5, 2.5)
    with SpiceBackend(net, dac=dac, adc=adc) as sb:
        m = sb.measure(u)
    lsb_dac, lsb_adc = 5.0 / 4096, 5.0 / 4096
    assert np.abs(m.u - u).max() <= lsb_dac / 2 + 1e-15 and np.abs(m.u - u).max() > 0
    assert np.allclose((m.u + 2.5) / lsb_dac, np.rint((m.u + 2.5) / lsb_dac), atol=1e-9)
    ref = IdealBackend(net).measure(m.u)  # exact solve at the DAC's voltages
    assert np.abs(m.v - ref.v).max() <= lsb_adc / 2 + 1e-6
    with pytest.raises(PartRangeError, match="outside its range"):
        SpiceBackend(net, dac=dac_quantizer()).measure(u)  # 0 … 2.5 V cannot drive −1 V


def test_failed_samples_are_marked_never_stale(net, samples):
    from diodenet.analog.ngspice_engine import SpiceError
    u, _ = samples
    with SpiceBackend(net) as sb:
        sb.sweep_min = 10**9  # sample by sample: the path with per-sample retries
        good = sb.measure(u[:4])
        real_run_op = sb.engine.run_op
        plan = iter([True, False, False, False,   # sample 0 fine; sample 1 fails plain op and both retries
                     False, True,                 # sample 2 fails once, the first retry succeeds
                     True])                       # sample 3 fine
        options = []
        real_exec = sb.engine.exec_command
        sb.engine.exec_command = lambda cmd: (options.append(cmd), real_exec(cmd))[1]

        def flaky():
            if next(plan):
                return real_run_op()
            raise SpiceError("ngspice op analysis failed for circuit 'x': timestep too small (injected)")
        sb.engine.run_op = flaky
        try:
            m = sb.measure(u[:4])
        finally:
            sb.engine.run_op = real_run_op
            sb.engine.exec_command = real_exec
        assert m.ok.tolist() == [True, False, True, True]
        assert np.isnan(m.v[1]).all()
        assert np.abs(m.v[[0, 2, 3]] - good.v[[0, 2, 3]]).max() < 1e-12
        assert sb.failures == 1 and sb.retried == 2 and "injected" in sb.last_errors[0]
        assert any("gminsteps" in o for o in options) and [o for o in options if o.startswith("option")][-1].endswith("srcsteps=10")
        # the engine is fine afterwards
        assert np.abs(sb.measure(u[:4]).v - good.v).max() < 1e-12


def test_shared_engine_reload(net, samples):
    u, _ = samples
    with SpiceBackend(net) as a:
        va = a.measure(u[:3]).v
        from diodenet.analog.ngspice_engine import get_engine
        assert get_engine().operating_point("other\nV1 a 0 1\nR1 a 0 1k\n.end\n")["a"] == 1.0
        assert np.abs(a.measure(u[:3]).v - va).max() < 1e-12


def test_part_scale_refuses_a_spread_the_part_cannot_make(net):
    g = net.conductance.copy()
    g[0], g[1] = net.g_min[0], net.g_max[1]  # 1000:1 against the MCP4351's 134:1
    wide = net.with_conductance(g)
    with pytest.raises(PartRangeError, match="span"):
        part_scale(wide, Potentiometer(MCP4351))


def test_the_circuit_is_loaded_once_not_per_call():
    """program/measure alter the loaded circuit; they must not reload it (a reload rebuilds and
    re-parses the whole netlist: ~100× the cost of an alter)."""
    import numpy as np

    from diodenet.analog.spice_backend import SpiceBackend
    from diodenet.host.network import ResistorDiodeNetwork

    net = ResistorDiodeNetwork.layered(4, 3, 2, rng=0)
    backend = SpiceBackend(net)
    backend.sweep_min = 10**9  # sample by sample (a batch is one DC sweep of its own circuit)
    loads = []
    real_load = backend.engine.load
    backend.engine.load = lambda text: (loads.append(1), real_load(text))[1]
    try:
        backend.program(net.conductance * 1.1)
        backend.measure(net.source_voltages(np.full((3, 4), 0.5)))
        backend.measure(net.source_voltages(np.full((2, 4), 0.2)), inject=np.full((2, 5), 1e-6))
    finally:
        del backend.engine.load
        backend.close()
    assert loads == []


def test_a_batch_as_one_dc_sweep_equals_sample_by_sample_ops(net, samples):
    """The batch path (sources as B-source tables over a swept index) gives the same operating
    points as one `op` per sample, with the perturbation currents too; a failed sweep falls back
    to per-sample measurement."""
    u, _ = samples
    rng = np.random.default_rng(5)
    inject = rng.normal(scale=1e-6, size=(len(u), net.n_neurons))
    with SpiceBackend(net, diode="1n4148") as sb:
        batch = sb.measure(u, inject=inject)
        assert sb.sweeps == 2                 # the forward phase, then the perturbed one
        sb.sweep_min = 10**9
        single = sb.measure(u, inject=inject)
        assert sb.sweeps == 2                 # (the forward phase just measured is reused)
    assert batch.ok.all() and single.ok.all()
    assert np.abs(batch.v - single.v).max() <= 1e-9
    with SpiceBackend(net, diode="1n4148") as sb:
        sb.engine.run_sweep = lambda *a, **k: (_ for _ in ()).throw(__import__(
            "diodenet.analog.ngspice_engine", fromlist=["SpiceError"]).SpiceError("forced"))
        try:
            fallback = sb.measure(u, inject=inject)
        finally:
            del sb.engine.run_sweep
        assert sb.sweeps == 0 and fallback.ok.all()
        assert np.abs(fallback.v - single.v).max() <= 1e-12
