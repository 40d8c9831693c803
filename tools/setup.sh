#!/usr/bin/env bash
# Set up everything diodenet needs on a Debian/Ubuntu machine, idempotently:
#   1. system packages (ngspice + its shared library, Icarus Verilog) through apt;
#   2. a virtual environment in .venv with the kit and its Python dependencies.
# When everything is already in place this takes well under a second.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(ngspice libngspice0 libngspice0-dev iverilog g++ make perl)   # g++/make/perl: Verilator builds
PYTHON=${PYTHON:-python3}

say() { printf '[setup] %s\n' "$*" >&2; }

# --- Python interpreter -----------------------------------------------------------------
if ! command -v "$PYTHON" >/dev/null 2>&1; then
    say "no '$PYTHON' found: install Python >= 3.11 (Debian: apt-get install python3 python3-venv)"
    exit 1
fi
if ! "$PYTHON" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)'; then
    say "$("$PYTHON" --version 2>&1) is too old: diodenet needs Python >= 3.11 (set PYTHON=/path/to/python3.11)"
    exit 1
fi
if ! "$PYTHON" -c 'import venv, ensurepip' >/dev/null 2>&1; then
    APT_PACKAGES+=(python3-venv)
fi

# --- system packages --------------------------------------------------------------------
missing=()
for pkg in "${APT_PACKAGES[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$pkg")
    fi
done
if ((${#missing[@]})); then
    if ! command -v apt-get >/dev/null 2>&1; then
        say "missing system packages: ${missing[*]}; this is not a Debian/Ubuntu machine, install them by hand"
        exit 1
    fi
    if [ "$(id -u)" -eq 0 ]; then
        SUDO=()
    elif command -v sudo >/dev/null 2>&1; then
        SUDO=(sudo)
    else
        say "missing system packages: ${missing[*]}"
        say "run as root: apt-get update && apt-get install -y --no-install-recommends ${missing[*]}"
        exit 1
    fi
    say "installing system packages: ${missing[*]}"
    "${SUDO[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# --- virtual environment ----------------------------------------------------------------
stamp=.venv/.diodenet-setup
want=$(cat pyproject.toml tools/setup.sh | sha256sum | cut -d' ' -f1)
if [ -x .venv/bin/python ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    exit 0
fi
if [ ! -x .venv/bin/python ]; then
    say "creating virtual environment in .venv"
    "$PYTHON" -m venv .venv
fi
say "installing Python dependencies into .venv (about a minute on first use)"
log=.venv/setup-pip.log
if ! { .venv/bin/python -m pip install --upgrade pip && .venv/bin/python -m pip install -e '.[test]'; } >"$log" 2>&1; then
    tail -n 30 "$log" >&2
    say "pip failed; the full log is $log"
    exit 1
fi
echo "$want" > "$stamp"
say "ready"
