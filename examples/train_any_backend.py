"""Train the AFE's resistor-diode network through any measurement backend, unchanged.

    python examples/train_any_backend.py ideal
    python examples/train_any_backend.py spice
    python examples/train_any_backend.py socket://127.0.0.1:PORT     # `diodenet cosim --serve`
    python examples/train_any_backend.py /dev/ttyUSB1 --hidden 6 --inputs 4 --r-inject 47e3

The network is the one the analog front-end realizes (`diodenet.host.board.afe_network`:
rheostats from every hidden neuron to every input line and the bias line, from every output to
every hidden neuron, fixed leaks and injection resistors); the dataset is the built-in two-moons
problem with each feature fed as a complementary pair on two unipolar DAC lines.  Gradients are
measured by hardware linearization on whatever backend is given (a forward and an
output-perturbed settle per sample).  The last line printed is one JSON object.
"""

import argparse
import json
import time

from diodenet.analog.devices import adc_quantizer, dac_quantizer
from diodenet.boards.afe import AFE
from diodenet.host.backends import open_backend
from diodenet.host.board import afe_network
from diodenet.host.train import TrainConfig, evaluate, train
from diodenet.sim.check import toy_dataset


def backend_options(name):
    """The only per-backend difference: the spice backend is told the AFE's converters
    (a board has its own, and the ideal backend has none)."""
    if name == "spice":
        return {"dac": dac_quantizer(), "adc": adc_quantizer()}
    return {}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("backend", help="ideal, spice, or a board's pyserial URL")
    p.add_argument("--hidden", type=int, default=3)
    p.add_argument("--outputs", type=int, default=2)
    p.add_argument("--inputs", type=int, default=2, help="differential inputs (line pairs)")
    p.add_argument("--r-inject", type=float, default=10e3, help="injection resistor, ohms")
    p.add_argument("--steps", type=int, default=4, help="training steps (one epoch)")
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--lr", type=float, default=0.05)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)

    afe = AFE(n_hidden=args.hidden, n_outputs=args.outputs, n_inputs=args.inputs, r_inject=args.r_inject)
    net = afe_network(afe, rng=args.seed)
    data = toy_dataset(afe.n_inputs, n_train=args.steps * args.batch, n_test=16, seed=args.seed)
    t0 = time.monotonic()
    backend = open_backend(args.backend, net, **backend_options(args.backend))
    try:
        before = evaluate(backend.network, data.x_test, data.y_test, backend=backend)
        result = train(backend.network, data,
                       TrainConfig(epochs=1, batch_size=args.batch, lr=args.lr, method="linearization",
                                   seed=args.seed),
                       backend=backend, progress=False)
    finally:
        backend.close()
    out = {"backend": args.backend, "loss_before": before["loss"],
           "loss_after": result.final["test_loss"], "accuracy_before": before.get("accuracy"),
           "accuracy_after": result.final.get("test_accuracy"), "steps": args.steps,
           "wall_s": round(time.monotonic() - t0, 2)}
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    main()
