"""Plots people would rather look at than read: training curves (PNG, written atomically)."""

import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from .modelio import atomic_write_bytes  # noqa: E402

__all__ = ["plot_training", "save_figure"]


def save_figure(fig, path):
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())


def plot_training(history, path, title="training"):
    """Loss (train/test) and, for classification, accuracy per epoch."""
    epochs = [h["epoch"] for h in history]
    has_acc = any("test_accuracy" in h for h in history)
    fig, axes = plt.subplots(1, 2 if has_acc else 1, figsize=(10 if has_acc else 5, 3.6))
    axes = axes if has_acc else [axes]
    axes[0].plot(epochs, [h["train_loss"] for h in history], label="train")
    axes[0].plot(epochs, [h["test_loss"] for h in history], label="test")
    axes[0].set_xlabel("epoch")
    axes[0].set_ylabel("loss")
    axes[0].set_yscale("log")
    axes[0].legend()
    axes[0].grid(alpha=0.3)
    if has_acc:
        axes[1].plot(epochs, [100 * h["train_accuracy"] for h in history], label="train")
        axes[1].plot(epochs, [100 * h["test_accuracy"] for h in history], label="test")
        axes[1].set_xlabel("epoch")
        axes[1].set_ylabel("accuracy (%)")
        axes[1].legend()
        axes[1].grid(alpha=0.3)
    fig.suptitle(title)
    save_figure(fig, path)
