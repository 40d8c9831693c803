"""Training a resistor–diode network: mini-batch gradient descent on its conductances.

Training runs against a measurement backend (`seam`): the ideal reference solver by default, or a
device-level or hardware backend.  Each step gets ∂ℓ/∂g by one of three methods:

* "implicit" — implicit differentiation with the reference solver (ideal backend only);
* "linearization" — hardware linearization measured through the backend (`hwlin`): a forward
  and an output-perturbed measurement per sample, ∂ℓ/∂g_e = −V_e·λ_e;
* "eqprop" — equilibrium propagation with a finite nudge, the baseline.

The update is Adam or SGD on normalized conductances θ = g/g_max, projected onto
[g_min, g_max]; the backend then programs them and reports what it realized (e.g. quantized to
potentiometer codes), while the optimizer keeps the unquantized "shadow" values.  Progress shows in a bar;
with an output directory every epoch ends with an atomic checkpoint (model, optimizer state,
RNG state, history) from which `train(..., resume=True)` continues exactly; the final model,
metrics.json and a loss/accuracy plot are written there too.
"""

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from .gradients import implicit_gradient
from .hwlin import measure_gradient
from .losses import network_loss
from .metrics import diode_on_fraction, readout_metrics
from .fileio import atomic_savez, atomic_write_text
from .modelio import save_model
from .network import ResistorDiodeNetwork
from .kernels import clip, in_blocks, part_of, uniform
from .optim import make_optimizer
from .seam import IdealBackend

__all__ = ["TrainConfig", "TrainResult", "train", "evaluate", "METHODS"]

METHODS = ("implicit", "linearization", "eqprop")


@dataclass
class TrainConfig:
    epochs: int = 20
    batch_size: int = 32
    lr: float = 0.01
    optimizer: str = "adam"
    loss: str | None = None  # default: cross_entropy for classification, mse for regression
    method: str = "implicit"
    epsilon: float | None = None  # relative perturbation / nudge; None: chosen per backend (hwlin)
    centered: bool = False
    seed: int = 0
    lr_schedule: str = "constant"  # or "cosine": lr·(1 + cos(π·epoch/epochs))/2 per epoch
    # measure the whole training split again after every epoch; False: report the training
    # split from the forward settles the epoch's gradient steps measured anyway ("running"
    # figures, taken before each step's update) -- on a board this saves most of an epoch's settles
    eval_train: bool = True

    def lr_at(self, epoch):
        """Learning rate of epoch (0-based)."""
        if self.lr_schedule == "cosine" and self.epochs > 0:
            return self.lr * 0.5 * (1 + np.cos(np.pi * epoch / self.epochs))
        return self.lr

    def validate(self):
        if self.epochs < 0 or self.batch_size < 1 or not self.lr > 0:
            raise ValueError("epochs must be ≥ 0, batch_size ≥ 1 and lr > 0")
        if self.lr_schedule not in ("constant", "cosine"):
            raise ValueError(f"unknown lr_schedule {self.lr_schedule!r}; use 'constant' or 'cosine'")
        if self.method not in METHODS:
            raise ValueError(f"unknown method {self.method!r}; use one of {', '.join(METHODS)}")
        if self.epsilon is not None and not self.epsilon > 0:
            raise ValueError(f"epsilon must be > 0, got {self.epsilon}")


@dataclass
class TrainResult:
    network: ResistorDiodeNetwork
    history: list
    wall_time: float
    epochs_run: int | None = None     # epochs trained by this call (0: a finished run re-run)

    @property
    def final(self):
        return self.history[-1] if self.history else {}


def _loss_kind(config, data):
    return config.loss or ("cross_entropy" if data.task == "classification" else "mse")


