"""Train the board's resistor-diode network through any measurement backend, unchanged.

    python examples/train_any_backend.py ideal
    python examples/train_any_backend.py spice
    python examples/train_any_backend.py socket://127.0.0.1:PORT     # `diodenet cosim --serve`
    python examples/train_any_backend.py /dev/ttyUSB1

The network is the one the board's analog front-end realizes (`diodenet.boards.afe.SMALL_AFE` through
`diodenet.boards.frontend.frontend_network`: rheostats from every hidden neuron to every input line
and both bias lines, from every output to every hidden neuron and the bias lines, fixed leaks and
injection resistors, all referred to the mid-rail reference).  The same front-end carries its own
parts everywhere: the spice backend takes its diode card, rheostat map and converters from the
network, the board checks them against its own.  The dataset is the built-in two-moons problem.
Gradients are measured by hardware linearization on whatever backend is given (a forward and an
output-perturbed settle per sample).  The last line printed is one JSON object.
"""

import argparse
import json
import time

from diodenet.boards.afe import SMALL_AFE
from diodenet.host.backends import open_backend
from diodenet.boards.frontend import frontend_network
from diodenet.host.datasets import feature_scale
from diodenet.host.train import TrainConfig, evaluate, train
from diodenet.sim.check import toy_dataset


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("backend", help="ideal, spice, or a board's pyserial URL")
    p.add_argument("--steps", type=int, default=4, help="training steps (one epoch)")
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--lr", type=float, default=0.01)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)

    afe = SMALL_AFE
    data = toy_dataset(afe.n_inputs, n_train=args.steps * args.batch, n_test=16, seed=args.seed)
    net = frontend_network(afe, x_scale=feature_scale(data.x_train), rng=args.seed)
    t0 = time.monotonic()
    backend = open_backend(args.backend, net)
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
