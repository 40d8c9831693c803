"""Subcommands of the `diodenet` command, one module each."""
