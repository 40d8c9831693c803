"""host/allocator.py: with freed memory kept mapped, reusing large temporaries stops faulting.

Each case runs in a fresh interpreter (the setting is process-wide and cannot be undone)."""

import subprocess
import sys

import pytest

PROBE = r"""
import resource, sys
import numpy as np
from diodenet.host.allocator import keep_freed_memory
took = keep_freed_memory() if sys.argv[1] == "kept" else None

def rounds(n):
    # twenty 4 MB temporaries at once, then all freed: a heap top of 80 MB, as a training step
    # leaves behind; glibc's adaptive trim threshold (at most 64 MB) hands it back each time
    for _ in range(n):
        held = [np.ones(1 << 19) for _ in range(20)]
        del held

rounds(1)
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
rounds(5)
print(took, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def _faults(mode):
    out = subprocess.run([sys.executable, "-c", PROBE, mode], capture_output=True, text=True, check=True)
    took, faults = out.stdout.split()
    return took, int(faults)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_kept_memory_stops_the_page_faults_of_reused_temporaries():
    took, kept = _faults("kept")
    if took != "True":
        pytest.skip("not glibc: keep_freed_memory() does nothing here")
    _, default = _faults("default")
    pages = 5 * 20 * (4 << 20) // 4096  # every page of every temporary of the five rounds
    assert default > pages // 4  # glibc's own behaviour: the freed pages fault in again (51 k of 102 k here)
    assert kept < default // 20


def test_the_command_keeps_freed_memory(monkeypatch, tmp_path, capsys):
    """`diodenet` opts in at start-up (it owns its process); the library alone does not."""
    from diodenet.host import cli

    calls = []
    monkeypatch.setattr(cli, "keep_freed_memory", lambda: calls.append(1))
    path = tmp_path / "divider.cir"
    path.write_text("divider\nV1 a 0 DC 2\nR1 a b 1k\nR2 b 0 1k\n.end\n")
    assert cli.main(["solve", str(path), "--json"]) == 0
    assert calls == [1]
    assert '"b": 1.0' in capsys.readouterr().out


RELEASE_PROBE = r"""
import numpy as np
from diodenet.host.allocator import keep_freed_memory, release_freed_memory

def rss_mb():
    with open("/proc/self/status") as fh:
        return int(next(line.split()[1] for line in fh if line.startswith("VmRSS:"))) / 1024

keep_freed_memory()
held = [np.ones(1 << 19) for _ in range(20)]  # 80 MB of 4 MB blocks from the heap
del held
kept = rss_mb()
released = release_freed_memory()
print(released, kept - rss_mb())
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc_trim")
def test_releasing_hands_the_kept_heap_back():
    out = subprocess.run([sys.executable, "-c", RELEASE_PROBE], capture_output=True, text=True, check=True)
    released, freed_mb = out.stdout.split()
    if released != "True":
        pytest.skip("not glibc: release_freed_memory() does nothing here")
    assert float(freed_mb) > 60  # most of the 80 MB kept after the free goes back to the system
