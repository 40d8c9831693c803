"""diodenet.boards."""