def evaluate(net, x, y, loss_kind="cross_entropy", backend=None, chunk=512):
    """Loss and (for classification) accuracy on x, y — measured through `backend` when given —
    with the fraction of conducting diodes (`diode_on_fraction`: the node at or below its
    diode's reference, within half the reading's resolution) and, for a front-end whose lines
    clip, how many line voltages were clipped.

    A sample whose measurement failed counts as wrong and is left out of the loss."""
    if backend is None:
        v = np.concatenate([net.solve(x[s:s + chunk]).x for s in range(0, len(x), chunk)]
                           or [np.zeros((0, net.n_neurons))])
        ok = np.ones(len(v), dtype=bool)
    else:
        meas = [backend.measure(net.source_voltages(x[s:s + chunk])) for s in range(0, len(x), chunk)]
        v = np.concatenate([m.v for m in meas])
        ok = np.concatenate([m.ok for m in meas])
    out = readout_metrics(net, v, ok, y, loss_kind)
    if net.diodes.any():
        res = getattr(backend, "resolution", 0.0) or 0.0
        out["diode_on_fraction"] = diode_on_fraction(net, v[ok], v_on=max(res / 2, 1e-9))
    clipped = net.encoding.n_clipped(x)
    if clipped:
        out["clipped_lines"] = clipped
    return out


class ArrayTask:
    """One network on one measurement backend, seen by the training loop as a flat vector of
    conductances (the interface a cascade implements too)."""

    def __init__(self, backend):
        self.backend = backend
        self.measured = None if isinstance(backend, IdealBackend) else backend

    @property
    def model(self):
        return self.backend.network

    @property
    def conductance(self):
        return self.backend.network.conductance

    @property
    def g_min(self):
        return self.backend.network.g_min

    @property
    def g_max(self):
        return self.backend.network.g_max

    @property
    def n_features(self):
        return self.backend.network.encoding.n_features

    def restore(self, model):
        self.backend.network = model

    def program(self, g):
        net = self.backend.network
        realized = self.backend.program(g)
        if realized is not self.backend.network.conductance:  # the backend reports what it realized
            self.backend.network = net.with_realized(realized)
        return self.backend.network.conductance

    def gradient(self, x, y, loss_kind, config):
        """(loss, ∂ℓ/∂g, number of samples skipped because a measurement failed)."""
        net = self.backend.network
        if config.method == "implicit":
            eq = net.solve(x)
            self.last_forward = (net, eq.x, np.ones(len(eq.x), dtype=bool), 1e-9)
            loss, dl_dv, _ = network_loss(net, eq.x, y, loss_kind)
            return loss, implicit_gradient(net, dl_dv, x, equilibrium=eq).conductance, 0
        u = net.source_voltages(x)
        g = measure_gradient(self.backend, u, y, loss=loss_kind, method=config.method,
                             epsilon=config.epsilon, centered=config.centered)
        v_on = max((getattr(self.backend, "resolution", 0.0) or 0.0) / 2, 1e-9)
        self.last_forward = (net, g.forward.v, g.forward.ok & g.ok, v_on)
        return g.loss, g.conductance, g.n_failed

    def evaluate(self, x, y, loss_kind):
        return evaluate(self.backend.network, x, y, loss_kind, self.measured)

    def title(self, data):
        net = self.backend.network
        return f"{data.name}: {net.n_neurons} neurons, {net.n_edges} conductances"


def _fingerprint(task, data, config):
    meta, arrays = task.model.to_arrays()
    return {"dataset": data.name, "kind": meta["kind"], "n_params": int(task.conductance.size),
            "structure": int(sum(int(np.asarray(v).sum()) for k, v in arrays.items() if "edges" in k)),
            "loss": _loss_kind(config, data), "batch_size": config.batch_size, "optimizer": config.optimizer,
            **getattr(task, "settings", {})}     # a task's own settings (e.g. a tolerance-aware run's)


