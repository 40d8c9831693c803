"""The netlist reader: plain ngspice text of resistors, diodes, independent DC sources and linear
controlled sources into the kit's `circuit.Circuit` (its writer is `analog.netlist_writer`).

It reads what ngspice 39 reads for these elements (checked against ngspice's own `op` in
tests/test_fuzz_netlist.py), and refuses the rest with the reason:

* The first line is the title (a leading `.title` keyword dropped); `*` starts a comment line;
  `;` anywhere and `$` or `//` after whitespace start inline comments; a line starting with `+` continues the previous one;
  commas and parentheses separate fields like blanks.  Names are case-insensitive (node names
  are reported as first written); ground is node `0` or `gnd` (`00` is another node).
* Numbers take SPICE scale suffixes (f p n u m k meg g t mil, case-insensitive, so `M` is milli);
  what follows is ignored (`1.5kOhm`, `10uA`, `1k5` = 1k, as ngspice); `{1k}` is the number 1k.
* `Rname n1 n2 [r=]value [model] [m= scale= temp= dtemp= tc1= tc2= tce= l= w= ac= noisy=]`
  and `.model NAME R(RES RSH TC1 TC2 TCE TNOM DEFW NARROW SHORT)`: ngspice's
  R(T) = R·scale·(1 + tc1·ΔT + tc2·ΔT²) (or ·1.01^(tce·ΔT)) divided by m, ΔT = T − TNOM
  (`resistor_conductances`); a missing or zero value is 1 mΩ (as ngspice); a negative one is
  refused (not monotone).
* `Dname anode cathode model [area=] [m=] [temp=] [dtemp=] [off] [ic=] [pj=]`.
* `Vname n+ n- [[DC] value] [AC ...] [PULSE|SIN|EXP|PWL|SFFM(...)]` and the same for `I`
  (current flows from n+ through the source to n-): the DC value, else the transient function's
  value at time 0 (ngspice's rule), else 0.
* Linear controlled sources: `Ename n+ n- nc+ nc- gain` (VCVS), `Gname n+ n- nc+ nc- gm`
  (VCCS), `Fname n+ n- Vsense gain` (CCCS, controlled by a V source's branch current);
  their POLY, VALUE and TABLE forms are refused.
* `.model NAME D(...)` (a repeated model name: the first card counts, as in ngspice):
  parameters that change the DC current are read (IS N RS BV IBV NBV EG
  XTI TNOM TRS1 TRS2 TCV LEVEL); capacitance, transit-time and noise parameters are ignored, as
  ngspice ignores them at DC; unknown names are ignored with a warning (ngspice ignores them
  too); DC parameters the kit does not model (IKF, ISR, JTUN, ...) are recorded and refused by
  the Shockley solver, naming them (ideal diodes do not use the card).
* `.options` (gmin, temp, tnom, epsmin, rshunt are read; the rest do not change the exact
  solution), `.temp`, `.title`, `.end`, `.control ... .endc`, and analysis/output cards (`.op`,
  `.tran`, `.dc`, `.ac`, `.print`, `.save`, `.plot`, `.probe`, `.nodeset`, `.ic`, `.meas`, ...),
  which do not change an operating point.  Subcircuits, parameters and includes are refused.
"""

from __future__ import annotations

import math
import re
import numpy as np

from .circuit import (CCCS, VCCS, VCVS, Circuit, CurrentSource, Diode,
                      DiodeModelCard, Resistor, VoltageSource, node_key)

__all__ = ["NetlistError", "parse_netlist", "read_netlist", "parse_number", "netlist_title"]

