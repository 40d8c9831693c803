import os

import numpy as np
import pytest

from diodenet.host import fileio
from diodenet.host.elements import ShockleyDiode
from diodenet.host.modelio import load_model, save_model
from diodenet.host.mondeq import MonDEQ
from diodenet.host.network import ResistorDiodeNetwork


def test_network_round_trips_bit_exactly(tmp_path, rng):
    net = ResistorDiodeNetwork.layered(6, 4, 3, rng=rng, element=ShockleyDiode(2.5e-9, 1.75))
    net = net.with_conductance(np.clip(net.conductance * (1 + 1e-3 * rng.normal(size=net.n_edges)), net.g_min, net.g_max))
    save_model(tmp_path / "m.npz", net)
    back = load_model(tmp_path / "m.npz")
    a_meta, a = net.to_arrays()
    b_meta, b = back.to_arrays()
    assert a_meta == b_meta
    for k in a:
        assert a[k].dtype == b[k].dtype and np.array_equal(a[k], b[k])
        assert a[k].tobytes() == b[k].tobytes()


def test_mondeq_round_trip_and_foreign_file(tmp_path, rng):
    model = MonDEQ.random(5, 2, rng=rng)
    save_model(tmp_path / "q.npz", model)
    back = load_model(tmp_path / "q.npz")
    assert back.W.tobytes() == model.W.tobytes() and back.b.tobytes() == model.b.tobytes()
    np.savez(tmp_path / "torch_export.npz", W=model.W, U=model.U, b=model.b)
    assert np.array_equal(load_model(tmp_path / "torch_export.npz").U, model.U)


def test_failed_write_leaves_the_old_file_intact(tmp_path, rng, monkeypatch):
    path = tmp_path / "m.npz"
    first = MonDEQ.random(3, 1, rng=rng)
    save_model(path, first)
    before = path.read_bytes()

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(fileio.os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        save_model(path, MonDEQ.random(3, 1, rng=rng))
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["m.npz"]  # no temporary left behind


def test_unreadable_files(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_model(tmp_path / "missing.npz")
    (tmp_path / "junk.npz").write_text("not a zip")
    with pytest.raises(ValueError, match="not a diodenet model"):
        load_model(tmp_path / "junk.npz")
    np.savez(tmp_path / "other.npz", a=np.zeros(2))
    with pytest.raises(ValueError, match="neither diodenet metadata"):
        load_model(tmp_path / "other.npz")
