"""Plots people would rather look at than read: training curves (PNG, written atomically)."""

import io

import numpy as np
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from .fileio import atomic_write_bytes  # noqa: E402

__all__ = ["plot_training", "save_figure", "plot_path"]


def _formats():
    """Picture formats matplotlib writes (its canvas's supported file types)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    return set(FigureCanvasAgg.get_supported_filetypes())


def plot_path(arg, default_name, option="--plot"):
    """Where a plot goes: `arg` itself when it names a file with a picture suffix (.png, .svg,
    .pdf, …); `arg/default_name` when it is an existing folder or ends with a slash.  Anything
    else is refused (a ValueError naming the option), so a plot never lands beside what the
    user named (matplotlib would append .png to a suffix-less name)."""
    from pathlib import Path
    text = str(arg)
    if Path(text).is_dir() or text.endswith(("/", "\\")):
        Path(text).mkdir(parents=True, exist_ok=True)
        return str(Path(text) / default_name)
    suffix = Path(text).suffix.lower().lstrip(".")
    if suffix not in _formats():
        raise ValueError(f"{option} {text}: name a picture file (.png, .svg, .pdf) or an existing folder")
    return text


def save_figure(fig, path):
    """Write the figure to exactly `path` (atomically), in the format its suffix names (PNG if none)."""
    from pathlib import Path
    suffix = Path(str(path)).suffix.lower().lstrip(".")
    buf = io.BytesIO()
    fig.savefig(buf, format=suffix if suffix in _formats() else "png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())


def plot_training(history, path, title="training"):
    """Loss (train/test), for classification accuracy, and the fraction of conducting diodes per
    epoch (a linear array would show 0 % or 100 % here)."""
    epochs = [h["epoch"] for h in history]
    has_acc = any("test_accuracy" in h for h in history)
    has_on = any("train_diode_on_fraction" in h for h in history)
    panels = 1 + has_acc + has_on
    fig, axes = plt.subplots(1, panels, figsize=(5 * panels, 3.6))
    axes = list(np.atleast_1d(axes))
    if has_on:
        ax = axes[-1]
        ax.plot(epochs, [100 * h.get("train_diode_on_fraction", np.nan) for h in history], label="train")
        ax.plot(epochs, [100 * h.get("test_diode_on_fraction", np.nan) for h in history], label="test")
        ax.set_xlabel("epoch")
        ax.set_ylabel("conducting diodes (%)")
        ax.set_ylim(0, 100)
        ax.legend()
        ax.grid(alpha=0.3)
    axes[0].plot(epochs, [h.get("train_loss", h.get("train_loss_running")) for h in history],
                 label="train")
    axes[0].plot(epochs, [h["test_loss"] for h in history], label="test")
    axes[0].set_xlabel("epoch")
    axes[0].set_ylabel("loss")
    axes[0].set_yscale("log")
    axes[0].legend()
    axes[0].grid(alpha=0.3)
    if has_acc:
        axes[1].plot(epochs, [100 * h.get("train_accuracy", h.get("train_accuracy_running", np.nan))
                              for h in history], label="train")
        axes[1].plot(epochs, [100 * h["test_accuracy"] for h in history], label="test")
        axes[1].set_xlabel("epoch")
        axes[1].set_ylabel("accuracy (%)")
        axes[1].legend()
        axes[1].grid(alpha=0.3)
    fig.suptitle(title)
    save_figure(fig, path)
