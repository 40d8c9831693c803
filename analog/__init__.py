"""diodenet.analog: resistor-diode circuits in ngspice (through PySpice) -- netlists of real parts,
device cards, the spice backend, verification against the reference solver, calibration fits and
Monte Carlo over part tolerances.  See analog/README.md."""