SUPPORTED = (
    "supported: R name n1 n2 value [model] [params] | D name anode cathode model [params] | "
    "V name n+ n- [DC] value [AC ...] [PULSE|SIN|EXP|PWL|SFFM(...)] | I (the same) | "
    "E|G name n+ n- nc+ nc- gain | F name n+ n- Vsense gain | "
    ".model NAME D(...) | .model NAME R(...) | .options | .temp | .title | .end | "
    ".control ... .endc | analysis and output cards (ignored)"
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
    "tbv1", "tbv2", "xcjc", "fcsw", "vjsw", "pbsw", "mjswg", "cjswg", "ns", "jsw", "isw",
    "lm", "lp", "wm", "wp", "xom", "xoi", "xm", "xp", "d", "bvj", "trr",
}
# DC parameters ngspice models and the kit does not: refused in Shockley mode when nonzero.
_DIODE_UNMODELLED = {
    "ikf": "IKF", "ik": "IKF", "ikr": "IKR", "isr": "ISR", "nr": "NR", "jtun": "JTUN",
    "jtunsw": "JTUNSW", "ntun": "NTUN", "xtitun": "XTITUN", "keg": "KEG", "tlev": "TLEV",
    "gap1": "GAP1", "gap2": "GAP2", "tikf": "TIKF", "trb": "TRB",
}

# .options: values we read, and ones refused (they would change the solution, not modelled).
_OPTIONS_READ = {"gmin", "temp", "tnom", "epsmin", "rshunt"}

_DOT_IGNORED = {
    ".op", ".tran", ".dc", ".ac", ".print", ".plot", ".save", ".probe", ".nodeset", ".ic",
    ".meas", ".measure", ".four", ".noise", ".disto", ".pz", ".sens", ".tf", ".width", ".global",
    ".csparam", ".echo", ".spinit",
}
_DOT_REFUSED = {
    ".subckt": "subcircuits are not modelled; flatten the netlist",
    ".ends": "subcircuits are not modelled; flatten the netlist",
    ".include": "included files are not read; paste their contents",
    ".inc": "included files are not read; paste their contents",
    ".lib": "library files are not read; paste the models",
    ".param": "parameters are not modelled; write the numbers",
    ".func": "functions are not modelled; write the numbers",
    ".if": "conditional netlists are not modelled",
}

_SUFFIXES = (("meg", 1e6), ("mil", 25.4e-6), ("t", 1e12), ("g", 1e9), ("k", 1e3), ("m", 1e-3),
             ("u", 1e-6), ("n", 1e-9), ("p", 1e-12), ("f", 1e-15))

# A number, then anything: ngspice reads a scale suffix from the leading letters of the rest and
# ignores the remainder (`1k5` is 1k, `1.2.3` is 1.2, `10uA` is 10u).
_NUMBER_RE = re.compile(r"^([+-]?(?:\d+\.?\d*|\.\d+)(?:e[+-]?\d+)?)(.*)$", re.IGNORECASE)
_SEPARATORS = str.maketrans({",": " ", "(": " ", ")": " ", "\t": " "})
_COMMENT_RE = re.compile(r"\s(?:\$|//)")
_SPECIAL_RE = re.compile(r"[,(){}=]")
_TRANSIENT = ("pulse", "sin", "exp", "pwl", "sffm", "am", "trnoise", "trrandom")


class NetlistError(ValueError):
    """A netlist line that could not be read or is not supported."""

    def __init__(self, message: str, lineno: int | None = None, text: str | None = None):
        self.lineno = lineno
        self.text = text
        if lineno is not None:
            message = f"line {lineno}: {text!r}: {message}"
        super().__init__(message)


def parse_number(token: str) -> float:
    """A SPICE number: `1.5k`, `10uA`, `2meg`, `1e-3`, `3mil` ... (ValueError if unreadable).

    As in ngspice, whatever follows the number and its scale suffix is ignored.
    """
    m = _NUMBER_RE.match(token.strip())
    if not m:
        raise ValueError(f"not a number: {token!r}")
    value = float(m.group(1))
    tail = m.group(2).lower()
    if tail:
        for suffix, scale in _SUFFIXES:
            if tail.startswith(suffix):
                return value * scale
    return value  # trailing unit letters (V, A, Ohm, ...) are ignored


def netlist_title(text: str) -> str:
    """A netlist's title: its first line, without the `.title` keyword a written netlist
    (`analog.netlist_writer`) starts with.  Only the first line is looked at."""
    first = text.split("\n", 1)[0].splitlines()
    title = first[0].strip() if first else ""
    if title.lower().startswith(".title"):
        title = title[len(".title"):].strip()
    return title


