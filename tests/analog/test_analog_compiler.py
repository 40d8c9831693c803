"""monDEQ → RTGD circuit → ngspice, against independent computations (host solvers, ngspice)."""

import re
import shutil
import subprocess

import numpy as np
import pytest

from diodenet.analog.compiler import NotWellPosedError, compile_mondeq, kernel_of, network_circuit
from diodenet.analog.netlist_writer import netlist_text
from diodenet.host.circuit import Circuit, CircuitError
from diodenet.host.circuit_kernel import circuit_kernel
from diodenet.host.operating_point import solve_ideal, solve_shockley
from diodenet.host.mondeq import MonDEQ
from diodenet.host.network import ResistorDiodeNetwork

pytestmark = pytest.mark.spice


@pytest.fixture(scope="module")
def engine():
    from diodenet.analog.ngspice_engine import get_engine
    return get_engine()


def _rel(a, b):
    return float(np.max(np.abs(np.asarray(a) - np.asarray(b))) / max(np.max(np.abs(b)), 1e-300))


def _random_model(n, d, seed, m=0.1):
    rng = np.random.default_rng(seed)
    model = MonDEQ.random(n, d, m=m, rng=rng)
    x = 2.0 * rng.normal(size=d)
    return model, x


@pytest.mark.parametrize("n,d,seed,m", [(3, 2, 0, 0.5), (17, 5, 1, 0.1), (40, 7, 2, 0.02), (64, 10, 3, 0.1)])
def test_ideal_compiled_circuit_settles_at_the_fixed_point(engine, n, d, seed, m):
    model, x = _random_model(n, d, seed, m)
    assert np.abs(model.W - model.W.T).max() > 0.1 and model.W[~np.eye(n, dtype=bool)].min() < 0
    z = model.solve(x).x[0]  # active-set solve on the monDEQ, independent of the circuit
    assert model.fixed_point_residual(x, z)[0] < 1e-9
    assert np.count_nonzero(z > 0) not in (0, n)  # a mix of active and clamped neurons
    cc = compile_mondeq(model, x, diode="ideal")
    zs = cc.equilibrium(engine.operating_point(netlist_text(cc.circuit)))
    assert _rel(zs, z) <= 1e-4
    # and, tighter, what the ideal-diode approximation actually leaves (docs/analog.md): a clamp
    # of about −0.5 µV at conducting nodes
    assert np.max(np.abs(zs - z)) <= 1e-6 + 1e-6 * np.abs(z).max()


def test_diodenet_solve_reads_compiled_netlists(tmp_path, capsys, engine):
    """The compiled text read back (host.netlist_reader) and solved exactly is the monDEQ's
    fixed point; with the cards, the host's Shockley solve of that text is ngspice's."""
    import json
    from diodenet.host.cli import main
    model, x = _random_model(23, 4, 5)
    z = model.solve(x).x[0]
    for diode, flags in (("ideal", []), ("1n4148", ["--shockley"])):
        path = tmp_path / f"{diode}.cir"
        text = netlist_text(compile_mondeq(model, x, diode=diode).circuit)
        path.write_text(text)
        assert main(["solve", str(path), "--json", "--quiet"] + flags) == 0
        volts = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
        zs = np.array([volts[f"z{j}"] for j in range(23)])
        if diode == "ideal":
            assert _rel(zs, z) <= 1e-12
        else:
            ng = engine.operating_point(text)
            assert _rel(zs, [ng[f"z{j}"] for j in range(23)]) <= 1e-8
            assert _rel(zs, z) > 1e-3


def test_reverse_map_recovers_the_monDEQ():
    model, x = _random_model(12, 4, 7)
    cc = compile_mondeq(model, x)
    K, U, b = kernel_of(cc)
    assert np.abs(K - (np.eye(12) - model.W)).max() < 1e-11
    assert np.abs(U - model.U).max() < 1e-11
    assert np.abs(b - model.b).max() < 1e-11
    # the pieces: the leak is λ_min of sym(I − W), the transformer rows rebuild the rest
    Ks = np.eye(12) - (model.W + model.W.T) / 2
    assert cc.leak == pytest.approx(np.linalg.eigvalsh(Ks)[0], rel=1e-12)
    assert np.abs(cc.leak * np.eye(12) + cc.A.T @ cc.A - Ks).max() < 1e-12