def train(model, data, config=None, out_dir=None, *, backend=None, resume=True, progress=True,
          run_info=None):
    """Train `model` on `data` (a `datasets.Dataset`); returns a `TrainResult`.

    model: a `ResistorDiodeNetwork` (measured through `backend`, default the ideal reference
    solver), a `cascade.Cascade` (backend: None or one backend per stage), or any model whose
    `task(backend)` hands out the training task (e.g. `analog.tolerance_training.ToleranceAware`).
    The result's network holds the realized conductances.

    out_dir is locked while the run writes to it (`fileio.FolderLock`: a second run into it is
    refused, naming the first one's PID).  A resume checks that the checkpoint was made with
    the same configuration -- `config` and `run_info` (further settings that shaped the run,
    e.g. the command line's backend and network options) -- and refuses otherwise, naming the
    differing options; `epochs` may grow under a constant learning rate (the run continues)."""
    config = config or TrainConfig()
    config.validate()
    if out_dir is None:
        return _train(model, data, config, None, backend, resume, progress, run_info)
    from .fileio import FolderLock
    with FolderLock(out_dir, "training run"):
        return _train(model, data, config, out_dir, backend, resume, progress, run_info)


def _train(model, data, config, out_dir, backend, resume, progress, run_info):
    if isinstance(model, ResistorDiodeNetwork):
        task = ArrayTask(backend or IdealBackend(model))
    else:
        task = model.task(backend)
    if config.method == "implicit" and getattr(task, "measured", None) is not None:
        name = getattr(backend, "name", type(backend).__name__)
        raise ValueError("method 'implicit' needs the reference solver (ideal backend); on a "
                         f"{name} backend use 'linearization' or 'eqprop'")
    if task.n_features != data.n_features:
        raise ValueError(f"model expects {task.n_features} features, dataset {data.name} has {data.n_features}")
    loss_kind = _loss_kind(config, data)
    out = Path(out_dir) if out_dir is not None else None
    ckpt = out / "checkpoint.npz" if out else None
    g_max = task.g_max
    scale = np.where(g_max > 0, g_max, 1.0)
    lower = task.g_min / scale
    upper = np.where(g_max > 0, 1.0, 0.0)
    opt = make_optimizer(config.optimizer, config.lr)
    step = _ProjectedStep(opt, scale, lower, upper)
    rng = np.random.default_rng(config.seed)
    history, start_epoch, elapsed = [], 0, 0.0
    fingerprint = _fingerprint(task, data, config)
    shadow = task.conductance.copy()  # the optimizer's unquantized conductances
    run_info = _jsonable(run_info or {})
    if ckpt is not None and resume and ckpt.exists():
        restored, shadow, history, start_epoch, elapsed = _load_checkpoint(
            ckpt, type(task.model), opt, rng, fingerprint, config, run_info)
        _check_same_network(ckpt, restored, task.model)
        task.restore(restored)
    finished_before = start_epoch >= config.epochs and start_epoch > 0
    task.program(shadow)

    t0 = time.perf_counter() - elapsed
    n_train = len(data.x_train)
    bar = tqdm(range(start_epoch, config.epochs), desc=f"train {data.name}", unit="epoch",
               disable=not progress, initial=start_epoch, total=config.epochs)
    for epoch in bar:
        opt.lr = config.lr_at(epoch)
        order = rng.permutation(n_train)
        losses, skipped, running = [], 0, []
        inner = tqdm(total=n_train, desc=f"epoch {epoch + 1}", unit="sample", leave=False, position=1,
                     disable=not progress or n_train < 20 * config.batch_size)  # long epochs show progress
        for s in range(0, n_train, config.batch_size):
            idx = order[s:s + config.batch_size]
            inner.update(len(idx))
            task.board_seed = [config.seed, epoch, s]      # seeds a task's per-step draws (tolerance-aware)
            loss, grad_g, failed = task.gradient(data.x_train[idx], data.y_train[idx], loss_kind, config)
            if not config.eval_train and getattr(task, "last_forward", None) is not None:
                running.append((*task.last_forward, idx))
            skipped += failed
            if failed == len(idx):
                continue  # nothing measured: no step on made-up data
            shadow = step.take(shadow, grad_g)
            task.program(shadow)
            losses.append(loss * len(idx))
        inner.close()
        record = {"epoch": epoch + 1, "train_loss_running": float(np.sum(losses) / n_train)}
        # conductances the projection holds at their upper bound (a front-end's g_max keeps every
        # rheostat inside its part's current limit: a projection, not an error, counted here)
        tunable = task.g_min < task.g_max
        record["at_g_max"] = int(np.sum(shadow[tunable] >= task.g_max[tunable] * (1 - 1e-12)))
        if skipped:
            record["skipped_samples"] = skipped
        splits = [("test", data.x_test, data.y_test)]
        if config.eval_train:
            splits.insert(0, ("train", data.x_train, data.y_train))
        elif running:
            record.update(_running_metrics(running, data, loss_kind))
        for split, x, y in splits:
            for key, val in task.evaluate(x, y, loss_kind).items():
                record[f"{split}_{key}"] = val
        record["wall_time"] = time.perf_counter() - t0
        history.append(record)
        bar.set_postfix({k: f"{record[k]:.4f}" for k in ("train_loss", "test_loss", "test_accuracy") if k in record})
        if ckpt is not None:
            _save_checkpoint(ckpt, task.model, shadow, opt, rng, history, epoch + 1, record["wall_time"],
                             fingerprint, config, run_info)
    wall = time.perf_counter() - t0
    # a re-run of a finished run leaves its results as they are (they describe what ran)
    if out is not None and not (finished_before and all((out / f).exists() for f in _OUTPUTS)):
        _write_outputs(out, task, history, config, data)
    return TrainResult(task.model, history, wall, max(0, config.epochs - start_epoch))


