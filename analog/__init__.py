"""diodenet.analog."""


def demo_stage(model_path, out_dir, **kwargs):
    """Netlist and ngspice verification of a trained model for `diodenet demo` (see analog.verify)."""
    from .verify import demo_stage as _demo_stage
    return _demo_stage(model_path, out_dir, **kwargs)