@pytest.mark.parametrize("card,n,seed", [("1n4148", 10, 11), ("bat54", 10, 12), ("1n4148", 64, 13)])
def test_real_cards_match_the_host_model_of_ngspice_diodes(engine, card, n, seed):
    model, x = _random_model(n, 4, seed)
    cc = compile_mondeq(model, x, diode=card)
    ref = solve_shockley(cc.circuit).node_voltages   # every card as ngspice evaluates it at DC
    ng = engine.operating_point(netlist_text(cc.circuit))
    z_ref = np.array([ref[f"z{j}"] for j in range(n)])
    z_ng = cc.equilibrium(ng)
    assert z_ng.min() < -0.1  # real diodes clamp about one forward voltage below ground
    assert _rel(z_ng, z_ref) <= 1e-6
    # the real diodes move the equilibrium well away from the ideal one
    assert _rel(z_ng, model.solve(x).x[0]) > 1e-3


def test_transformer_and_gyrator_obey_their_laws(engine):
    c = Circuit("laws")
    c.V("a", "a", "0", 0.7)
    c.R("a", "a", "p", 1e3)
    c.transformer("T", [("p", "0"), ("s1", "0"), ("s2", "q")], [2.0, -1.0, 3.0])
    c.R("s1", "s1", "0", 500.0)
    c.R("s2", "s2", "0", 2e3)
    c.R("q", "q", "0", 1e3)
    c.V("b", "b", "0", -0.3)
    c.R("b", "b", "g2", 1e3)
    c.gyrator("Y", ("p", "0"), ("g2", "0"), 2e-4)
    v = engine.operating_point(netlist_text(c))
    ref = solve_ideal(c).node_voltages
    for k in ("p", "s1", "s2", "q", "g2"):
        assert v[k] == pytest.approx(ref[k], rel=1e-9, abs=1e-12)
    # voltages in proportion to turns
    assert v["s1"] == pytest.approx(-0.5 * v["p"], rel=1e-9)
    assert v["s2"] - v["q"] == pytest.approx(1.5 * v["p"], rel=1e-9)
    # ampere-turns: 2·i_p + (−1)·i_s1 + 3·i_s2 = 0 with winding currents entering at + ends
    i_s1 = -v["s1"] / 500.0
    i_s2 = -v["s2"] / 2e3
    i_gyr = 2e-4 * v["g2"]  # current the gyrator draws from p
    i_p = (v["a"] - v["p"]) / 1e3 - i_gyr
    assert 2 * i_p - i_s1 + 3 * i_s2 == pytest.approx(0.0, abs=1e-12)
    # gyrator port 2: i2 = −g·v1 drawn from g2, so KCL at g2: (b − g2)/1k = −g·v(p)
    assert (v["b"] - v["g2"]) / 1e3 == pytest.approx(-2e-4 * v["p"], rel=1e-9)


def test_network_circuit_kernel_is_the_network_kernel():
    net = ResistorDiodeNetwork.layered(3, 4, 2, rng=5)
    circ, _ = network_circuit(net)
    ker = circuit_kernel(circ, series=False)
    H, B, C, D = net.kernel()
    # neuron ports only exist where there is a diode; compare on the full set of neurons by
    # giving the outputs diodes too
    net = ResistorDiodeNetwork.layered(3, 4, 2, rng=5, output_diodes=True)
    circ, _ = network_circuit(net)
    ker = circuit_kernel(circ, series=False)
    H, B, C, D = net.kernel()
    p = net.n_sources
    assert np.abs(ker.H - H).max() < 1e-12 * np.abs(H).max()
    assert np.abs(ker.B[:, :p] - B).max() < 1e-12 * np.abs(B).max()
    assert np.abs(ker.C[:, :] - C).max() < 1e-12 * np.abs(C).max()
    assert np.abs(ker.D[:, :p] - D).max() < 1e-12 * np.abs(D).max()
    # the injection ports: a current into node j is −(column j of identity) in B
    assert np.abs(ker.B[:, p:] + np.eye(net.n_neurons)).max() < 1e-9