class _ProjectedStep:
    """One optimizer step on the normalized conductances θ = g/g_max, projected onto
    [g_min/g_max, 1], in one pass of cache-sized blocks (1.6 M conductances at MNIST's scale),
    bit-identical to clip(opt.step(g/s, ∂ℓ/∂g·s), lower, upper)·s."""

    def __init__(self, opt, scale, lower, upper):
        # limits shared by every conductance become scalars: three streams fewer per step
        self.opt, self.scale, self.lower, self.upper = opt, uniform(scale), uniform(lower), uniform(upper)

    def take(self, shadow, grad):
        opt, scale, lower, upper = self.opt, self.scale, self.lower, self.upper
        new = np.empty_like(shadow)  # a fresh array: a backend may keep what it is programmed with
        if not hasattr(opt, "update"):
            theta = np.clip(opt.step(shadow / scale, grad * scale), lower, upper)
            np.multiply(theta, scale, out=new)
            return new
        opt.begin(shadow.size)

        def work(part):  # one pass per cache-sized block: normalize, step, project, rescale
            s = part_of(scale, part)
            theta = np.divide(shadow[part], s)
            g = np.multiply(grad[part], s)
            opt.update(part, theta, g, theta)
            clip(theta, part_of(lower, part), part_of(upper, part), out=theta)
            np.multiply(theta, s, out=new[part])

        in_blocks(work, shadow.size)
        return new


def _running_metrics(running, data, loss_kind):
    """Training-split figures from the forward settles of an epoch's gradient steps."""
    correct, total, on, n_on = 0, 0, 0.0, 0
    for net, v, ok, v_on, idx in running:
        y = np.asarray(data.y_train)[idx]
        total += len(idx)
        if ok.any():
            _, _, pred = network_loss(net, v[ok], y[ok], loss_kind)
            if loss_kind == "cross_entropy":
                correct += int(np.sum(pred == y[ok]))
            if net.diodes.any():
                frac = diode_on_fraction(net, v[ok], v_on=v_on)
                if np.isfinite(frac):
                    on += frac * int(ok.sum())
                    n_on += int(ok.sum())
    out = {}
    if loss_kind == "cross_entropy" and total:
        out["train_accuracy_running"] = correct / total
    if n_on:
        out["train_diode_on_fraction"] = on / n_on
    return out