def _strip_inline_comment(line: str) -> str:
    cut = line.find(";")
    if cut >= 0:
        line = line[:cut]
    if "$" in line or "//" in line:
        m = _COMMENT_RE.search(line)
        if m:
            line = line[: m.start()]
        if line.startswith(("$", "//")):
            line = ""
    return line


def _logical_lines(raw: list[str]):
    """Yield (first line number, joined text) for the netlist's lines `raw` after the title."""
    current = None
    for idx in range(1, len(raw)):
        stripped = raw[idx].strip()
        if not stripped or stripped[0] == "*":
            continue
        if stripped[0] == "+":
            if current is None:
                raise NetlistError("continuation line '+' with nothing to continue",
                                   idx + 1, raw[idx])
            current[1] += " " + _strip_inline_comment(stripped[1:]).strip()
            continue
        if current is not None:
            yield current[0], current[1]
        current = [idx + 1, _strip_inline_comment(stripped).strip()]
    if current is not None:
        yield current[0], current[1]


def _value(token: str, what: str, lineno: int, line: str) -> float:
    braced = token.startswith("{") and token.endswith("}")
    if braced:
        token = token[1:-1].strip()
    try:
        value = parse_number(token)
    except ValueError:
        hint = (" (parameter expressions are not modelled; write the number)"
                if braced or "{" in token or "}" in token else "")
        raise NetlistError(f"cannot read {what} {token!r} as a number{hint}",
                           lineno, line) from None
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


def _fields(line: str) -> list[str]:
    """Element fields: blanks, commas and parentheses separate; `k = v` becomes `k=v`."""
    line = line.translate(_SEPARATORS)
    if "=" in line:
        line = re.sub(r"\s*=\s*", "=", line)
    return line.split()


