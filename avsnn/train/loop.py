"""Training engine: :func:`train_or_load`.

``train_or_load(cfg)`` returns a finished :class:`Run`:

* **cache hit** -- ``runs/<run key>/DONE`` exists and the files it records are intact: nothing is
  trained, the run is returned;
* **repair** -- ``DONE`` exists but a recorded file is damaged: reported in one line; the metrics
  are evaluated again from an intact checkpoint, else the run is retrained (from
  ``checkpoint.prev.pt`` when that one is good);
* **resume** -- a ``checkpoint.pt`` exists: training continues after its last epoch (a damaged one
  is reported, and training resumes from ``checkpoint.prev.pt`` or starts from scratch);
* otherwise trains from scratch.

The run key (:func:`avsnn.train.store.run_key`) covers the config, the data and the code.

Determinism. The model is initialised after seeding ``torch``/``numpy``/``random`` with
``cfg.seed``. At the start of every epoch all three are re-seeded from ``(seed, epoch)`` and the
sample order is a ``torch.randperm`` drawn from a generator seeded the same way, so an epoch's
randomness (order, dropout masks) depends only on the seed and the epoch number -- never on
what ran before in the process. With ``torch.use_deterministic_algorithms(True)`` on the CPU,
an interrupted run resumed from its checkpoint ends with weights and metrics *equal* (bitwise)
to an uninterrupted one. (On CUDA some kernels are nondeterministic; results are close, not equal.)

Loss: :func:`avsnn.mse_count_loss` with the config's rates (Eqs. 14-16). Prediction: most
output spikes; ties broken by the larger summed input current, then by the lowest class index
(:func:`avsnn.metrics.predict`). The ANN twin (``neuron="relu"``, :func:`avsnn.models.ann_twin`) is
trained with cross-entropy on its logits (the head's time-averaged ``current``).

Recipe (each part off unless its config field is set, :data:`avsnn.train.config.RECIPE_OFF`):

* ``input_norm`` -- the model's :class:`avsnn.models.InputNorm` is fitted on the training part
  (per image channel / per mel band) before the first epoch; its statistics are buffers, saved
  in the checkpoint, so a loaded run normalises the same way.
* ``val_frac`` -- a stratified validation part (seeded by ``split_seed``) is carved from the
  training split; the model is fitted on the rest, validated after every epoch, and the weights
  of the best validation accuracy (earliest on ties) are the run's model. ``patience``: stop
  when that many epochs passed without a better one (``epochs`` is then the maximum).
* ``warmup_epochs`` / ``schedule`` -- the learning rate rises linearly per step over the
  warm-up, then follows the milestones (``"step"``) or a cosine to 0 at ``epochs``
  (``"cosine"``). With neither, the per-epoch ``MultiStepLR`` of the first runs is used unchanged.

A NaN/inf loss raises :class:`TrainingDiverged` before the optimiser step, and so do non-finite
weights at the end of an epoch (before its checkpoint is written); the checkpoint of the last
finished epoch stays on disk untouched and the run is not marked done.

Fusion (``modality="fusion"``): the vision/audio runs named by ``cfg.vision_config`` /
``cfg.audio_config`` are trained first if missing (``train_or_load`` on each), their frozen
features are extracted once and cached in the unimodal run folders (``features_<split>.pt``),
and an :class:`avsnn.models.SMLP` is trained on them. The fused feature of a unimodal network
is its time-averaged last-hidden feature ``z_av`` (Eq. 10), L2-normalised (Eq. 11): 8*width
values for vision (512 at width 64), the flattened conv map for audio.
"""

from __future__ import annotations

import contextlib
import math
import random
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

import numpy as np
import torch
import torch.nn.functional as F

from avsnn.core.loss import mse_count_loss
from avsnn.data.batching import ArrayData, as_array_data, subset, validation_split
from avsnn.device import keep_freed_memory, resolve_device, use_channels_last

from .config import RunConfig
from .store import RunStore, describe_problems, report

__all__ = ["Run", "TrainingDiverged", "train_or_load", "build_model", "load_datasets", "resolve_device"]


class TrainingDiverged(RuntimeError):
    """The loss or the weights became NaN or infinite; the last good checkpoint was kept."""


