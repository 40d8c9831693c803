"""The import layers (docs/layers.md, tools/import_layers.py): imports point one way, no cycles.

The graph is read from the source with `ast`; the rule table lives in tools/import_layers.py, which
also draws docs/layers.svg."""

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _load():
    spec = importlib.util.spec_from_file_location("import_layers", ROOT / "tools" / "import_layers.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("import_layers", mod)
    spec.loader.exec_module(mod)
    return mod


layers = _load()


@pytest.fixture(scope="module")
def edges():
    return layers.imports()


def _write(root, files):
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def test_the_reader_resolves_imports_and_tells_lazy_from_module_level(tmp_path):
    """A made-up tree with known imports: every form of import is found, with its line and kind."""
    _write(tmp_path, {
        "host/__init__.py": "",
        "host/a.py": "import json\nfrom .b import f\n\n\ndef g():\n    from ..boards import c\n",
        "host/b.py": "import numpy as np\nfrom diodenet.host import a\n",
        "host/commands/__init__.py": "",
        "host/commands/run.py": "from ...sim.x import y\n\n\ndef go():\n    from ...sim import x\n",
        "boards/__init__.py": "",
        "boards/c.py": "from ..host.a import g\n",
        "hdl/__init__.py": "", "analog/__init__.py": "",
        "sim/__init__.py": "", "sim/x.py": "import diodenet.hdl\n",
    })
    got = {(e.source, e.target, e.line, e.lazy) for e in layers.imports(tmp_path)}
    assert got == {("host.a", "host.b", 2, False), ("host.a", "boards.c", 6, True),
                   ("host.b", "host.a", 2, False), ("host.commands.run", "sim.x", 1, False),
                   ("host.commands.run", "sim.x", 5, True), ("boards.c", "host.a", 1, False),
                   ("sim.x", "hdl", 1, False)}


def test_the_checks_catch_what_the_rule_forbids(tmp_path):
    """The same made-up tree breaks the rule three ways and closes two cycles; each is named."""
    _write(tmp_path, {
        "host/__init__.py": "", "host/a.py": "from .b import f\n\n\ndef g():\n    from ..boards import c\n",
        "host/b.py": "def f():\n    from . import a\n",
        "host/commands/__init__.py": "", "host/commands/run.py": "from ...sim.x import y\n",
        "boards/__init__.py": "", "boards/c.py": "from ..host.commands.run import z\n",
        "hdl/__init__.py": "", "analog/__init__.py": "", "sim/__init__.py": "", "sim/x.py": "from ..boards import c\n",
    })
    e = layers.imports(tmp_path)
    bad = {(v.where(), rule) for v, rule in layers.violations(e)}
    assert bad == {("host/a.py:5", layers.RULES["host core"]),
                   ("host/commands/run.py:1", layers.RULES["host app"]),
                   ("boards/c.py:1", layers.RULES["boards"])}
    found = {(kind, tuple(mods)) for kind, mods, _ in layers.cycles(e)}
    assert found == {("module-level", ("boards.c", "host.commands.run", "sim.x")),
                     ("host core, lazy imports included", ("host.a", "host.b"))}


def test_every_import_follows_the_layer_rule(edges):
    bad = [f"{e.where()}: {e.source} imports {e.target} ({'inside a function' if e.lazy else 'module-level'})"
           f" -- {rule}" for e, rule in layers.violations(edges)]
    assert not bad, "imports against the layer rule (docs/layers.md):\n" + "\n".join(bad)


def test_no_import_cycles(edges):
    found = [f"({kind}) {', '.join(mods)}: " + "; ".join(f"{e.where()} {e.source} -> {e.target}" for e in es)
             for kind, mods, es in layers.cycles(edges)]
    assert not found, "import cycles:\n" + "\n".join(found)


def test_the_graph_covers_every_package(edges):
    """Every package folder's modules are read, and the well-known downward imports are seen."""
    mods = layers.modules()
    assert {m.split(".")[0] for m in mods} == set(layers.PACKAGES)
    assert len(mods) == sum(1 for p in layers.PACKAGES for _ in (ROOT / p).rglob("*.py"))
    pairs = {(layers.layer_of(e.source), layers.layer_of(e.target)) for e in edges}
    assert {("boards", "host core"), ("analog", "host core"), ("sim", "hdl")} <= pairs


def test_the_picture_and_its_table_are_current(edges, tmp_path):
    """docs/layers.md's table is the one the code gives today (else: python tools/import_layers.py),
    and the picture is committed and can be drawn."""
    assert layers.PICTURE.exists(), "docs/layers.svg is missing: run python tools/import_layers.py"
    assert layers.note_table() == layers.summary(edges), (
        "docs/layers.md (and docs/layers.svg) are out of date with the code: run python tools/import_layers.py")
    out = layers.draw(tmp_path / "layers.svg", edges)
    assert out.stat().st_size > 10_000 and b"host core" in out.read_bytes()
