"""The `diodenet` command as separate processes: no child outlives it after SIGTERM, SIGINT or
SIGHUP, and two runs into one output folder cannot mix (the second is refused, naming the
first one's PID)."""

import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

ENV = dict(os.environ, OPENBLAS_NUM_THREADS="1")


def diodenet(*args, **kwargs):
    return subprocess.Popen([sys.executable, "-m", "diodenet.host", *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=ENV, **kwargs)


def _processes():
    """{pid: (ppid, start time, command name, state)} of every process."""
    out = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                raw = f.read()
        except OSError:
            continue
        name = raw[raw.index("(") + 1:raw.rindex(")")]
        fields = raw[raw.rindex(")") + 2:].split()
        out[int(d)] = (int(fields[1]), fields[19], name, fields[0])
    return out


def descendants(root):
    """{pid: (start time, name)} of every process below `root`."""
    procs = _processes()
    found, frontier = {}, [root]
    while frontier:
        parent = frontier.pop()
        for pid, (ppid, start, name, _) in procs.items():
            if ppid == parent and pid not in found:
                found[pid] = (start, name)
                frontier.append(pid)
    return found


def alive(pid, start):
    p = _processes().get(pid)
    return p is not None and p[1] == start and p[3] != "Z"


@pytest.mark.skipif(shutil.which("vvp") is None, reason="Icarus Verilog is not installed")
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP], ids=lambda s: s.name)
def test_no_child_outlives_a_signalled_cosim_check(sig):
    # progress on stderr (the stages of the check) except with --quiet
    proc = diodenet("cosim", "--check", "--timeout", "300", *(["--quiet"] if sig != signal.SIGTERM else []))
    children = {}
    try:
        end = time.monotonic() + 240
        while time.monotonic() < end and proc.poll() is None:
            children.update(descendants(proc.pid))
            if any(name == "vvp" for _, name in children.values()):
                break
            time.sleep(0.2)
        assert any(name == "vvp" for _, name in children.values()), proc.communicate()[1][-2000:]
        time.sleep(1.0)                         # the check is under way
        children.update(descendants(proc.pid))
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 128 + sig, err[-2000:]
    assert "Traceback" not in err, err[-2000:]
    assert ("cosim check" in err and "starting the simulator" in err) == (sig == signal.SIGTERM), err[-2000:]
    time.sleep(0.5)
    left = {pid: name for pid, (start, name) in children.items() if alive(pid, start)}
    for pid in left:                            # do not leave them for the rest of the suite
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    assert not left, f"still running after {sig.name}: {left}"


@pytest.fixture(scope="module")
def frontend_model(tmp_path_factory):
    out = tmp_path_factory.mktemp("fe")
    r = diodenet("train", "--dataset", "moons", "--frontend", "board", "--epochs", "1", "-o", out, "--quiet")
    _, err = r.communicate(timeout=600)
    assert r.returncode == 0, err
    return out / "model.npz"


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP], ids=lambda s: s.name)
def test_no_dask_worker_outlives_a_signalled_montecarlo(sig, frontend_model, tmp_path):
    """The Monte Carlo study's local Dask cluster (worker processes) stops with the command."""
    proc = diodenet("montecarlo", frontend_model, "--runs", "400", "--workers", "2", "--dataset", "moons",
                    "-o", tmp_path, "--quiet")
    children = {}
    try:
        end = time.monotonic() + 240
        while time.monotonic() < end and proc.poll() is None:
            children.update(descendants(proc.pid))
            if len(children) >= 3:                  # nannies and their workers are up
                break
            time.sleep(0.2)
        time.sleep(3.0)
        children.update(descendants(proc.pid))
        assert proc.poll() is None and children, proc.communicate()[1][-2000:]
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    # (Dask's own scheduler may log a traceback of a comm it was closing; the command's is one line)
    assert proc.returncode == 128 + sig and f"diodenet montecarlo: stopped by {sig.name}" in err, err[-2000:]
    end = time.monotonic() + 10                     # workers get a moment to see their nanny go
    while time.monotonic() < end and any(alive(p, st) for p, (st, _) in children.items()):
        time.sleep(0.2)
    left = {pid: name for pid, (start, name) in children.items() if alive(pid, start)}
    for pid in left:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    assert not left, f"still running after {sig.name}: {left}"


def _wait_for(path, proc, seconds=180):
    end = time.monotonic() + seconds
    while not path.exists() and proc.poll() is None and time.monotonic() < end:
        time.sleep(0.05)
    assert proc.poll() is None, proc.communicate()[1][-2000:]


def test_two_trainings_into_one_folder(tmp_path):
    import json
    out = tmp_path / "run"
    first = diodenet("train", "--dataset", "digits", "--epochs", "1000", "-o", out, "--quiet")
    try:
        _wait_for(out / "checkpoint.npz", first)
        second = diodenet("train", "--dataset", "digits", "--epochs", "4", "--lr", "0.05", "-o", out, "--quiet")
        _, err2 = second.communicate(timeout=300)
        assert first.poll() is None                 # the two did overlap
        ckpt = (out / "checkpoint.npz").stat().st_mtime_ns
        first.send_signal(signal.SIGTERM)
        _, err1 = first.communicate(timeout=120)
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    assert second.returncode == 2, err2
    assert f"in use by another training run (PID {first.pid})" in err2 and "Traceback" not in err2
    assert first.returncode == 128 + signal.SIGTERM, err1
    state = json.loads(str(__import__("numpy").load(out / "checkpoint.npz")["state"]))
    assert state["config"]["lr"] == 0.01 and (out / "checkpoint.npz").stat().st_mtime_ns >= ckpt
    assert not (out / ".diodenet.lock").exists()
    # a run killed by SIGKILL leaves no stale lock: the next run gets the folder
    third = diodenet("train", "--dataset", "digits", "--epochs", "1000", "-o", out, "--quiet")
    _wait_for(out / ".diodenet.lock", third)
    third.kill()
    third.wait()
    r = diodenet("train", "--dataset", "digits", "--epochs", "1", "-o", out, "--quiet", "--no-resume")
    _, err = r.communicate(timeout=600)
    assert r.returncode == 0, err
    assert len(json.loads((out / "metrics.json").read_text())["history"]) == 1