# ---- building blocks (replaceable through train_or_load(model_fn=..., data_fn=...)) ------------
def build_model(cfg: RunConfig, num_classes: int, input_dims: Optional[dict] = None) -> torch.nn.Module:
    """The network ``cfg`` describes (vision: L2ActSpikeNet, audio: SpikingAudioNet, fusion: SMLP)."""
    from avsnn.core import surrogate as sg
    from avsnn.models import SMLP, L2ActSpikeNet, SpikingAudioNet, ann_twin

    spike = sg.from_name(cfg.surrogate, cfg.surrogate_scale)
    common = dict(
        num_classes=num_classes,
        timesteps=cfg.timesteps,
        head=cfg.head,
        beta=cfg.beta,
        threshold=cfg.threshold,
        surrogate=spike,
    )
    if cfg.modality == "vision":
        net = L2ActSpikeNet(
            width=cfg.width,
            block=cfg.variant,
            zero_init_residual=cfg.zero_init_residual,
            input_norm=cfg.input_norm,
            **common,
        )
    elif cfg.modality == "audio":
        net = SpikingAudioNet(
            n_mels=cfg.n_mels,
            n_frames=cfg.audio_settings().n_frames,
            channels=tuple(cfg.audio_channels),
            variant=cfg.variant,
            dropout=cfg.dropout,
            input_norm=cfg.input_norm,
            **common,
        )
    elif not input_dims:
        raise ValueError("a fusion model needs input_dims")
    else:
        net = SMLP(dict(input_dims), hidden=tuple(cfg.hidden), project_dim=cfg.project_dim, **common)
    return ann_twin(net, copy_model=False) if cfg.neuron == "relu" else net


def load_datasets(cfg: RunConfig):
    """``(train, test)`` datasets of a vision/audio config via :func:`avsnn.data.build_datasets`."""
    from avsnn.data import build_datasets

    return build_datasets(
        cfg.dataset,
        root=cfg.data_root,
        modality=cfg.modality,
        audio=cfg.audio_settings(),
        train_frac=cfg.train_frac,
        seed=cfg.split_seed,
        per_class=cfg.per_class,
    )


# ---- seeding -------------------------------------------------------------------------------------
def _epoch_seed(seed: int, epoch: int) -> int:
    return (int(seed) * 1_000_003 + 7919 * (int(epoch) + 1)) % (2**63 - 1)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)


def _rng_state() -> dict:
    st = {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "random": random.getstate()}
    if torch.cuda.is_available():
        st["cuda"] = torch.cuda.get_rng_state_all()
    return st


@contextlib.contextmanager
def _deterministic(device: torch.device):
    prev = torch.are_deterministic_algorithms_enabled()
    prev_warn = torch.is_deterministic_algorithms_warn_only_enabled()
    if device.type == "cpu":
        torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(prev, warn_only=prev_warn)


# ---- distributed context (see avsnn.train.ddp) ----------------------------------------------------
@dataclass
class DistContext:
    """Single-process defaults; :mod:`avsnn.train.ddp` fills in a real one."""

    rank: int = 0
    world_size: int = 1
    wrap: Optional[Callable] = None  # model -> DDP(model)
    barrier: Callable = lambda: None
    all_reduce: Callable = lambda t: t  # sum over ranks, in place; returns t

    @property
    def is_main(self) -> bool:
        return self.rank == 0


