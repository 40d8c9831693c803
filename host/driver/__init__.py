"""The board driver: a controller (docs/hardware.md) behind the measurement seam.

* `client` -- the host's serial framing client (requests, replies, retries, resynchronization);
* `codes` -- the front-end's converter codes of model quantities (lines, perturbations, readings,
  rheostats), nominal or calibrated;
* `batches` -- sample memory, RUN_BATCH and the recovery of lost result frames;
* `board_driver` -- `BoardDriver`, the `seam.MeasurementBackend` on a board's URL.

The driver is the one part of host/ that reaches upward (hdl.protocol, boards, analog.calibration).
"""
