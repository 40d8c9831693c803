"""diodenet.hdl."""