class _Parser:
    def __init__(self, text: str):
        self.lines = text.splitlines()
        self.circuit = Circuit(title=netlist_title(text))
        self.names: dict[str, int] = {}         # lowercase element name -> line
        self.model_lines: dict[str, int] = {}   # lowercase model name -> line
        self.node = self.circuit.node           # registers a node name (kept as first written)

    def append(self, element) -> None:
        """Add a checked element (its name already checked by `check_name`) to the circuit."""
        self.circuit.add(element)

    def check_name(self, name: str, lineno: int, line: str) -> None:
        key = name.lower()
        if key in self.names:
            raise NetlistError(
                f"duplicate element name {name!r} (first defined on line {self.names[key]})",
                lineno, line)
        self.names[key] = lineno

    def parse(self) -> Circuit:
        in_control = False
        for lineno, line in _logical_lines(self.lines):
            if not line:
                continue
            head = line.split(None, 1)[0].lower()
            if in_control:
                if head == ".endc":
                    in_control = False
                continue
            if head == ".control":
                in_control = True
                continue
            if head == ".end":
                break
            if head[0] == ".":
                self.dot_card(head, line.split(), lineno, line)
                continue
            kind = head[0]
            if kind == "r":
                toks = line.split()
                if len(toks) == 4 and not _SPECIAL_RE.search(line):
                    self.plain_resistor(toks, lineno, line)
                else:
                    self.resistor(_fields(line), lineno, line)
            elif kind == "d":
                self.diode(_fields(line), lineno, line)
            elif kind in "vi":
                self.source(kind, _fields(line), lineno, line)
            elif kind in "egf":
                self.controlled(kind, _fields(line), lineno, line)
            else:
                raise NetlistError(f"unsupported element type {line[0]!r}; {SUPPORTED}",
                                   lineno, line)
        if in_control:
            raise NetlistError("'.control' block without '.endc'")
        for r in self.circuit.resistors:
            if r.model is not None and r.model.lower() not in self.circuit.resistor_models:
                raise NetlistError(f"resistor {r.name} uses unknown model {r.model!r}"
                                   f" (no '.model {r.model} R(...)' card)", r.line,
                                   self._line_text(r.line))
        vnames = {v.name.lower() for v in self.circuit.vsources}
        for e in self.circuit.controlled:
            if isinstance(e, CCCS) and e.vsense.lower() not in vnames:
                raise NetlistError(f"{e.name}: its controlling source {e.vsense!r} is not a "
                                   "voltage source of the netlist", e.line,
                                   self._line_text(e.line))
        for d in self.circuit.diodes:
            if d.model.lower() not in self.circuit.models:
                raise NetlistError(f"diode {d.name} uses unknown model {d.model!r}"
                                   f" (no '.model {d.model} D(...)' card)", d.line,
                                   self._line_text(d.line))
            card = self.circuit.models[d.model.lower()]
            if d.params and d.params.get("pj", 0.0) > 0.0 and (card.get("JSW") or 0.0) > 0.0:
                d.unmodelled = d.unmodelled + ("sidewall current JSW·PJ",)
        return self.circuit

    def _line_text(self, lineno: int) -> str:
        return self.lines[lineno - 1].strip() if 0 < lineno <= len(self.lines) else ""

    def two_nodes(self, tokens, lineno, line, what):
        if len(tokens) < 3:
            raise NetlistError(f"{what} needs two nodes; {SUPPORTED}", lineno, line)
        a, b = tokens[1], tokens[2]
        for nd in (a, b):
            if "=" in nd:
                raise NetlistError(f"{what} needs two nodes before its parameters, got {nd!r}",
                                   lineno, line)
        self.node(a)
        self.node(b)
        return a, b

    def instance_params(self, tokens, allowed, flags, lineno, line, what):
        """`key=value` parameters (and bare flags) of an element line."""
        params: dict[str, float] = {}
        for tok in tokens:
            key, eq, val = tok.partition("=")
            key = key.lower()
            if not eq:
                if key in flags:
                    continue
                raise NetlistError(f"{what}: unexpected field {tok!r}", lineno, line)
            if key not in allowed:
                raise NetlistError(f"{what}: unknown parameter {key!r} (ngspice refuses it "
                                   f"too); known: {', '.join(sorted(allowed))}", lineno, line)
            if not val:
                raise NetlistError(f"{what}: parameter {key!r} needs a value", lineno, line)
            params[allowed[key]] = _value(val, f"parameter {key}", lineno, line)
        return params

    _R_PARAMS = {"r": "r", "resistance": "r", "m": "m", "scale": "scale", "temp": "temp",
                 "dtemp": "dtemp", "tc1": "tc1", "tc": "tc1", "tc2": "tc2", "tce": "tce",
                 "ac": "ac", "noisy": "noisy", "l": "l", "w": "w"}

    def plain_resistor(self, toks, lineno, line):
        """The common `R name n1 n2 number` line, without the general field handling."""
        m = _NUMBER_RE.match(toks[3])
        if m is None:
            return self.resistor(toks, lineno, line)
        name = toks[0]
        self.check_name(name, lineno, line)
        n1, n2 = self.node(toks[1]), self.node(toks[2])
        value = _value(toks[3], "resistance", lineno, line)
        if value <= 0.0:
            return self.resistor(toks, lineno, line, checked=True)
        self.append(Resistor(name, n1, n2, value, lineno))

    def resistor(self, tokens, lineno, line, checked=False):
        name = tokens[0]
        if not checked:
            self.check_name(name, lineno, line)
        n1, n2 = self.two_nodes(tokens, lineno, line, f"resistor {name}")
        rest = tokens[3:]
        value = model = None
        while rest and "=" not in rest[0]:
            tok = rest.pop(0)
            if _is_number(tok) and value is None:
                value = _value(tok, "resistance", lineno, line)
            elif tok.startswith("{"):
                _value(tok, "resistance", lineno, line)   # raises: an expression
            elif model is None and not _is_number(tok):
                model = tok
            else:
                raise NetlistError(f"resistor {name}: unexpected field {tok!r}", lineno, line)
        params = self.instance_params(rest, self._R_PARAMS, (), lineno, line,
                                      f"resistor {name}")
        value = params.pop("r", value)
        params.pop("ac", None)
        params.pop("noisy", None)
        given = value is not None
        if not given and model is None or given and value == 0.0:
            self.circuit.warnings.append(f"line {lineno}: resistor {name}: resistance "
                                         "missing or zero, set to 1 mOhm (as ngspice does)")
        value = 0.0 if value is None else value
        if value < 0.0:
            raise NetlistError(f"resistance of {name} must be positive, got {value!r}: "
                               "negative resistance is not modelled (the circuit would not be "
                               "monotone)", lineno, line)
        for key in ("m", "scale"):
            if key in params and not params[key] >= 0.0:
                raise NetlistError(f"resistor {name}: {key} must be >= 0, got "
                                   f"{params[key]!r}", lineno, line)
        if params.get("scale", 1.0) == 0.0:
            raise NetlistError(f"resistor {name}: scale=0 makes a short circuit; not "
                               "modelled", lineno, line)
        self.append(Resistor(name, n1, n2, value, lineno, params or None,
                                                     model, given))

    _D_PARAMS = {"area": "area", "m": "m", "temp": "temp", "dtemp": "dtemp", "ic": "ic",
                 "pj": "pj"}

    def diode(self, tokens, lineno, line):
        name = tokens[0]
        form = "'D name anode cathode model [area=value] [m=value] [temp=value] [off]'"
        if len(tokens) < 4 or "=" in tokens[3]:
            raise NetlistError(f"diode takes {form}", lineno, line)
        self.check_name(name, lineno, line)
        a, c = self.two_nodes(tokens, lineno, line, f"diode {name}")
        model = tokens[3]
        extra = tokens[4:]
        if extra and "=" not in extra[0] and extra[0].lower() != "off":
            # ngspice 39 reads an instance area only as `area=value` (a bare number after the
            # model name makes it look for a model of that name).
            raise NetlistError(
                f"diode {name}: unexpected field {extra[0]!r} after the model name (ngspice "
                f"refuses it too); only {form} is supported", lineno, line)
        params = self.instance_params(extra, self._D_PARAMS, ("off",), lineno, line,
                                      f"diode {name}")
        params.pop("ic", None)
        area = params.pop("area", 1.0)
        if not area > 0.0:
            raise NetlistError(f"diode {name}: area must be positive, got {area!r}",
                               lineno, line)
        if "m" in params and not params["m"] > 0.0:
            raise NetlistError(f"diode {name}: m must be positive, got {params['m']!r}",
                               lineno, line)
        self.append(Diode(name, a, c, model, area, lineno, params or None))

    def source(self, kind, tokens, lineno, line):
        name = tokens[0]
        self.check_name(name, lineno, line)
        npos, nneg = self.two_nodes(tokens, lineno, line, f"source {name}")
        value = self.source_value(name, tokens[3:], lineno, line)
        if kind == "v":
            if node_key(npos) == node_key(nneg):
                raise NetlistError(f"voltage source {name} connects node {npos!r} to itself",
                                   lineno, line)
            self.append(VoltageSource(name, npos, nneg, value, lineno))
        else:
            self.append(CurrentSource(name, npos, nneg, value, lineno))

    def controlled(self, kind, tokens, lineno, line):
        """A linear E, G or F source (the forms ngspice writes for the kit's compiled circuits)."""
        name = tokens[0]
        form = ("F name n+ n- Vsense gain" if kind == "f" else
                f"{kind.upper()} name n+ n- nc+ nc- {'gm' if kind == 'g' else 'gain'}")
        count = 5 if kind == "f" else 6
        if (len(tokens) != count or any("=" in t for t in tokens)
                or any(t.lower() in ("poly", "value", "table", "vol", "cur") for t in tokens)
                or not _is_number(tokens[-1])):
            raise NetlistError(f"controlled source {name}: only the linear form '{form}' is "
                               "supported (POLY, VALUE and TABLE forms are not)", lineno, line)
        self.check_name(name, lineno, line)
        npos, nneg = self.two_nodes(tokens, lineno, line, f"controlled source {name}")
        gain = _value(tokens[-1], "gain", lineno, line)
        if kind == "f":
            self.append(CCCS(name, npos, nneg, tokens[3], gain, lineno))
            return
        cpos, cneg = self.node(tokens[3]), self.node(tokens[4])
        cls = VCVS if kind == "e" else VCCS
        if kind == "e" and node_key(npos) == node_key(nneg):
            raise NetlistError(f"controlled source {name} connects node {npos!r} to itself",
                               lineno, line)
        self.append(cls(name, npos, nneg, cpos, cneg, gain, lineno))

    def source_value(self, name, rest, lineno, line) -> float:
        """The DC value of a source's fields (ngspice: DC, else the time-0 transient value)."""
        dc = None
        tran = None
        k = 0
        while k < len(rest):
            tok = rest[k]
            low = tok.lower()
            if low == "dc" or low.startswith("dc="):
                if low == "dc":
                    k += 1
                    if k < len(rest) and not rest[k].lower().startswith(("ac", *_TRANSIENT)):
                        dc = _value(rest[k], "source value", lineno, line)
                        k += 1
                    else:
                        dc = 0.0
                else:
                    dc = _value(tok[3:], "source value", lineno, line)
                    k += 1
            elif low == "ac" or low.startswith("ac="):
                k += 1   # AC magnitude and phase: not part of the operating point
                while k < len(rest) and _is_number(rest[k]):
                    k += 1
            elif low in _TRANSIENT:
                args = []
                k += 1
                while k < len(rest) and _is_number(rest[k]):
                    args.append(_value(rest[k], f"{low.upper()} argument", lineno, line))
                    k += 1
                tran = (low, args)
            elif low.startswith(("distof1", "distof2")):
                k += 1
                while k < len(rest) and _is_number(rest[k]):
                    k += 1
            elif dc is None and k == 0 and _is_number(tok):
                dc = _value(tok, "source value", lineno, line)
                k += 1
            else:
                raise NetlistError(
                    f"source {name}: unexpected field {tok!r}; a source takes "
                    "'[DC] value [AC mag [phase]] [PULSE|SIN|EXP|PWL|SFFM(...)]'", lineno, line)
        if dc is not None:
            return dc
        if tran is not None:
            return _transient_at_zero(name, *tran, lineno=lineno, line=line)
        self.circuit.warnings.append(f"line {lineno}: source {name} has no value, DC 0 "
                                     "assumed (as ngspice does)")
        return 0.0

    def dot_card(self, head, tokens, lineno, line):
        c = self.circuit
        if head in _DOT_IGNORED:
            return
        if head in _DOT_REFUSED:
            raise NetlistError(f"{tokens[0]}: {_DOT_REFUSED[head]}", lineno, line)
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
                    if key == "rshunt" and not v > 0.0:
                        raise NetlistError(f"rshunt must be > 0, got {v!r}", lineno, line)
                    setattr(c, key, v)
                    c.options[key] = v
                else:   # tolerances, iteration limits, output and unknown options
                    c.options[key] = None if val is None else val
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
        if mtype.lower() not in ("d", "r", "res"):
            raise NetlistError(f"unsupported model type {mtype!r}: only diode and resistor "
                               "models ('.model NAME D(...)', '.model NAME R(...)') are "
                               "supported", lineno, line)
        if params.startswith("("):
            if not params.endswith(")"):
                raise NetlistError("unbalanced parentheses in '.model'", lineno, line)
            params = params[1:-1]
        if "(" in params or ")" in params:
            raise NetlistError("unbalanced parentheses in '.model'", lineno, line)
        key = name.lower()
        if key in self.model_lines:
            self.circuit.warnings.append(
                f"line {lineno}: duplicate model name {name!r}: the first definition (line "
                f"{self.model_lines[key]}) is used (as ngspice does)")
            return
        self.model_lines[key] = lineno
        if mtype.lower() != "d":
            self.resistor_model(name, params, lineno, line)
            return
        values: dict[str, float] = {}
        unmodelled = []
        for pkey, pval in _split_params(params, lineno, line):
            if pval is None:
                raise NetlistError(f"model parameter {pkey!r} needs a value", lineno, line)
            if pkey in ("jsw", "isw"):
                values["JSW"] = _value(pval, f"model parameter {pkey.upper()}", lineno, line)
                continue
            if pkey in _DIODE_IGNORED:
                continue
            if pkey in _DIODE_UNMODELLED:
                if _value(pval, f"model parameter {pkey.upper()}", lineno, line) != 0.0:
                    unmodelled.append(_DIODE_UNMODELLED[pkey])
                continue
            if pkey not in _DIODE_DC_PARAMS:
                self.circuit.warnings.append(
                    f"line {lineno}: model {name}: unknown parameter {pkey.upper()!r} ignored "
                    "(as ngspice does)")
                continue
            canon = _DIODE_DC_PARAMS[pkey]
            values[canon] = _value(pval, f"model parameter {pkey.upper()}", lineno, line)
        checks = [("IS", lambda v: v > 0), ("N", lambda v: v > 0), ("RS", lambda v: v >= 0),
                  ("BV", lambda v: v > 0), ("IBV", lambda v: v > 0), ("NBV", lambda v: v > 0)]
        for pname, ok in checks:
            if pname in values and not ok(values[pname]):
                need = "≥ 0" if pname == "RS" else "> 0"
                raise NetlistError(f"model {name}: {pname} must be {need}, got "
                                   f"{values[pname]!r}", lineno, line)
        level = values.pop("LEVEL", 1.0)
        if level not in (1.0, 3.0):
            unmodelled.append(f"LEVEL={level:g}")
        self.circuit.models[key] = DiodeModelCard(name, values, lineno, tuple(unmodelled))

    def resistor_model(self, name, params, lineno, line):
        values: dict[str, float] = {}
        for pkey, pval in _split_params(params, lineno, line):
            if pval is None:
                raise NetlistError(f"model parameter {pkey!r} needs a value", lineno, line)
            if pkey in _R_MODEL_IGNORED:
                continue
            if pkey not in _R_MODEL_PARAMS:
                self.circuit.warnings.append(
                    f"line {lineno}: model {name}: unknown parameter {pkey.upper()!r} ignored "
                    "(as ngspice does)")
                continue
            values[_R_MODEL_PARAMS[pkey]] = _value(pval, f"model parameter {pkey.upper()}",
                                                   lineno, line)
        self.circuit.resistor_models[name.lower()] = values