# ---- the run object ---------------------------------------------------------------------------------
@dataclass
class Run:
    """A finished run in the store. ``model`` is loaded lazily (eval mode, CPU)."""

    path: Path
    config: RunConfig
    store_root: Optional[Path] = None
    model_fn: Callable = build_model
    data_fn: Callable = load_datasets
    trained_now: bool = False
    _model: Optional[torch.nn.Module] = field(default=None, repr=False)
    _data: Optional[tuple] = field(default=None, repr=False)
    _datasets: Optional[tuple] = field(default=None, repr=False)

    @property
    def store(self) -> RunStore:
        return RunStore(self.config, self.store_root, key=self.path.name)

    @property
    def model(self) -> torch.nn.Module:
        if self._model is None:
            ck = self.store.load_checkpoint()
            if ck is None:
                raise FileNotFoundError(f"{self.path}: no checkpoint.pt")
            m = self.model_fn(self.config, ck["num_classes"], ck.get("input_dims"))
            m.load_state_dict(ck["model"])
            self._model = m.eval()
        return self._model

    @property
    def metrics(self) -> dict:
        return self.store.read_json(RunStore.METRICS, {})

    @property
    def history(self) -> list:
        return self.store.read_json(RunStore.HISTORY, [])

    def datasets(self):
        """``(train, test)``: the avsnn.data datasets (vision/audio) or the feature sets (fusion)."""
        if self._datasets is None:
            if self.config.modality == "fusion":
                self._datasets = self.array_data()
            else:
                self._datasets = self.data_fn(self.config)
        return self._datasets

    def array_data(self) -> tuple[ArrayData, ArrayData]:
        """``(train, test)`` as :class:`ArrayData` (what the engine trains on)."""
        if self._data is None:
            if self.config.modality == "fusion":
                self._data = fusion_data(
                    self.config, self.store_root, progress=False, model_fn=self.model_fn, data_fn=self.data_fn
                )
            else:
                tr, te = self.datasets()
                self._data = (as_array_data(tr, self.config.modality), as_array_data(te, self.config.modality))
        return self._data

    def features(self, split: str = "test") -> dict:
        """Frozen fusion features of a unimodal run: ``{"features", "labels", "keys"}`` (cached on disk)."""
        return unimodal_features(self, split)


# ---- fusion features ------------------------------------------------------------------------------
@torch.no_grad()
def _extract(model, data: ArrayData, batch_size: int = 256) -> torch.Tensor:
    model.eval()
    out = []
    for x, _ in data.batches(batch_size):
        out.append(F.normalize(model(x).z_av.float().flatten(1), dim=1))  # Eqs. 10-11
    return torch.cat(out)


def unimodal_features(run: Run, split: str) -> dict:
    store = run.store
    cached = store.load_features(split)
    if cached is not None:
        return cached
    tr, te = run.array_data()
    data = tr if split == "train" else te
    feats = {
        "features": _extract(run.model, data),
        "labels": data.labels.clone(),
        "keys": data.keys,
        "classes": data.classes,
    }
    store.save_features(split, feats)
    return feats


def fusion_data(
    cfg: RunConfig, store_root=None, progress=None, model_fn=build_model, data_fn=load_datasets
) -> tuple[ArrayData, ArrayData]:
    """Train/load the unimodal runs of a fusion config and return the feature sets."""
    runs = {
        name: train_or_load(sub, store_root, progress, model_fn=model_fn, data_fn=data_fn)
        for name, sub in cfg.sub_configs.items()
    }
    out = []
    for split in ("train", "test"):
        feats = {name: unimodal_features(run, split) for name, run in runs.items()}
        names = list(feats)
        ref = feats[names[0]]
        for other in names[1:]:
            f = feats[other]
            if not torch.equal(f["labels"], ref["labels"]) or (
                f["keys"] is not None and ref["keys"] is not None and f["keys"] != ref["keys"]
            ):
                raise ValueError(f"{split} features of {names[0]} and {other} are not aligned sample by sample")
        out.append(
            ArrayData({n: feats[n]["features"] for n in names}, ref["labels"], classes=ref["classes"], keys=ref["keys"])
        )
    return out[0], out[1]


# ---- training --------------------------------------------------------------------------------------
def _loss(cfg, out, y):
    if cfg.neuron == "relu":  # the ANN twin: softmax cross-entropy on the logits
        return F.cross_entropy(out.current.float().mean(0), y)
    return mse_count_loss(out.spikes.float(), y, cfg.correct_rate, cfg.incorrect_rate, truncate=cfg.truncate_targets)


def _lr_factor(cfg, steps_per_epoch: int) -> Callable[[int], float]:
    """Per-step learning-rate factor: linear warm-up, then milestones (``"step"``) or a cosine to 0."""
    warm = cfg.warmup_epochs * steps_per_epoch
    total = max(cfg.epochs * steps_per_epoch, 1)

    def factor(step: int) -> float:
        if step < warm:
            return (step + 1) / warm
        if cfg.schedule == "cosine":
            return 0.5 * (1.0 + math.cos(math.pi * min((step - warm) / max(total - warm, 1), 1.0)))
        return cfg.gamma ** sum(step >= m * steps_per_epoch for m in cfg.milestones)

    return factor


