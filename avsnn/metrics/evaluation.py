"""Evaluation: a model (or a trained run) run over a dataset, and the metrics of its outputs.

* :func:`run_model` -- forward a dataset in eval mode, keeping decisions, spike counts and features.
* :func:`evaluate` -- every metric of :mod:`avsnn.metrics.measures` for a model on a dataset, with the
  firing rates, operation counts and energy (:func:`avsnn.models.count_ops`), as JSON-able values.
* :func:`firing_rates` -- per spiking layer, from :func:`avsnn.models.count_ops`.
"""

from __future__ import annotations

import warnings
from typing import Optional

import torch

from avsnn.data.batching import as_array_data
from avsnn.device import eval_batch_size

from .measures import (
    accumulate,
    accuracy,
    confusion_matrix,
    energy_from_counts,
    per_class_accuracy,
    predict,
    separability,
    silent_share,
)


def firing_rates(model, *inputs) -> dict:
    """Firing rate per spiking layer (fraction of neuron-timesteps that spike).

    Computed by :func:`avsnn.models.count_ops`.
    """
    from avsnn.models import count_ops

    return {k: float(v) for k, v in count_ops(model, *inputs).firing_rates.items()}


@torch.no_grad()
def run_model(
    model, data, batch_size: Optional[int] = None, device="cpu", amp: bool = False, z_av: bool = True
) -> dict:
    """Forward ``data`` (an :class:`avsnn.data.batching.ArrayData`) in eval mode.

    ``batch_size`` samples at a time (default :func:`avsnn.device.eval_batch_size`).

    Returns ``pred [N]``, ``labels [N]``, ``counts [N, C]``, ``current [N, C]`` (the output layer's
    input current summed over time, the tie-break of :func:`predict`), ``features [N, d]``
    (accumulated over time) and ``z_av [N, d]`` on the CPU; ``z_av=False`` leaves ``z_av`` out
    (``None``), which halves what a wide feature (the ``no_pooling`` audio ablation) holds in memory.
    """
    was_training = model.training
    model.eval()
    device = torch.device(device)
    batch_size = batch_size or eval_batch_size(device)
    out = {"pred": [], "labels": [], "counts": [], "current": [], "features": [], "z_av": []}
    try:
        for x, y in data.batches(batch_size, device):
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp and device.type == "cuda"):
                o = model(x)
            out["pred"].append(predict(o.spikes.float(), None if o.current is None else o.current.float()).cpu())
            out["labels"].append(y.cpu())
            out["counts"].append(o.spikes.float().sum(0).cpu())
            if o.current is not None:
                out["current"].append(o.current.float().sum(0).cpu())
            if getattr(o, "features", None) is not None:
                out["features"].append(accumulate(o.features.float()).cpu())
            if z_av and getattr(o, "z_av", None) is not None:
                out["z_av"].append(o.z_av.float().flatten(1).cpu())
    finally:
        model.train(was_training)
    return {k: (torch.cat(v) if v else None) for k, v in out.items()}


def _as_data(dataset, modality):
    return as_array_data(dataset, modality)


def evaluate(
    run_or_model,
    dataset=None,
    train_dataset=None,
    *,
    modality: Optional[str] = None,
    num_classes: Optional[int] = None,
    batch_size: Optional[int] = None,
    device="cpu",
    amp: bool = False,
    counts: bool = True,
    count_samples: int = 16,
) -> dict:
    """Section V metrics for a model on ``dataset`` (test) and optionally ``train_dataset``.

    ``run_or_model``: an ``nn.Module`` returning a ``ModelOutput``, or a trained
    :class:`avsnn.train.Run` (then the datasets default to the run's own split). Datasets
    may be :class:`ArrayData` or :mod:`avsnn.data` datasets (``modality`` picks the input).

    Returns JSON-able values: ``test_accuracy`` (fraction), ``per_class_accuracy``,
    ``confusion`` (row-normalised), ``silent_share`` (test samples with no output spike,
    :func:`~avsnn.metrics.measures.silent_share`), ``separability`` ``{"test": ..., "train": ...}`` on the
    accumulated features, ``train_accuracy``, and with ``counts=True`` ``firing_rates``,
    ``sops``, ``macs``, ``params`` and ``energy`` per sample from :func:`avsnn.models.count_ops`
    on the first ``count_samples`` test samples.
    """
    model = run_or_model
    if hasattr(run_or_model, "config") and hasattr(run_or_model, "datasets"):
        run = run_or_model
        model = run.model
        modality = modality or run.config.modality
        if dataset is None:
            train_dataset, dataset = run.array_data()
    if dataset is None:
        raise ValueError("evaluate needs a dataset")
    test = _as_data(dataset, modality)
    C = num_classes or getattr(test, "num_classes", None) or int(test.labels.max()) + 1
    r = run_model(model, test, batch_size, device, amp, z_av=False)
    metrics = {
        "num_test": len(test),
        "test_accuracy": accuracy(r["pred"], r["labels"]),
        "per_class_accuracy": per_class_accuracy(r["pred"], r["labels"], C),
        "confusion": confusion_matrix(r["pred"], r["labels"], C).tolist(),
        "silent_share": silent_share(r["counts"]),
        "separability": {},
    }
    if r["features"] is not None:
        metrics["separability"]["test"] = separability(r["features"], r["labels"])
    if train_dataset is not None:
        train = _as_data(train_dataset, modality)
        rt = run_model(model, train, batch_size, device, amp, z_av=False)
        metrics["num_train"] = len(train)
        metrics["train_accuracy"] = accuracy(rt["pred"], rt["labels"])
        if rt["features"] is not None:
            metrics["separability"]["train"] = separability(rt["features"], rt["labels"])
    if counts:
        try:
            from avsnn.models import count_ops

            x, _ = test.batch(torch.arange(min(count_samples, len(test))), device)
            p = count_ops(model, x)
            metrics["firing_rates"] = {k: float(v) for k, v in p.firing_rates.items()}
            metrics.update(
                params=int(p.params),
                macs=float(p.macs),
                sops=float(p.sops),
                sops_bn_folded=float(p.sops_folded),
                energy=energy_from_counts(p),
                energy_bn_folded=energy_from_counts(p, fold_bn=True),
            )
        except Exception as e:  # a custom model the op counter does not understand
            warnings.warn(f"operation counting failed ({type(e).__name__}: {e}); firing rates/energy left out")
            metrics["count_error"] = f"{type(e).__name__}: {e}"
    return metrics