_R_MODEL_PARAMS = {"res": "res", "r": "res", "rsh": "rsh", "tc1": "tc1", "tc1r": "tc1",
                   "tc2": "tc2", "tc2r": "tc2", "tce": "tce", "tnom": "tnom", "defw": "defw",
                   "narrow": "narrow", "short": "short"}
_R_MODEL_IGNORED = {"kf", "af", "lf", "wf", "ef", "cap", "capsw", "cj", "cjsw", "bv_max",
                    "noise", "noisy"}


def _is_number(tok: str) -> bool:
    if tok.startswith("{") and tok.endswith("}"):
        tok = tok[1:-1]
    return bool(_NUMBER_RE.match(tok))


def _transient_at_zero(name, fn, args, *, lineno, line) -> float:
    """A transient source function's value at time 0 (what ngspice's `op` uses without DC)."""
    if fn in ("pulse", "exp", "sffm") and args:
        return args[0]
    if fn == "sin" and len(args) >= 1:
        va = args[1] if len(args) > 1 else 0.0
        phase = args[5] if len(args) > 5 else 0.0
        return args[0] + va * math.sin(math.radians(phase))
    if fn == "pwl" and len(args) >= 2:
        t, v = args[0::2], args[1::2]
        if t[0] >= 0.0 or len(v) < 2:
            return v[0]
        return float(np.interp(0.0, t[: len(v)], v))
    raise NetlistError(f"source {name}: no DC value and the {fn.upper()} function's value at "
                       "time 0 is not modelled; give a DC value", lineno, line)


def parse_netlist(text: str) -> Circuit:
    """Parse ngspice netlist text into a `circuit.Circuit` (NetlistError on anything unsupported)."""
    if not text.strip():
        raise NetlistError("empty netlist (the first line is the title, elements follow)")
    return _Parser(text).parse()


def read_netlist(path) -> Circuit:
    """Parse a netlist file."""
    with open(path, encoding="utf-8", errors="replace") as fh:
        return parse_netlist(fh.read())
