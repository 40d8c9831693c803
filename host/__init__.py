"""diodenet.host."""
