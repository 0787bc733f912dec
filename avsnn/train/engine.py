"""Training engine: :func:`train_or_load`.

``train_or_load(cfg)`` returns a finished :class:`~avsnn.train.run.Run`:

* **cache hit** -- ``runs/<run key>/DONE`` exists and the files it records are intact: nothing is
  trained, the run is returned;
* **repair** -- ``DONE`` exists but a recorded file is damaged: reported in one line; the metrics
  are evaluated again from an intact checkpoint, else the run is retrained (from
  ``checkpoint.prev.pt`` when that one is good);
* **resume** -- a ``checkpoint.pt`` exists: training continues after its last epoch (a damaged one
  is reported, and training resumes from ``checkpoint.prev.pt`` or starts from scratch);
* otherwise trains from scratch.

Before a run writes anything (its folder, the config print), :func:`~avsnn.train.preflight.check_before_training`
checks the run store, the dataset, the cache and the memory the network needs.

The run key (:func:`avsnn.train.store.run_key`) covers the config, the data and the code. The parts:
:mod:`~avsnn.train.factories` (network, datasets, validation part), :mod:`~avsnn.train.seeding`
(determinism), :mod:`~avsnn.train.fit` (the epoch loop and the recipe), :mod:`~avsnn.train.features`
(fusion inputs), :mod:`~avsnn.train.run` (a finished run) and :mod:`~avsnn.train.store` (the run folder).

With ``val_frac``, a stratified validation part (seeded by ``split_seed``) is carved from the
training split; the model is fitted on the rest (:func:`~avsnn.train.fit.fit`). A diverged run
(:class:`~avsnn.train.fit.TrainingDiverged`) is not marked done.

Fusion (``modality="fusion"``): the vision/audio runs named by ``cfg.vision_config`` /
``cfg.audio_config`` are trained first if missing (``train_or_load`` on each), their frozen
features are extracted once and cached in the unimodal run folders, and an
:class:`avsnn.models.SMLP` is trained on them (:mod:`avsnn.train.features`).
"""

from __future__ import annotations

import contextlib
import functools
from typing import Callable, Optional

import torch

from avsnn.core.kernels import fallbacks as lif_fallbacks
from avsnn.core.lif import used_backends
from avsnn.data.batching import ArrayData, as_array_data
from avsnn.device import eval_batch_size, resolve_device
from avsnn.isa import describe as describe_isa
from avsnn.metrics import evaluate

from .config import RunConfig
from .factories import build_model, load_datasets, split_validation
from .features import feature_sets
from .fit import DistContext, extension_cap, fit, still_rising
from .preflight import check_before_training
from .run import Run
from .seeding import deterministic
from .store import RunStore, describe_problems, report

__all__ = ["train_or_load", "fusion_data"]


def fusion_data(
    cfg: RunConfig, store_root=None, progress=None, model_fn=build_model, data_fn=load_datasets
) -> tuple[ArrayData, ArrayData]:
    """Train/load the unimodal runs of a fusion config and return the feature sets."""
    runs = {
        name: train_or_load(sub, store_root, progress, model_fn=model_fn, data_fn=data_fn)
        for name, sub in cfg.sub_configs.items()
    }
    return feature_sets(runs)


def _final_metrics(cfg: RunConfig, model, train: ArrayData, test: ArrayData, history: list, identity: dict) -> dict:
    device = resolve_device(cfg.device)
    m = evaluate(
        model,
        test,
        train,
        modality=cfg.modality,
        num_classes=train.num_classes,
        batch_size=eval_batch_size(device, cfg.batch_size),
        device=device,
        amp=cfg.amp and device.type == "cuda",
    )
    m = {
        **identity,
        "modality": cfg.modality,
        "epochs": len(history),
        "train_seconds": float(sum(h["seconds"] for h in history)),
        "cpu_isa": describe_isa(),  # the instruction set CPU numbers were computed with (avsnn.isa)
        **m,
        "lif_backend": used_backends(model),  # what ran the LIF scans of the evaluation (None: no LIF)
        "lif_backend_requested": cfg.lif_backend,
        "lif_backend_fallbacks": lif_fallbacks(),  # {backend: reason} of each fallback of "auto" so far
    }
    if train.classes is not None:
        m["classes"] = list(train.classes)
    return m


def report_absent_classes(train: ArrayData, parts: dict) -> None:
    """One line per part of ``parts`` (``{name: ArrayData or None}``) that lacks a class of ``train``.

    Such a class has no test accuracy (``per_class_accuracy`` holds ``null`` for it) or is not seen by
    the model selection on the validation part.
    """
    names = train.classes or [str(c) for c in range(train.num_classes)]
    for what, part in parts.items():
        if part is None:
            continue
        absent = sorted(set(range(train.num_classes)) - set(part.labels.unique().tolist()))
        if absent:
            counts = torch.bincount(train.labels, minlength=train.num_classes)
            shown = ", ".join(f"{names[c]} ({int(counts[c])} in training)" for c in absent)
            effect = "null in per_class_accuracy" if what == "test" else "model selection does not see them"
            report(
                f"the {what} part has no sample of {len(absent)} class(es): {shown}; their {what} accuracy "
                f"is not measured ({effect}); give each class more pairs"
            )


