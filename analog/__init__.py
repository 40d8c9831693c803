"""diodenet.analog."""
