"""A parser for plain ngspice netlists of resistors, diodes and independent DC sources.

Conventions follow ngspice: the first line is the title; `*` starts a comment line; `;` and `$ `
start inline comments; a line starting with `+` continues the previous one; names are
case-insensitive (node names are reported as first written); numbers take SPICE scale suffixes
(f p n u m k meg g t mil, case-insensitive, so `M` is milli) and trailing letters are ignored
(`1.5kOhm`, `10uA`).  Ground is node `0` (or `gnd`).

Supported elements:
    Rname n1 n2 value
    Dname anode cathode model [area=value]
    Vname n+ n- [DC] value
    Iname n+ n- [DC] value       (current flows from n+ through the source to n-)
Supported dot cards: .model NAME D(...), .options/.option, .temp, .op, .end, .title, and
`.control ... .endc` blocks (skipped).  Anything else raises `NetlistError` naming the line.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from .diode_model import DEFAULT_EPSMIN, DEFAULT_GMIN, DEFAULT_TEMP, DEFAULT_TNOM

__all__ = [
    "NetlistError", "Resistor", "Diode", "VoltageSource", "CurrentSource", "DiodeModelCard",
    "Circuit", "parse_netlist", "read_netlist", "parse_number", "GROUND_NAMES",
]

GROUND_NAMES = ("0", "gnd")

SUPPORTED = (
    "supported: R name n1 n2 value | D name anode cathode model [area=value] | "
    "V name n+ n- [DC] value | I name n+ n- [DC] value | .model NAME D(...) | "
    ".options | .temp | .op | .title | .end | .control ... .endc"
)

# Diode model parameters (ngspice names and aliases -> canonical name).
_DIODE_DC_PARAMS = {
    "is": "IS", "js": "IS", "n": "N", "rs": "RS", "bv": "BV", "vb": "BV", "ibv": "IBV",
    "ib": "IBV", "nbv": "NBV", "eg": "EG", "xti": "XTI", "tnom": "TNOM", "tref": "TNOM",
    "trs": "TRS1", "trs1": "TRS1", "trs2": "TRS2", "level": "LEVEL", "tcv": "TCV",
}
# Parameters with no effect on a DC operating point: accepted and ignored.
_DIODE_IGNORED = {
    "cjo", "cj0", "cj", "m", "mj", "vj", "pb", "tt", "fc", "kf", "af", "cjp", "cjsw", "php",
    "mjsw", "fcs", "ttt1", "ttt2", "tm1", "tm2", "tpb", "tphp", "cta", "ctc", "ctp", "tlevc",
    "tcj", "tcjsw", "fv_max", "bv_max", "id_max", "pd_max", "te_max", "rth0", "cth0",
}

# .options: values we read, and ones that do not change the exact solution (tolerances etc.).
_OPTIONS_READ = {"gmin", "temp", "tnom", "epsmin"}
_OPTIONS_IGNORED = {
    "reltol", "abstol", "vntol", "chgtol", "trtol", "pivtol", "pivrel", "itl1", "itl2", "itl3",
    "itl4", "itl5", "itl6", "gminsteps", "srcsteps", "noopiter", "method", "maxord", "numdgt",
    "noacct", "acct", "nopage", "nomod", "list", "node", "opts", "keepopinfo", "savecurrents",
    "klu", "sparse", "warn", "norefvalue", "noinit", "interp", "defl", "defw", "defad", "defas",
    "bypass", "xmu", "gminfactor", "ramptime", "maxwarns",
}

_DOT_IGNORED = {".op", ".end"}

_SUFFIXES = (("meg", 1e6), ("mil", 25.4e-6), ("t", 1e12), ("g", 1e9), ("k", 1e3), ("m", 1e-3),
             ("u", 1e-6), ("n", 1e-9), ("p", 1e-12), ("f", 1e-15))

_NUMBER_RE = re.compile(r"^([+-]?(?:\d+\.?\d*|\.\d+)(?:e[+-]?\d+)?)([a-z]*)$", re.IGNORECASE)


class NetlistError(ValueError):
    """A netlist line that could not be read or is not supported."""

    def __init__(self, message: str, lineno: int | None = None, text: str | None = None):
        self.lineno = lineno
        self.text = text
        if lineno is not None:
            message = f"line {lineno}: {text!r}: {message}"
        super().__init__(message)


@dataclass
class Resistor:
    name: str
    n1: str
    n2: str
    value: float
    line: int


@dataclass
class Diode:
    name: str
    anode: str
    cathode: str
    model: str
    area: float
    line: int


@dataclass
class VoltageSource:
    name: str
    npos: str
    nneg: str
    value: float
    line: int


@dataclass
class CurrentSource:
    """Current `value` flows from npos through the source to nneg (into node nneg)."""
    name: str
    npos: str
    nneg: str
    value: float
    line: int


@dataclass
class DiodeModelCard:
    """A `.model NAME D(...)` card; `params` maps canonical upper-case names to values."""
    name: str
    params: dict[str, float]
    line: int

    def get(self, key: str, default: float | None = None) -> float | None:
        return self.params.get(key, default)


@dataclass
class Circuit:
    title: str
    resistors: list[Resistor] = field(default_factory=list)
    diodes: list[Diode] = field(default_factory=list)
    vsources: list[VoltageSource] = field(default_factory=list)
    isources: list[CurrentSource] = field(default_factory=list)
    models: dict[str, DiodeModelCard] = field(default_factory=dict)  # key: lowercase name
    nodes: list[str] = field(default_factory=list)   # non-ground nodes, as first written
    gmin: float = DEFAULT_GMIN
    temp: float = DEFAULT_TEMP                         # °C
    tnom: float = DEFAULT_TNOM                         # °C
    epsmin: float = DEFAULT_EPSMIN                     # A, floor on model IS
    options: dict[str, float | None] = field(default_factory=dict)

    def node_key(self, name: str) -> str | None:
        """Canonical key of a node name: lowercase, None for ground."""
        return node_key(name)

    def model_for(self, diode: Diode) -> DiodeModelCard:
        return self.models[diode.model.lower()]


def node_key(name: str) -> str | None:
    low = name.lower()
    return None if low in GROUND_NAMES else low


def parse_number(token: str) -> float:
    """A SPICE number: `1.5k`, `10uA`, `2meg`, `1e-3`, `3mil` ... (ValueError if unreadable)."""
    m = _NUMBER_RE.match(token.strip())
    if not m:
        raise ValueError(f"not a number: {token!r}")
    value = float(m.group(1))
    tail = m.group(2).lower()
    for suffix, scale in _SUFFIXES:
        if tail.startswith(suffix):
            return value * scale
    return value  # trailing unit letters (V, A, Ohm, ...) are ignored


def _strip_inline_comment(line: str) -> str:
    # ';' anywhere; '$' when followed by whitespace or end of line (ngspice's rule for '$ ').
    cut = line.find(";")
    if cut >= 0:
        line = line[:cut]
    m = re.search(r"\$(\s|$)", line)
    if m:
        line = line[: m.start()]
    return line


def _logical_lines(text: str):
    """Yield (first line number, joined text) for the lines after the title."""
    raw = text.splitlines()
    current = None
    for idx in range(1, len(raw)):
        lineno = idx + 1
        stripped = raw[idx].strip()
        if not stripped or stripped.startswith("*"):
            continue
        body = _strip_inline_comment(stripped).strip()
        if stripped.startswith("+"):
            if current is None:
                raise NetlistError("continuation line '+' with nothing to continue",
                                   lineno, raw[idx])
            current[1] += " " + _strip_inline_comment(stripped[1:]).strip()
            continue
        if current is not None:
            yield current[0], current[1]
        current = [lineno, body]
    if current is not None:
        yield current[0], current[1]


def _value(token: str, what: str, lineno: int, line: str) -> float:
    try:
        value = parse_number(token)
    except ValueError:
        raise NetlistError(f"cannot read {what} {token!r} as a number", lineno, line) from None
    if not math.isfinite(value):
        raise NetlistError(f"{what} must be finite, got {token!r}", lineno, line)
    return value


def _split_params(text: str, lineno: int, line: str) -> list[tuple[str, str | None]]:
    """`a=1 b = 2, c` -> [('a','1'), ('b','2'), ('c', None)]."""
    text = text.replace(",", " ")
    text = re.sub(r"\s*=\s*", "=", text)
    out = []
    for tok in text.split():
        if "=" in tok:
            key, _, val = tok.partition("=")
            if not key or not val:
                raise NetlistError(f"malformed parameter {tok!r}", lineno, line)
            out.append((key.lower(), val))
        else:
            out.append((tok.lower(), None))
    return out


class _Parser:
    def __init__(self, text: str):
        self.text = text
        lines = text.splitlines()
        self.circuit = Circuit(title=lines[0].strip() if lines else "")
        self.names: dict[str, int] = {}         # lowercase element name -> line
        self.node_seen: dict[str, str] = {}     # key -> first spelling
        self.model_uses: list[Diode] = []

    def node(self, name: str) -> str:
        key = node_key(name)
        if key is not None and key not in self.node_seen:
            self.node_seen[key] = name
            self.circuit.nodes.append(name)
        return name

    def check_name(self, name: str, lineno: int, line: str) -> None:
        key = name.lower()
        if key in self.names:
            raise NetlistError(
                f"duplicate element name {name!r} (first defined on line {self.names[key]})",
                lineno, line)
        self.names[key] = lineno

    def parse(self) -> Circuit:
        in_control = False
        for lineno, line in _logical_lines(self.text):
            if not line:
                continue
            tokens = line.split()
            head = tokens[0].lower()
            if in_control:
                if head == ".endc":
                    in_control = False
                continue
            if head == ".control":
                in_control = True
                continue
            if head == ".end":
                break
            if head.startswith("."):
                self.dot_card(head, tokens, lineno, line)
                continue
            kind = head[0]
            if kind == "r":
                self.resistor(tokens, lineno, line)
            elif kind == "d":
                self.diode(tokens, lineno, line)
            elif kind in "vi":
                self.source(kind, tokens, lineno, line)
            else:
                raise NetlistError(f"unsupported element type {tokens[0][0]!r}; {SUPPORTED}",
                                   lineno, line)
        if in_control:
            raise NetlistError("'.control' block without '.endc'")
        for d in self.circuit.diodes:
            if d.model.lower() not in self.circuit.models:
                raise NetlistError(f"diode {d.name} uses unknown model {d.model!r}"
                                   f" (no '.model {d.model} D(...)' card)", d.line,
                                   self._line_text(d.line))
        return self.circuit

    def _line_text(self, lineno: int) -> str:
        lines = self.text.splitlines()
        return lines[lineno - 1].strip() if 0 < lineno <= len(lines) else ""

    def two_nodes(self, tokens, lineno, line, what):
        if len(tokens) < 3:
            raise NetlistError(f"{what} needs two nodes; {SUPPORTED}", lineno, line)
        a, b = tokens[1], tokens[2]
        self.node(a)
        self.node(b)
        return a, b

    def resistor(self, tokens, lineno, line):
        name = tokens[0]
        if len(tokens) != 4:
            raise NetlistError(f"resistor takes exactly 'R name n1 n2 value', got "
                               f"{len(tokens)} fields", lineno, line)
        self.check_name(name, lineno, line)
        n1, n2 = self.two_nodes(tokens, lineno, line, "resistor")
        tok = tokens[3]
        if tok.lower().startswith("r="):
            tok = tok[2:]
        try:
            value = parse_number(tok)
        except ValueError:
            raise NetlistError(f"cannot read resistance {tokens[3]!r} as a number",
                               lineno, line) from None
        if not (value > 0.0) or not math.isfinite(value):
            raise NetlistError(f"resistance of {name} must be positive and finite, got {value!r}",
                               lineno, line)
        self.circuit.resistors.append(Resistor(name, n1, n2, value, lineno))

    def diode(self, tokens, lineno, line):
        name = tokens[0]
        form = "'D name anode cathode model [area=value]'"
        if len(tokens) < 4:
            raise NetlistError(f"diode takes {form}", lineno, line)
        self.check_name(name, lineno, line)
        a, c = self.two_nodes(tokens, lineno, line, "diode")
        model = tokens[3]
        area = 1.0
        extra = tokens[4:]
        if extra:
            # ngspice 39 reads an instance area only as `area=value` (a bare number after the
            # model name makes it look for a model of that name).
            params = _split_params(" ".join(extra), lineno, line)
            if len(params) != 1 or params[0][0] != "area" or params[0][1] is None:
                raise NetlistError(
                    f"diode {name}: unsupported extra parameters {' '.join(extra)!r}; only "
                    f"{form} is supported", lineno, line)
            area = _value(params[0][1], "area", lineno, line)
            if not area > 0.0:
                raise NetlistError(f"diode {name}: area must be positive, got {area!r}",
                                   lineno, line)
        self.circuit.diodes.append(Diode(name, a, c, model, area, lineno))

    def source(self, kind, tokens, lineno, line):
        name = tokens[0]
        form = f"'{kind.upper()} name n+ n- [DC] value'"
        rest = tokens[3:]
        if rest and rest[0].lower() == "dc":
            rest = rest[1:]
        elif rest and rest[0].lower().startswith("dc="):
            rest = [rest[0][3:]] + rest[1:]
        if len(rest) != 1 or len(tokens) < 3:
            raise NetlistError(f"source takes {form} (DC only)", lineno, line)
        self.check_name(name, lineno, line)
        npos, nneg = self.two_nodes(tokens, lineno, line, "source")
        value = _value(rest[0], "source value", lineno, line)
        if kind == "v":
            if node_key(npos) == node_key(nneg):
                raise NetlistError(f"voltage source {name} connects node {npos!r} to itself",
                                   lineno, line)
            self.circuit.vsources.append(VoltageSource(name, npos, nneg, value, lineno))
        else:
            self.circuit.isources.append(CurrentSource(name, npos, nneg, value, lineno))

    def dot_card(self, head, tokens, lineno, line):
        c = self.circuit
        if head in _DOT_IGNORED:
            return
        if head == ".title":
            c.title = line.split(None, 1)[1].strip() if len(tokens) > 1 else ""
            return
        if head == ".temp":
            if len(tokens) != 2:
                raise NetlistError("'.temp' takes one temperature (°C)", lineno, line)
            c.temp = _value(tokens[1], "temperature", lineno, line)
            return
        if head in (".options", ".option", ".opt", ".opts"):
            for key, val in _split_params(line.split(None, 1)[1] if len(tokens) > 1 else "",
                                          lineno, line):
                if key in _OPTIONS_READ:
                    if val is None:
                        raise NetlistError(f"option {key} needs a value", lineno, line)
                    v = _value(val, f"option {key}", lineno, line)
                    if key in ("gmin", "epsmin") and not v >= 0.0:
                        raise NetlistError(f"{key} must be >= 0, got {v!r}", lineno, line)
                    setattr(c, key, v)
                    c.options[key] = v
                elif key in _OPTIONS_IGNORED:
                    c.options[key] = None if val is None else val
                else:
                    raise NetlistError(
                        f"unsupported option {key!r}; read: {', '.join(sorted(_OPTIONS_READ))}; "
                        "tolerance options are accepted and ignored", lineno, line)
            return
        if head == ".model":
            self.model_card(tokens, lineno, line)
            return
        raise NetlistError(f"unsupported dot card {tokens[0]!r}; {SUPPORTED}", lineno, line)

    def model_card(self, tokens, lineno, line):
        body = line.split(None, 1)[1] if len(tokens) > 1 else ""
        m = re.match(r"^([^\s(]+)\s+([A-Za-z]\w*)\s*(.*)$", body)
        if not m:
            raise NetlistError("'.model' takes '.model NAME D(param=value ...)'", lineno, line)
        name, mtype, params = m.group(1), m.group(2), m.group(3).strip()
        if mtype.lower() != "d":
            raise NetlistError(f"unsupported model type {mtype!r}: only diode models "
                               "('.model NAME D(...)') are supported", lineno, line)
        if params.startswith("("):
            if not params.endswith(")"):
                raise NetlistError("unbalanced parentheses in '.model'", lineno, line)
            params = params[1:-1]
        if "(" in params or ")" in params:
            raise NetlistError("unbalanced parentheses in '.model'", lineno, line)
        key = name.lower()
        if key in self.circuit.models:
            raise NetlistError(f"duplicate model name {name!r} (first defined on line "
                               f"{self.circuit.models[key].line})", lineno, line)
        values: dict[str, float] = {}
        for pkey, pval in _split_params(params, lineno, line):
            if pval is None:
                raise NetlistError(f"model parameter {pkey!r} needs a value", lineno, line)
            if pkey in _DIODE_IGNORED:
                continue
            if pkey not in _DIODE_DC_PARAMS:
                raise NetlistError(
                    f"diode model parameter {pkey.upper()!r} is not supported (it would change "
                    "the DC operating point or is unknown); supported: IS N RS BV IBV NBV EG "
                    "XTI TNOM TRS1 TRS2 LEVEL=1; ignored: capacitance/transit-time/noise "
                    "parameters", lineno, line)
            canon = _DIODE_DC_PARAMS[pkey]
            values[canon] = _value(pval, f"model parameter {pkey.upper()}", lineno, line)
        checks = [("IS", lambda v: v > 0), ("N", lambda v: v > 0), ("RS", lambda v: v >= 0),
                  ("BV", lambda v: v > 0), ("IBV", lambda v: v > 0), ("NBV", lambda v: v > 0),
                  ("LEVEL", lambda v: v == 1)]
        for pname, ok in checks:
            if pname in values and not ok(values[pname]):
                need = "1" if pname == "LEVEL" else ("≥ 0" if pname == "RS" else "> 0")
                raise NetlistError(f"model {name}: {pname} must be {need}, got "
                                   f"{values[pname]!r}", lineno, line)
        self.circuit.models[key] = DiodeModelCard(name, values, lineno)


def parse_netlist(text: str) -> Circuit:
    """Parse ngspice netlist text into a `Circuit` (raises NetlistError on anything unsupported)."""
    if not text.strip():
        raise NetlistError("empty netlist (the first line is the title, elements follow)")
    return _Parser(text).parse()


def read_netlist(path) -> Circuit:
    """Parse a netlist file."""
    with open(path, encoding="utf-8", errors="replace") as fh:
        return parse_netlist(fh.read())
