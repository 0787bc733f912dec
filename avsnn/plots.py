"""Figures the book draws from library results (matplotlib only, no computation of results).

Each function takes already computed arrays (a confusion matrix, a distance matrix, a
history) and an optional ``ax``; it returns the matplotlib ``Figure`` so chapters stay
narrative.
"""

from __future__ import annotations

from typing import Optional, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch


def _axes(ax, figsize):
    if ax is None:
        fig, ax = plt.subplots(figsize=figsize)
    return ax.figure, ax


def _np(x) -> np.ndarray:
    return x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


def image_grid(images, labels, classes: Sequence[str], per_class: int = 6):
    """A grid of ``per_class`` images (uint8 ``[N, 3, H, W]``) for each class, one row per class."""
    images, labels = _np(images), _np(labels)
    fig, axes = plt.subplots(len(classes), per_class, figsize=(per_class * 0.9, len(classes) * 0.95))
    for row, name in enumerate(classes):
        idx = np.flatnonzero(labels == row)[:per_class]
        for col in range(per_class):
            ax = axes[row, col]
            ax.set_xticks([])
            ax.set_yticks([])
            if col < len(idx):
                ax.imshow(images[idx[col]].transpose(1, 2, 0))
        axes[row, 0].set_ylabel(name, rotation=0, ha="right", va="center", fontsize=8)
    fig.subplots_adjust(wspace=0.05, hspace=0.05)
    return fig


def spectrogram_grid(
    spectrograms,
    labels,
    classes: Sequence[str],
    per_class: int = 3,
    sample_rate: Optional[int] = None,
    hop_length: Optional[int] = None,
):
    """``per_class`` log-mel spectrograms ``[N, 1, mels, frames]`` per class, classes in columns of two."""
    specs, labels = _np(spectrograms), _np(labels)
    ncols = 2 * per_class
    nrows = (len(classes) + 1) // 2
    fig, axes = plt.subplots(nrows, ncols, figsize=(ncols * 1.3, nrows * 1.1), sharex=True, sharey=True)
    vmin, vmax = np.percentile(specs, [1, 99.5])
    for c, name in enumerate(classes):
        idx = np.flatnonzero(labels == c)[:per_class]
        row, col0 = c // 2, (c % 2) * per_class
        for k in range(per_class):
            ax = axes[row, col0 + k]
            ax.set_xticks([])
            ax.set_yticks([])
            if k < len(idx):
                ax.imshow(specs[idx[k], 0], origin="lower", aspect="auto", vmin=vmin, vmax=vmax, cmap="magma")
        axes[row, col0].set_title(name, fontsize=7, loc="left")
    fig.subplots_adjust(wspace=0.05, hspace=0.35)
    return fig


def training_history(histories: dict, keys=("train_loss", "test_accuracy")):
    """One panel per key, one line per run: ``histories = {label: [epoch dicts]}``."""
    fig, axes = plt.subplots(1, len(keys), figsize=(4.2 * len(keys), 3))
    axes = np.atleast_1d(axes)
    for ax, key in zip(axes, keys):
        for label, hist in histories.items():
            epochs = [h["epoch"] for h in hist if key in h]
            ax.plot(epochs, [h[key] for h in hist if key in h], "o-", ms=3, label=label)
        ax.set_xlabel("epoch")
        ax.set_title(key.replace("_", " "))
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    return fig


def confusion(matrix, classes: Sequence[str], ax=None, title: str = ""):
    """A row-normalised confusion matrix (rows: true class), values printed in the cells."""
    m = _np(matrix)
    fig, ax = _axes(ax, (5, 4.4))
    im = ax.imshow(m, vmin=0, vmax=1, cmap="Blues")
    n = len(classes)
    for i in range(n):
        for j in range(n):
            if m[i, j] >= 0.005:
                ax.text(
                    j,
                    i,
                    f"{m[i, j]:.2f}",
                    ha="center",
                    va="center",
                    fontsize=6,
                    color="white" if m[i, j] > 0.6 else "black",
                )
    ax.set_xticks(range(n), range(n))
    ax.set_yticks(range(n), [f"{i} {c}" for i, c in enumerate(classes)], fontsize=7)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title(title)
    fig.colorbar(im, ax=ax, fraction=0.046)
    return fig


def distance_matrix(matrix, sorted_labels, ax=None, title: str = ""):
    """A cosine-distance matrix of samples sorted by class (Eq. 23; the paper's Figs. 6 and 9).

    Like the paper's heatmaps, each panel has its own colour scale (0 to its largest distance,
    shown by the colour bar): compare panels by their numbers, not by their colours.
    """
    m, lab = _np(matrix), _np(sorted_labels)
    fig, ax = _axes(ax, (4, 4))
    im = ax.imshow(m, vmin=0, vmax=max(float(m.max()), 1e-6), cmap="viridis")
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.02)
    edges = np.flatnonzero(np.diff(lab)) + 0.5
    for e in edges:
        ax.axhline(e, color="w", lw=0.3)
        ax.axvline(e, color="w", lw=0.3)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title, fontsize=9)
    return fig