_OUTPUTS = ("model.npz", "metrics.json", "training.png")


def _jsonable(info):
    """run_info as it reads back from the checkpoint's JSON (tuples become lists, …)."""
    return json.loads(json.dumps(info, default=str))


def _save_checkpoint(path, net, shadow, opt, rng, history, epoch, wall, fingerprint, config, run_info):
    meta, arrays = net.to_arrays()
    arrays = {**arrays, "shadow": shadow}
    state = {"epoch": epoch, "wall_time": wall, "history": history, "rng": rng.bit_generator.state,
             "fingerprint": fingerprint, "config": asdict(config), "run": run_info, "model": meta}
    opt_state = {f"opt_{k}": v for k, v in opt.state().items()}
    atomic_savez(path, state=np.array(json.dumps(state)), **arrays, **opt_state)


_FRESH = "pass --no-resume (resume=False) to start afresh (the checkpoint is overwritten) or choose another output folder"


def _option(key):
    return "--" + key.replace("_", "-")


def config_differences(saved, config, saved_run, run_info, epochs_done):
    """Options whose value differs between a checkpoint and this run, as 'option saved → now'
    strings.  A setting the checkpoint does not record counts as its default.  epochs may grow
    under a constant learning rate (the run continues); under a schedule it must match."""
    from dataclasses import fields
    diffs = []
    now = asdict(config)
    for f in fields(TrainConfig):
        old = saved.get(f.name, f.default)
        new = now[f.name]
        if f.name == "epochs":
            if new == old or (new >= epochs_done and config.lr_schedule == "constant"
                              and saved.get("lr_schedule", "constant") == "constant"):
                continue
        if old != new:
            diffs.append(f"{_option(f.name)} {old} → {new}")
    for key in sorted(set(saved_run) | set(run_info)):
        old, new = saved_run.get(key), run_info.get(key)
        if old != new:
            diffs.append(f"{_option(key)} {old} → {new}")
    return diffs


_STATE_TYPES = {"epoch": int, "wall_time": (int, float), "history": list, "rng": dict, "fingerprint": dict,
                "config": dict, "model": dict}


def _check_same_network(path, restored, model):
    """The checkpoint's network is this run's apart from its conductances (else a ValueError)."""
    meta_a, arr_a = restored.to_arrays()
    meta_b, arr_b = model.to_arrays()
    keys = sorted(k for k in set(arr_a) | set(arr_b) if not k.endswith("conductance"))
    differ = [k for k in keys if k not in arr_a or k not in arr_b or np.shape(arr_a[k]) != np.shape(arr_b[k])
              or not np.array_equal(arr_a[k], arr_b[k])]
    if differ or json.dumps(meta_a, sort_keys=True, default=str) != json.dumps(meta_b, sort_keys=True, default=str):
        raise ValueError(f"checkpoint {path} holds another network than this run's (differing: "
                         f"{', '.join(differ) or 'its description'}); {_FRESH}")


def _check_state(state):
    """The checkpoint's JSON state has every entry, of the right type (else a ValueError)."""
    if not isinstance(state, dict):
        raise ValueError("its state is not a JSON object")
    for key, kind in _STATE_TYPES.items():
        if not isinstance(state.get(key), kind) or isinstance(state.get(key), bool):
            raise ValueError(f"its state entry {key!r} is {state.get(key)!r}, not a {getattr(kind, '__name__', 'number')}")
    if state["epoch"] < 0 or len(state["history"]) != state["epoch"] \
            or not all(isinstance(h, dict) for h in state["history"]):
        raise ValueError(f"its history does not match its epoch count {state['epoch']}")
    if not isinstance(state.get("run", {}), dict):
        raise ValueError("its state entry 'run' is not a JSON object")