def _make_scheduler(cfg, opt, steps_per_epoch: int):
    """``(scheduler, per_step)``: the first runs' per-epoch MultiStepLR unless warm-up or cosine is asked for."""
    if cfg.warmup_epochs == 0 and cfg.schedule == "step":
        return torch.optim.lr_scheduler.MultiStepLR(opt, milestones=list(cfg.milestones), gamma=cfg.gamma), False
    return torch.optim.lr_scheduler.LambdaLR(opt, _lr_factor(cfg, steps_per_epoch)), True


def _fit_input_norm(model, train: ArrayData) -> None:
    """Fit the model's InputNorm (if any) on the training inputs (the part the model is fitted on)."""
    norm = getattr(model, "input_norm", None)
    if hasattr(norm, "fit"):
        norm.fit(ArrayData._convert(train.inputs))


def _best_so_far(history: list) -> tuple[int, float]:
    """``(epoch, val_accuracy)`` of the best validation epoch in ``history`` (earliest on ties; (0, -1) if none)."""
    best = (0, -1.0)
    for h in history:
        if h.get("val_accuracy", -1.0) > best[1]:
            best = (h["epoch"], h["val_accuracy"])
    return best


def _should_stop(cfg, history: list) -> bool:
    return (
        cfg.patience is not None and bool(history) and history[-1]["epoch"] - _best_so_far(history)[0] >= cfg.patience
    )


def _checkpoint_state(cfg, model, opt, sched, epoch, history, num_classes, input_dims, best=None) -> dict:
    state = {
        "config": cfg.to_dict(),
        "hash": cfg.hash(),
        "epoch": epoch,
        "model": model.state_dict(),
        "optimizer": opt.state_dict(),
        "scheduler": sched.state_dict(),
        "rng": _rng_state(),
        "history": history,
        "num_classes": num_classes,
        "input_dims": input_dims,
        "torch_version": torch.__version__,
    }
    if best is not None:  # {"epoch", "val_accuracy", "model"}: the best-validation weights so far
        state["best"] = best
    return state


def _make_optimizer(cfg, params):
    if cfg.optimizer == "adam":
        return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    return torch.optim.SGD(params, lr=cfg.lr, momentum=0.9, weight_decay=cfg.weight_decay)