def degradation_curves(panels: dict, references: Optional[dict] = None, scale: float = 100.0):
    """Accuracy against degradation, one panel per degradation and one line per model.

    ``panels = {axis title: (tick labels, {model: [[value per level] per seed]})}``: each line is the
    mean over seeds, its band spans the lowest to the highest seed. ``references = {label: value}``
    are drawn as dashed horizontal lines on every panel. Values are fractions shown times ``scale``.
    """
    fig, axes = plt.subplots(1, len(panels), figsize=(4.6 * len(panels), 3.6), sharey=True, squeeze=False)
    for ax, (title, (ticks, curves)) in zip(axes[0], panels.items()):
        x = np.arange(len(ticks))
        for model, per_seed in curves.items():
            v = scale * np.asarray(per_seed, dtype=float)
            (line,) = ax.plot(x, v.mean(0), "o-", ms=3, label=model)
            ax.fill_between(x, v.min(0), v.max(0), color=line.get_color(), alpha=0.15, lw=0)
        for (label, value), style in zip((references or {}).items(), ("--", ":", "-.")):
            ax.axhline(scale * value, color="0.3", ls=style, lw=1, label=label)
        ax.set_xticks(x, ticks)
        ax.set_xlabel(title)
        ax.grid(alpha=0.3)
    axes[0, 0].set_ylabel("test accuracy (%)" if scale == 100.0 else "test accuracy")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=4, fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.14, 1, 1))
    return fig


#: Face colours of the vision, audio and fusion boxes of :func:`pipeline_figure`.
_VISION, _AUDIO, _FUSION = "#dbe9f6", "#fde5cf", "#e3f1dc"


def pipeline_figure(visual_dim: int = 512, audio_dim: int = 27136):
    """The paper's pipeline (its Fig. 1), drawn as boxes and arrows.

    An image goes through L2-ActSpikeNet (a spiking ResNet18, Section IV-C) to an L2-normalised
    visual feature (Eqs. 10-11); an audio clip becomes a log-mel spectrogram and goes through the
    spiking audio network (Section IV-D) to an L2-normalised audio feature; the two are
    concatenated and the SMLP (Section IV-E) turns them into per-class spike counts (Eq. 14).
    ``visual_dim`` / ``audio_dim`` label the feature sizes (the paper's 512 and 27136 by default).
    Returns the ``Figure``; each box is an axes text whose ``gid`` is its name.
    """
    if visual_dim < 1 or audio_dim < 1:
        raise ValueError(f"feature sizes must be positive, got visual_dim={visual_dim}, audio_dim={audio_dim}")
    boxes = {
        "image": (0.06, 0.8, "image\n3 x H x W", _VISION),
        "vision_net": (0.34, 0.8, "L2-ActSpikeNet\n(spiking\nResNet18)", _VISION),
        "vision_feature": (0.6, 0.8, f"L2-normalised\nvisual feature\n{visual_dim}-d", _VISION),
        "audio": (0.06, 0.2, "audio\nclip", _AUDIO),
        "log_mel": (0.2, 0.2, "log-mel\nspectrogram\n64 mels", _AUDIO),
        "audio_net": (0.39, 0.2, "spiking audio\nnetwork (3 x\nConv-BN-\nLIF-Pool)", _AUDIO),
        "audio_feature": (0.6, 0.2, f"L2-normalised\naudio feature\n{audio_dim}-d", _AUDIO),
        "concat": (0.6, 0.5, f"concatenate\n{visual_dim + audio_dim}-d", _FUSION),
        "smlp": (0.79, 0.5, "SMLP\n(BN, Linear-\nBN-LIF)", _FUSION),
        "counts": (0.94, 0.5, "class\nspike\ncounts", _FUSION),
    }
    arrows = [
        ("image", "vision_net"),
        ("vision_net", "vision_feature"),
        ("audio", "log_mel"),
        ("log_mel", "audio_net"),
        ("audio_net", "audio_feature"),
        ("vision_feature", "concat"),
        ("audio_feature", "concat"),
        ("concat", "smlp"),
        ("smlp", "counts"),
    ]
    fig, ax = plt.subplots(figsize=(8, 3.9))
    ax.set_axis_off()
    texts = {}
    for name, (x, y, label, colour) in boxes.items():
        texts[name] = ax.text(
            x,
            y,
            label,
            ha="center",
            va="center",
            fontsize=8,
            gid=name,
            bbox={"boxstyle": "round,pad=0.45", "fc": colour, "ec": "0.35", "lw": 0.8},
        )
    for start, end in arrows:
        ax.annotate(
            "",
            xy=(0.5, 0.5),
            xycoords=texts[end],
            xytext=(0.5, 0.5),
            textcoords=texts[start],
            arrowprops={
                "arrowstyle": "-|>",
                "color": "0.3",
                "lw": 1.1,
                "shrinkA": 0,
                "shrinkB": 0,
                "patchA": texts[start].get_bbox_patch(),
                "patchB": texts[end].get_bbox_patch(),
            },
        )
    ax.text(0.005, 0.97, "vision", color="#2b6cb0", fontsize=10, weight="bold", va="top")
    ax.text(0.005, 0.03, "audio", color="#c05621", fontsize=10, weight="bold", va="bottom")
    ax.text(0.79, 0.7, "fusion", color="#2f855a", fontsize=10, weight="bold", ha="center")
    fig.tight_layout()
    return fig