def _check_optimizer_state(opt, opt_state, shadow):
    """A checkpoint's optimizer state has this optimizer's entries: vectors of the conductances'
    shape (all of them, or none before the first step), finite, counters ≥ 0, Adam's second
    moments ≥ 0 (else a ValueError)."""
    template = opt.state()
    if set(opt_state) != set(template):
        raise ValueError(f"its optimizer state has entries {sorted(opt_state)}, not {sorted(template)}")
    for k, v in opt_state.items():
        if v.ndim != np.ndim(template[k]):
            raise ValueError(f"its optimizer state {k!r} has shape {v.shape}")
        if v.ndim == 0 and not (v.dtype.kind in "iu" and v >= 0):
            raise ValueError(f"its optimizer counter {k!r} is {v!r}, not a count")
        if v.ndim and v.size and v.shape != shadow.shape:
            raise ValueError(f"its optimizer state {k!r} has shape {v.shape}, not {shadow.shape}")
        if not np.all(np.isfinite(v)):
            raise ValueError(f"its optimizer state {k!r} contains NaN or infinite values")
    if "v" in opt_state and np.any(opt_state["v"] < 0):
        raise ValueError("its optimizer state 'v' (second moments) has negative entries")
    vectors = [v.size > 0 for v in opt_state.values() if v.ndim]
    if any(vectors) and not all(vectors):
        raise ValueError("its optimizer state is partly empty")


def _load_checkpoint(path, model_class, opt, rng, fingerprint, config, run_info):
    from .fileio import read_npz
    from .modelio import check_finite
    try:
        data = read_npz(path, "training checkpoint", allow_empty=("m", "v", "velocity"))
        state = json.loads(str(data["state"]))
        _check_state(state)
        saved_fp = state["fingerprint"]
    except FileNotFoundError:
        raise
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ValueError(f"{exc if str(path) in str(exc) else f'checkpoint {path} is unreadable: {exc}'}; "
                         f"{_FRESH}") from None
    in_config = {"batch_size", "optimizer", "loss"}      # named by config_differences below
    diffs = [f"{k} {saved_fp.get(k)} → {fingerprint.get(k)}" for k in sorted(set(saved_fp) | set(fingerprint))
             if saved_fp.get(k) != fingerprint.get(k) and k not in in_config]
    diffs += config_differences(state.get("config", {}), config, state.get("run", {}), run_info, state["epoch"])
    if diffs:
        raise ValueError(f"checkpoint {path} was made with a different configuration ({'; '.join(diffs)}): "
                         f"resuming would mix two configurations; run with the checkpoint's options, or {_FRESH}")
    if state["epoch"] > config.epochs:
        raise ValueError(f"checkpoint {path} has {state['epoch']} epochs, more than --epochs {config.epochs}; "
                         f"{_FRESH}")
    try:
        model = model_class.from_arrays(state["model"], data)
        check_finite(model)
        shadow = data["shadow"]
        size = sum(st.conductance.size for st in getattr(model, "stages", [model]))
        if shadow.shape != (size,) or not np.all(np.isfinite(shadow)):
            raise ValueError(f"its optimizer conductances have shape {shadow.shape}, the model {size}")
        opt_state = {k[4:]: v for k, v in data.items() if k.startswith("opt_")}
        _check_optimizer_state(opt, opt_state, shadow)
        opt.load_state(opt_state)
        rng.bit_generator.state = state["rng"]
        return model, shadow, state["history"], state["epoch"], state["wall_time"]
    except (KeyError, TypeError, ValueError, IndexError, AttributeError) as exc:
        raise ValueError(f"checkpoint {path} is incomplete or corrupt ({type(exc).__name__}: {exc}); "
                         f"{_FRESH}") from None


def _write_outputs(out, task, history, config, data):
    from .plots import plot_training
    save_model(out / "model.npz", task.model)
    metrics = {"dataset": data.name, "config": asdict(config), **getattr(task, "settings", {}),
               "history": history, "final": history[-1] if history else {}}
    atomic_write_text(out / "metrics.json", json.dumps(metrics, indent=2))
    if history:
        plot_training(history, out / "training.png", title=task.title(data))