def _fit(
    cfg: RunConfig,
    store: RunStore,
    train: ArrayData,
    test: ArrayData,
    *,
    model_fn,
    progress: bool,
    verbose: bool,
    on_epoch_end: Optional[Callable],
    dist: DistContext,
    val: Optional[ArrayData] = None,
) -> torch.nn.Module:
    from tqdm import tqdm

    from avsnn.metrics import accuracy, predict, run_model

    device = resolve_device(cfg.device)
    num_classes = train.num_classes
    input_dims = train.input_dims() if cfg.modality == "fusion" else None
    seed_everything(cfg.seed)
    model = model_fn(cfg, num_classes, input_dims)
    _fit_input_norm(model, train)
    model = model.to(device)
    n = len(train)
    nb = math.ceil(n / cfg.batch_size)
    if cfg.max_train_batches is not None:
        nb = min(nb, cfg.max_train_batches)
    opt = _make_optimizer(cfg, model.parameters())
    sched, per_step = _make_scheduler(cfg, opt, nb)
    history, start, best = [], 0, None
    ck = store.resume_checkpoint(map_location=device, repair=dist.is_main)
    if ck is not None:
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["optimizer"])
        sched.load_state_dict(ck["scheduler"])
        history, start, best = list(ck["history"]), int(ck["epoch"]), ck.get("best")
        if verbose and dist.is_main:
            print(f"resuming {store.path} after epoch {start}/{cfg.epochs}", flush=True)
    if device.type == "cpu":
        keep_freed_memory()  # no page faults on every step's activations (avsnn.device)
    channels_last = use_channels_last(cfg.channels_last, device)  # a layout: the same function
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    net = dist.wrap(model) if dist.wrap is not None else model
    amp = cfg.amp and device.type == "cuda"
    for epoch in range(start, cfg.epochs):
        if _should_stop(cfg, history):
            break
        es = _epoch_seed(cfg.seed, epoch)
        seed_everything(es)
        order = torch.randperm(n, generator=torch.Generator().manual_seed(es))
        model.train()
        lr = opt.param_groups[0]["lr"]  # the rate the epoch starts with
        t0 = time.perf_counter()
        stats = torch.zeros(3, dtype=torch.float64)  # loss*samples, correct, samples (this rank)
        bar = tqdm(
            range(nb),
            desc=f"{cfg.modality} {store.path.name} epoch {epoch + 1}/{cfg.epochs}",
            disable=not (progress and dist.is_main),
            leave=False,
            file=sys.stderr,
        )
        for b in bar:
            gidx = order[b * cfg.batch_size : (b + 1) * cfg.batch_size]
            idx = gidx[dist.rank :: dist.world_size]  # each rank: an equal share of the global batch
            empty = len(idx) == 0  # tiny last batch, fewer samples than ranks
            if empty:
                idx = gidx[:1]
            x, y = train.batch(idx, device)
            if channels_last and isinstance(x, torch.Tensor) and x.dim() == 4:
                x = x.contiguous(memory_format=torch.channels_last)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
                out = net(x)
            loss = _loss(cfg, out, y)
            if not torch.isfinite(loss):
                raise TrainingDiverged(
                    f"loss became {loss.item()} at epoch {epoch + 1}, batch {b + 1}/{nb} of "
                    f"run {store.path}; {_kept(epoch)}"
                )
            # rank-local mean -> share of the global mean; DDP averages gradients over ranks
            scale = 0.0 if empty else len(idx) * dist.world_size / len(gidx)
            opt.zero_grad(set_to_none=True)
            (loss * scale).backward()
            opt.step()
            if per_step:
                sched.step()
            with torch.no_grad():
                if empty:
                    continue
                pred = predict(out.spikes.float(), out.current.float() if out.current is not None else None)
                stats += torch.tensor([loss.item() * len(idx), float((pred == y).sum()), len(idx)], dtype=torch.float64)
            if progress:
                bar.set_postfix(loss=f"{float(loss):.4f}")
        bar.close()
        bad = [name for name, p in model.named_parameters() if not torch.isfinite(p).all()]
        if bad:
            raise TrainingDiverged(
                f"weights became non-finite in epoch {epoch + 1} of run {store.path} "
                f"({len(bad)} parameter tensors, first {bad[0]!r}); {_kept(epoch)}"
            )
        stats = dist.all_reduce(stats)
        if not per_step:
            sched.step()
        rec = {
            "epoch": epoch + 1,
            "loss": float(stats[0] / stats[2]),
            "train_accuracy": float(stats[1] / stats[2]),
            "lr": lr,
            "seconds": time.perf_counter() - t0,
        }
        bs = max(256, cfg.batch_size)
        if val is not None:  # validated on the main rank, shared so every rank stops at the same epoch
            shared = torch.zeros(1, dtype=torch.float64)
            if dist.is_main:
                r = run_model(model, val, batch_size=bs, device=device, amp=amp)
                shared += accuracy(r["pred"], r["labels"])
            rec["val_accuracy"] = float(dist.all_reduce(shared)[0])
            if best is None or rec["val_accuracy"] > best["val_accuracy"]:
                best = {
                    "epoch": epoch + 1,
                    "val_accuracy": rec["val_accuracy"],
                    "model": {k: v.detach().clone() for k, v in model.state_dict().items()},
                }
        if dist.is_main:
            r = run_model(model, test, batch_size=bs, device=device, amp=amp)
            rec["test_accuracy"] = accuracy(r["pred"], r["labels"])
        history.append(rec)
        if dist.is_main:
            store.save_checkpoint(
                _checkpoint_state(cfg, model, opt, sched, epoch + 1, history, num_classes, input_dims, best)
            )
            store.write_history(history)
            if verbose:
                shown = f"val {rec['val_accuracy']:.3f} " if "val_accuracy" in rec else ""
                print(
                    f"epoch {epoch + 1}/{cfg.epochs}: loss {rec['loss']:.4f} train {rec['train_accuracy']:.3f} "
                    f"{shown}test {rec.get('test_accuracy', float('nan')):.3f} lr {lr:.2e} "
                    f"({rec['seconds']:.1f}s)",
                    flush=True,
                )
        dist.barrier()
        if on_epoch_end is not None:
            on_epoch_end(epoch + 1, model)
    if ck is None and cfg.epochs == 0 and dist.is_main:
        store.save_checkpoint(_checkpoint_state(cfg, model, opt, sched, 0, history, num_classes, input_dims))
    if best is not None:
        # the run's model is the best-validation one; the final checkpoint holds it as "model"
        model.load_state_dict(best["model"])
        if dist.is_main:
            store.save_checkpoint(
                _checkpoint_state(cfg, model, opt, sched, history[-1]["epoch"], history, num_classes, input_dims, best)
            )
    # Back to the default layout: the final metrics and every later use see the same model as one
    # loaded from the store (the layout changes float rounding in convolutions, not the function).
    return model.to(memory_format=torch.contiguous_format).eval()