def train_or_load(
    cfg: RunConfig,
    store_root=None,
    progress: Optional[bool] = None,
    *,
    model_fn: Callable = build_model,
    data_fn: Callable = load_datasets,
    verbose: Optional[bool] = None,
    on_epoch_end: Optional[Callable] = None,
    dist: Optional[DistContext] = None,
) -> Run:
    """Return the finished run of ``cfg``: cached, resumed or trained from scratch.

    ``store_root``: run store root (default :func:`avsnn.files.default_runs_dir`). ``progress``: tqdm
    bars (default ``cfg.progress``). ``verbose``: print the config and one line per epoch
    (default: same as ``progress``). ``model_fn(cfg, num_classes, input_dims)`` and
    ``data_fn(cfg) -> (train, test)`` replace the model / dataset builders (tests, experiments).
    ``on_epoch_end(epoch, model)`` is called after each epoch's checkpoint is written.
    """
    if not isinstance(cfg, RunConfig):
        raise TypeError(f"cfg must be a RunConfig, got {type(cfg).__name__}")
    progress = cfg.progress if progress is None else bool(progress)
    verbose = progress if verbose is None else verbose
    dist = dist or DistContext()
    store = RunStore(cfg, store_root)
    sub_run = functools.partial(
        train_or_load, store_root=store.root, progress=False, model_fn=model_fn, data_fn=data_fn
    )
    run = Run(store.path, cfg, store.root, model_fn, data_fn, sub_run=sub_run)
    if store.done and not store.verify():
        return run
    device = resolve_device(cfg.device)
    check_before_training(cfg, store.root, device, data=data_fn is load_datasets, memory=model_fn is build_model)
    if dist.is_main:
        store.make_folder()  # a read-only run store fails here, before the data are loaded
    if verbose and dist.is_main:
        print(cfg.describe(), flush=True)
        print(f"run key {store.path.name}, folder {store.path} (device {device})", flush=True)
    if cfg.modality == "fusion":
        train, test = fusion_data(cfg, store_root, progress, model_fn, data_fn)
        run.hold_data(train, test)
    else:
        tr, te = data_fn(cfg)
        train, test = as_array_data(tr, cfg.modality), as_array_data(te, cfg.modality)
        run.hold_data(train, test, datasets=(tr, te))
    lock = store.lock() if dist.is_main and dist.world_size == 1 else contextlib.nullcontext()
    with lock:
        if store.done:  # another process finished it while we waited for the lock, or it is damaged
            problems = store.verify()
            if not problems:
                return run
            if dist.is_main:
                action = (
                    "retraining it" if RunStore.CHECKPOINT in problems else "evaluating it again from its checkpoint"
                )
                report(f"finished run {store.path} is damaged ({describe_problems(problems)}); {action}")
                store.unfinish(problems)
        return _train_locked(cfg, store, run, train, test, device, model_fn, progress, verbose, on_epoch_end, dist)


def load_finished(cfg: RunConfig, store_root=None) -> Run:
    """The finished run of ``cfg`` from the run store; reading a result never trains.

    A run that is not finished (never trained, or interrupted) is a :class:`LookupError` naming its
    folder; train it first (``avsnn train``, :func:`train_or_load` or ``studies.train_all``).
    """
    store = RunStore(cfg, store_root)
    if not store.done:
        raise LookupError(
            f"{store.path}: no finished {cfg.modality} run for this config (seed {cfg.seed}) in the run store; "
            "train it first (`avsnn train`, train_or_load or studies.train_all)"
        )
    return train_or_load(cfg, store.root, progress=False, verbose=False)


def _train_locked(cfg, store, run, train, test, device, model_fn, progress, verbose, on_epoch_end, dist) -> Run:
    """Train (or resume) ``run`` under the store's lock, write its metrics and mark it done."""
    if dist.is_main:
        store.init()
    dist.barrier()
    train, val = split_validation(cfg, train)
    if dist.is_main:
        report_absent_classes(train, {"test": test, "validation": val})
    with deterministic(device):
        model = fit(
            cfg,
            store,
            train,
            test,
            model_fn=model_fn,
            progress=progress,
            verbose=verbose,
            on_epoch_end=on_epoch_end,
            dist=dist,
            val=val,
        )
        if dist.is_main:
            ck = store.load_checkpoint()
            history = ck["history"] if ck else []
            store.write_history(history)  # also repairs a damaged one from the checkpoint
            metrics = _final_metrics(cfg, model, train, test, history, store.identity)
            if ck is not None and "best" in ck:
                cap = extension_cap(cfg, len(train))
                metrics.update(
                    best_epoch=ck["best"]["epoch"],
                    val_accuracy=ck["best"]["val_accuracy"],
                    fit_samples=len(train),
                    val_samples=len(val),
                    still_rising=still_rising(cfg, history, cap),
                )
                if metrics["still_rising"]:
                    report(
                        f"{cfg.modality} run {store.path.name}: validation accuracy still rising at the epoch cap "
                        f"({cap}, best {metrics['val_accuracy']:.3f} in the last epoch); more epochs may help"
                    )
            store.write_metrics(metrics)
            store.mark_done()
            if verbose:
                print(f"done: test accuracy {metrics['test_accuracy']:.4f}; run folder {store.path}", flush=True)
    dist.barrier()
    run.hold_trained(model)
    return run
