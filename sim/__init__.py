"""diodenet.sim."""