def _kept(epoch: int) -> str:
    return f"the checkpoint of epoch {epoch} is kept" if epoch else "no checkpoint was written"


def _final_metrics(cfg: RunConfig, model, train: ArrayData, test: ArrayData, history: list, identity: dict) -> dict:
    from avsnn.metrics import evaluate

    device = resolve_device(cfg.device)
    m = evaluate(
        model,
        test,
        train,
        modality=cfg.modality,
        num_classes=train.num_classes,
        batch_size=max(256, cfg.batch_size),
        device=device,
        amp=cfg.amp and device.type == "cuda",
    )
    m = {
        **identity,
        "modality": cfg.modality,
        "epochs": len(history),
        "train_seconds": float(sum(h["seconds"] for h in history)),
        **m,
    }
    if train.classes is not None:
        m["classes"] = list(train.classes)
    return m


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

    ``store_root``: run store root (default ``$AVSNN_RUNS`` or ``./runs``). ``progress``: tqdm
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
    run = Run(store.path, cfg, store.root, model_fn, data_fn)
    if store.done and not store.verify():
        return run
    device = resolve_device(cfg.device)
    if dist.is_main:
        store.make_folder()  # a read-only run store fails here, before the data are loaded
    if verbose and dist.is_main:
        print(cfg.describe(), flush=True)
        print(f"run folder: {store.path} (device {device})", flush=True)
    if cfg.modality == "fusion":
        train, test = fusion_data(cfg, store_root, progress, model_fn, data_fn)
    else:
        tr, te = data_fn(cfg)
        run._datasets = (tr, te)
        train, test = as_array_data(tr, cfg.modality), as_array_data(te, cfg.modality)
    run._data = (train, test)
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


def split_validation(cfg: RunConfig, train: ArrayData) -> tuple[ArrayData, Optional[ArrayData]]:
    """``(fit_part, val_part)`` of the training split for ``cfg.val_frac`` (``(train, None)`` when 0)."""
    if cfg.val_frac == 0:
        return train, None
    fit_idx, val_idx = validation_split(train.labels, cfg.val_frac, cfg.split_seed)
    return subset(train, fit_idx), subset(train, val_idx)


def _train_locked(cfg, store, run, train, test, device, model_fn, progress, verbose, on_epoch_end, dist) -> Run:
    if dist.is_main:
        store.init()
    dist.barrier()
    train, val = split_validation(cfg, train)
    with _deterministic(device):
        model = _fit(
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
            metrics = _final_metrics(cfg, model, train, test, history, store.identity)
            if ck is not None and "best" in ck:
                metrics.update(
                    best_epoch=ck["best"]["epoch"],
                    val_accuracy=ck["best"]["val_accuracy"],
                    fit_samples=len(train),
                    val_samples=len(val),
                )
            store.write_metrics(metrics)
            store.mark_done()
            if verbose:
                print(f"done: test accuracy {metrics['test_accuracy']:.4f}; run folder {store.path}", flush=True)
    dist.barrier()
    run._model = model.cpu().eval()
    run.trained_now = True
    return run
