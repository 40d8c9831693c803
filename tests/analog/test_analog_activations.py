"""Every element's activation (host resolvent) against an ngspice DC sweep of the element."""

import json

import numpy as np
import pytest

pytestmark = pytest.mark.spice


def test_activations_match_ngspice_sweeps(tmp_path, capsys):
    from diodenet.analog.activations import check_all
    from diodenet.host.cli import main
    res = check_all()
    assert set(res) == {"ideal", "shockley", "series_resistance", "shifted", "clip"}
    for name, (x, ref, v, err) in res.items():
        assert err <= 1e-6, name  # the ideal card's clamp is ≈ 0.55 µV
        assert np.ptp(v) > 0.5  # a real activation, not a flat line
    x, ref, v, _ = res["clip"]
    assert v.min() == pytest.approx(-0.5, abs=1e-5) and v.max() == pytest.approx(0.8, abs=1e-5)
    x, ref, v, _ = res["shockley"]
    assert v.min() < -0.5  # a real junction clamps a forward voltage below ground
    out = tmp_path / "act.png"
    assert main(["activations", "--plot", str(out), "--json"]) == 0
    assert out.stat().st_size > 1000
    assert max(json.loads(capsys.readouterr().out.strip().splitlines()[-1]).values()) <= 1e-6