def test_resistor_topology_for_symmetric_nonnegative_W(engine):
    rng = np.random.default_rng(3)
    n, d = 6, 3
    Wc = np.abs(rng.normal(size=(n, n))) * 0.05
    W = (Wc + Wc.T) / 2
    np.fill_diagonal(W, 0.1)
    model = MonDEQ(W, rng.normal(size=(n, d)), rng.normal(size=n))
    x = rng.normal(size=d)
    cc = compile_mondeq(model, x, topology="resistor")
    assert not [e for e in cc.circuit.elements if type(e).__name__ in ("VCVS", "VCCS", "CCCS")]
    zs = cc.equilibrium(engine.operating_point(netlist_text(cc.circuit)))
    assert _rel(zs, model.solve(x).x[0]) <= 1e-4


def test_bad_models_are_clear_errors(engine):
    W = np.array([[1.5, 0.0], [0.0, 0.2]])  # I − W has eigenvalue −0.5: not well posed
    with pytest.raises(NotWellPosedError, match="not well posed"):
        compile_mondeq((W, np.ones((2, 1)), np.zeros(2)), [1.0])
    with pytest.raises(ValueError, match="input has 2 values"):
        compile_mondeq(MonDEQ.random(3, 1, rng=0), [1.0, 2.0])
    with pytest.raises(ValueError, match="NaN"):
        compile_mondeq(MonDEQ.random(3, 1, rng=0), [np.nan])
    floating = Circuit("floating")
    floating.V("a", "a", "0", 1.0)
    floating.R("1", "b", "c", 1e3)
    with pytest.raises(CircuitError, match="'b', 'c' have no resistive or source path"):
        circuit_kernel(floating)
    # ngspice reports its own failure with the circuit named, and stays usable
    from diodenet.analog.ngspice_engine import SpiceError
    loop = "vloop\nV1 a 0 1\nV2 a 0 2\nR1 a 0 1k\n.end\n"
    with pytest.raises(SpiceError, match="vloop"):
        engine.operating_point(loop)
    assert engine.operating_point("ok\nV1 a 0 1\nR1 a b 1k\nR2 b 0 1k\n.end\n")["b"] == pytest.approx(0.5)


@pytest.mark.skipif(shutil.which("ngspice") is None, reason="ngspice executable not installed")
def test_cli_compile_writes_a_netlist_ngspice_runs_on_its_own(tmp_path):
    from diodenet.host.cli import main
    model, x = _random_model(9, 3, 21)
    np.savez(tmp_path / "m.npz", W=model.W, U=model.U, b=model.b)
    np.save(tmp_path / "x.npy", x)
    out = tmp_path / "out.cir"
    assert main([ "compile", str(tmp_path / "m.npz"), "--input", str(tmp_path / "x.npy"), "-o", str(out)]) == 0
    res = subprocess.run(["ngspice", "-b", str(out)], capture_output=True, text=True, timeout=60)
    volts = dict(re.findall(r"^\s+(z\d+)\s+(\S+)\s*$", res.stdout, flags=re.M))
    z = np.array([float(volts[f"z{j}"]) for j in range(9)])
    # ngspice -b prints 7 digits
    assert _rel(z, model.solve(x).x[0]) <= 1e-5
    # bad inputs: clear errors, no file written
    bad = tmp_path / "bad.cir"
    np.save(tmp_path / "x2.npy", np.ones(4))
    assert main(["compile", str(tmp_path / "m.npz"), "--input", str(tmp_path / "x2.npy"), "-o", str(bad)]) == 2
    assert main(["compile", str(tmp_path / "nope.npz"), "--input", str(tmp_path / "x.npy"), "-o", str(bad)]) == 2
    np.savez(tmp_path / "ill.npz", W=np.eye(9) * 1.5, U=model.U, b=model.b)
    assert main(["compile", str(tmp_path / "ill.npz"), "--input", str(tmp_path / "x.npy"), "-o", str(bad)]) == 2
    assert not bad.exists()
