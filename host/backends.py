"""Choosing a measurement backend by name: `ideal`, `spice`, or a pyserial URL of a board.

The same training script runs on each (docs/science.md §2): `open_backend(name, network)` returns an
object implementing `seam.MeasurementBackend`.
"""

import importlib

from .seam import IdealBackend

__all__ = ["open_backend", "is_board_url", "BACKENDS"]

BACKENDS = ("ideal", "spice")

# Backends that live in other subpackages, imported only when asked for: name → (module, class).
_EXTERNAL = {
    "spice": ("diodenet.analog.spice_backend", "SpiceBackend"),
}
_BOARD = ("diodenet.host.driver.board_driver", "BoardDriver")


def _load(module_name, class_name, what):
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        raise ValueError(f"the {what} backend is not available in this installation ({exc.name} is missing)") from None
    return getattr(module, class_name)


def is_board_url(name):
    """True for a board's pyserial URL: a URL scheme (socket://, rfc2217://, …) or a serial port."""
    return "://" in name or name.startswith("/dev/") or name.upper().startswith("COM")


def open_backend(name, network, **options):
    """A measurement backend for `network`: 'ideal', 'spice', or a board's pyserial URL
    (e.g. socket://127.0.0.1:PORT for the co-simulated board, /dev/ttyUSB1 for a real one)."""
    if name == "ideal":
        if options:
            raise ValueError(f"the ideal backend takes no options, got {sorted(options)}")
        return IdealBackend(network)
    if name in _EXTERNAL:
        return _load(*_EXTERNAL[name], name)(network, **options)
    if is_board_url(name):
        return _load(*_BOARD, "board")(network, name, **options)
    raise ValueError(f"unknown backend {name!r}; use one of {', '.join(BACKENDS)} or a board's serial URL")
