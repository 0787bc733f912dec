"""The epoch loop: loss, optimiser, learning-rate schedule, input normalisation, early stopping, checkpoints.

Loss: :func:`avsnn.core.loss.mse_count_loss` with the config's rates (Eqs. 14-16). Prediction: most
output spikes; ties broken by the larger summed input current, then by the lowest class index
(:func:`avsnn.metrics.predict`). The ANN twin (``neuron="relu"``, :func:`avsnn.models.ann_twin`) is
trained with cross-entropy on its logits (the head's time-averaged ``current``).

Recipe (each part off unless its config field is set, :data:`avsnn.train.config.RECIPE_OFF`):

* ``input_norm`` -- the model's :class:`avsnn.models.InputNorm` is fitted on the training part
  (per image channel / per mel band) before the first epoch; its statistics are buffers, saved
  in the checkpoint, so a loaded run normalises the same way.
* ``val_frac`` -- the model is validated after every epoch and the weights of the best validation
  accuracy (earliest on ties) are the run's model. ``patience``: stop when that many epochs
  passed without a better one, counted once validation is clearly above chance (:func:`should_stop`;
  ``epochs`` is then the maximum). A run that reaches ``epochs`` with its best validation accuracy in
  the last epoch is *still rising* (:func:`still_rising`): its metrics say so and a line is printed.
* ``warmup_epochs`` / ``schedule`` -- the learning rate rises linearly per step over the
  warm-up, then follows the milestones (``"step"``) or a cosine to 0 at ``epochs``
  (``"cosine"``). With neither, the per-epoch ``MultiStepLR`` of the first runs is used unchanged.
* ``min_steps`` -- a budget in optimizer steps: the epoch cap (``epochs`` above) rises to
  ``ceil(min_steps / steps per epoch)`` (:func:`epoch_cap`), so a small training set, with few steps
  an epoch, is not stopped by the cap after far fewer updates than a large one. The patience is then
  counted in the same steps (:func:`patience_epochs`): ``patience / epochs`` of the budget, so such a set
  is not stopped after a handful of updates either.
* ``rising_extension`` -- the cap is soft: a run whose validation accuracy is still rising at its cap goes on,
  for as long as a better validation accuracy came within the last ``patience`` epochs (unscaled; one
  without patience), up to ``rising_extension`` times the cap (:func:`extension_cap`, :func:`past_cap_stop`).
* ``time_shift`` -- each audio training batch's clips are rolled in time by random offsets
  (:func:`avsnn.data.augment.time_shift`), drawn from the global generator the epoch's seed set.

A NaN/inf loss raises :class:`TrainingDiverged` before the optimiser step, and so do non-finite
weights at the end of an epoch (before its checkpoint is written); the checkpoint of the last
finished epoch stays on disk untouched.
"""

from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass
from typing import Callable, Optional

import torch
import torch.nn.functional as F
from tqdm import tqdm

from avsnn.core.kernels import resolve_backend
from avsnn.core.loss import mse_count_loss
from avsnn.data.augment import time_shift
from avsnn.data.batching import ArrayData, resident
from avsnn.device import eval_batch_size, keep_freed_memory, resolve_device, use_channels_last
from avsnn.metrics import accuracy, angular_concentration, predict, run_model

from .config import RunConfig
from .seeding import epoch_seed, rng_state, seed_everything
from .store import RunStore

__all__ = [
    "TrainingDiverged",
    "DistContext",
    "fit",
    "lr_factor",
    "checkpoint_state",
    "should_stop",
    "still_rising",
    "epoch_cap",
    "patience_epochs",
    "extension_cap",
    "past_cap_stop",
    "steps_per_epoch",
]


class TrainingDiverged(RuntimeError):
    """The loss or the weights became NaN or infinite; the last good checkpoint was kept."""


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
        """Whether this process is the main one (rank 0)."""
        return self.rank == 0


# ---- the parts of the recipe ---------------------------------------------------------------------
#: scale of the cosine logits (Eq. 13, in [-1, 1]) in the ANN twin's softmax: unscaled, a softmax over
#: ten cosines gives the right class at most e/(e + 9/e) = 0.45 and learns slowly (NormFace's reason for a scale;
#: 16 is the low end of the scales used there). The spiking network's output LIF has no such cap.
TWIN_COSINE_SCALE = 16.0


def loss_of(cfg: RunConfig, out, y) -> torch.Tensor:
    """The training loss: spike-count MSE (Eqs. 14-16), the ANN twin's cross-entropy, or their sum (``cfg.loss``).

    The ANN twin always trains on cross-entropy of its logits: the L2 head's cosine logits (Eq. 13) scaled by
    :data:`TWIN_COSINE_SCALE`, the fc head's own. A spiking network trains on Eqs. 14-16 (``"count"``), on the
    twin's loss (``"cosine_ce"``) or on both added (``"count+cosine_ce"``).
    """
    twin = cfg.neuron == "relu" or "cosine_ce" in cfg.loss
    count = cfg.neuron != "relu" and "count" in cfg.loss
    total = 0.0
    if twin:
        scale = TWIN_COSINE_SCALE if cfg.head == "l2" else 1.0
        total = F.cross_entropy(scale * out.current.float().mean(0), y)
    if count:
        total = total + mse_count_loss(
            out.spikes.float(), y, cfg.correct_rate, cfg.incorrect_rate, truncate=cfg.truncate_targets
        )
    return total


def steps_per_epoch(cfg: RunConfig, samples: int) -> int:
    """Optimizer steps in one epoch over ``samples`` training samples (at most ``cfg.max_train_batches``)."""
    steps = math.ceil(samples / cfg.batch_size)
    return steps if cfg.max_train_batches is None else min(steps, cfg.max_train_batches)


def epoch_cap(cfg: RunConfig, samples: int) -> int:
    """The run's epoch cap: ``cfg.epochs``, raised to ``ceil(cfg.min_steps / steps per epoch)`` where that is set.

    ``min_steps`` is a budget in optimizer steps: a small training set, with few steps per epoch, gets
    more epochs, so every run can take at least that many steps before its cap.
    """
    if cfg.min_steps is None:
        return cfg.epochs
    return max(cfg.epochs, math.ceil(cfg.min_steps / max(steps_per_epoch(cfg, samples), 1)))


def extension_cap(cfg: RunConfig, samples: int) -> int:
    """The most epochs a run may train: its cap (:func:`epoch_cap`), times ``cfg.rising_extension`` where set."""
    cap = epoch_cap(cfg, samples)
    return cap if cfg.rising_extension is None else math.floor(cap * cfg.rising_extension)


def past_cap_stop(cfg: RunConfig, history: list, cap: int) -> bool:
    """Whether a run that reached its epoch ``cap`` stops there or later (``rising_extension``).

    It goes on past the cap only if its best validation accuracy came in the cap's epoch (it was still
    rising), and then as long as a better one came within the last ``cfg.patience`` epochs (1 without).
    """
    best, last = best_so_far(history)[0], history[-1]["epoch"]
    return best < cap or last - best >= (cfg.patience or 1)


def patience_epochs(cfg: RunConfig, samples: int) -> Optional[int]:
    """Early stopping's patience in epochs: ``cfg.patience``, counted in optimizer steps where ``min_steps`` is set.

    With a step budget the patience is the same share of it as ``patience / epochs``:
    ``patience * min_steps / epochs`` optimizer steps, that is
    ``ceil(patience * min_steps / (epochs * steps per epoch))`` epochs, never fewer than ``cfg.patience``.
    A set with as many steps an epoch as the budget assumes keeps ``cfg.patience``.
    """
    if cfg.patience is None or cfg.min_steps is None:
        return cfg.patience
    per_epoch = cfg.epochs * max(steps_per_epoch(cfg, samples), 1)
    return max(cfg.patience, math.ceil(cfg.patience * cfg.min_steps / per_epoch))  # one division of integers: exact


def lr_factor(cfg: RunConfig, steps_per_epoch: int, epochs: Optional[int] = None) -> Callable[[int], float]:
    """Per-step learning-rate factor: linear warm-up, then milestones (``"step"``) or a cosine to 0 at ``epochs``.

    ``epochs``: the run's epoch cap (:func:`epoch_cap`; default ``cfg.epochs``).
    """
    warm = cfg.warmup_epochs * steps_per_epoch
    total = max((cfg.epochs if epochs is None else epochs) * steps_per_epoch, 1)

    def factor(step: int) -> float:
        if step < warm:
            return (step + 1) / warm
        if cfg.schedule == "cosine":
            return 0.5 * (1.0 + math.cos(math.pi * min((step - warm) / max(total - warm, 1), 1.0)))
        return cfg.gamma ** sum(step >= m * steps_per_epoch for m in cfg.milestones)

    return factor


def make_scheduler(cfg: RunConfig, opt, steps_per_epoch: int, epochs: Optional[int] = None):
    """``(scheduler, per_step)``: the first runs' per-epoch MultiStepLR unless warm-up or cosine is asked for."""
    if cfg.warmup_epochs == 0 and cfg.schedule == "step":
        return torch.optim.lr_scheduler.MultiStepLR(opt, milestones=list(cfg.milestones), gamma=cfg.gamma), False
    return torch.optim.lr_scheduler.LambdaLR(opt, lr_factor(cfg, steps_per_epoch, epochs)), True


def make_optimizer(cfg: RunConfig, params):
    """Adam, AdamW or SGD (momentum 0.9) with the config's learning rate and weight decay."""
    if cfg.optimizer == "adam":
        return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    return torch.optim.SGD(params, lr=cfg.lr, momentum=0.9, weight_decay=cfg.weight_decay)


def fit_input_norm(model, train: ArrayData) -> None:
    """Fit the model's InputNorm (if any) on the training inputs (the part the model is fitted on)."""
    norm = getattr(model, "input_norm", None)
    if hasattr(norm, "fit"):
        norm.fit(ArrayData._convert(train.inputs))


def best_so_far(history: list) -> tuple[int, float]:
    """``(epoch, val_accuracy)`` of the best validation epoch in ``history`` (earliest on ties; (0, -1) if none)."""
    best = (0, -1.0)
    for h in history:
        if h.get("val_accuracy", -1.0) > best[1]:
            best = (h["epoch"], h["val_accuracy"])
    return best


#: validation accuracy that counts as learning: chance plus this share of the way from chance to 100 %
LEARNED_MARGIN = 0.1


def has_learned(val_accuracy: float, num_classes: int) -> bool:
    """Whether ``val_accuracy`` is clearly above chance: at least ``1/K + LEARNED_MARGIN * (1 - 1/K)``."""
    chance = 1.0 / max(num_classes, 1)
    return val_accuracy >= chance + LEARNED_MARGIN * (1.0 - chance)


def should_stop(cfg: RunConfig, history: list, num_classes: int, patience: Optional[int] = None) -> bool:
    """Early stopping: ``patience`` epochs passed without a better validation accuracy, once it learned.

    ``patience``: the run's patience in epochs (:func:`patience_epochs`; default ``cfg.patience``).
    Patience counts only from the first epoch whose validation accuracy is clearly above chance
    (:func:`has_learned`): a run that has not learned yet goes on to its epoch cap (a slow start is
    not a plateau).
    """
    patience = cfg.patience if patience is None else patience
    if patience is None or not history:
        return False
    best_epoch, best_acc = best_so_far(history)
    return has_learned(best_acc, num_classes) and history[-1]["epoch"] - best_epoch >= patience


def still_rising(cfg: RunConfig, history: list, cap: Optional[int] = None) -> bool:
    """Whether a validated run ran to its epoch cap (``cap``, default ``cfg.epochs``) with its best validation last."""
    validated = [h for h in history if "val_accuracy" in h]
    cap = cfg.epochs if cap is None else cap
    return len(validated) > 1 and history[-1]["epoch"] >= cap and best_so_far(history)[0] == history[-1]["epoch"]


def checkpoint_state(cfg, model, opt, sched, epoch, history, num_classes, input_dims, best=None) -> dict:
    """What ``checkpoint.pt`` holds after ``epoch`` epochs (``best``: the best-validation weights so far)."""
    state = {
        "config": cfg.to_dict(),
        "hash": cfg.hash(),
        "epoch": epoch,
        "model": model.state_dict(),
        "optimizer": opt.state_dict(),
        "scheduler": sched.state_dict(),
        "rng": rng_state(),
        "history": history,
        "num_classes": num_classes,
        "input_dims": input_dims,
        "torch_version": torch.__version__,
    }
    if best is not None:  # {"epoch", "val_accuracy", "model"}
        state["best"] = best
    return state


def _margin(split: str, r: dict) -> dict:
    """``{"<split>_margin": ...}`` of :func:`run_model`'s output, if it has features of two or more classes."""
    if r["features"] is None or len(r["labels"].unique()) < 2:
        return {}
    return {f"{split}_margin": angular_concentration(r["features"], r["labels"])["margin"]}


def _kept(epoch: int) -> str:
    return f"the checkpoint of epoch {epoch} is kept" if epoch else "no checkpoint was written"


# ---- the loop --------------------------------------------------------------------------------------
class _Training:
    """One call of :func:`fit`: the model, optimiser and schedule, and what is carried from epoch to epoch."""

    def __init__(self, cfg: RunConfig, store: RunStore, train: ArrayData, model_fn, dist: DistContext):
        self.cfg, self.store, self.train, self.dist = cfg, store, train, dist
        self.device = device = resolve_device(cfg.device)
        self.num_classes = train.num_classes
        self.input_dims = train.input_dims() if cfg.modality == "fusion" else None
        seed_everything(cfg.seed)
        model = model_fn(cfg, self.num_classes, self.input_dims)
        fit_input_norm(model, train)
        self.model = model.to(device)
        self.train = resident(train, device)  # a small set on the GPU once: a batch is one index there
        self.batches = steps_per_epoch(cfg, len(train))
        self.epochs = epoch_cap(cfg, len(train))
        self.limit = extension_cap(cfg, len(train))
        self.patience = patience_epochs(cfg, len(train))
        self.opt = make_optimizer(cfg, self.model.parameters())
        self.sched, self.per_step = make_scheduler(cfg, self.opt, self.batches, self.epochs)
        self.history, self.start, self.best = [], 0, None
        self.resumed = store.resume_checkpoint(map_location=device, repair=dist.is_main)
        if self.resumed is not None:
            ck = self.resumed
            self.model.load_state_dict(ck["model"])
            self.opt.load_state_dict(ck["optimizer"])
            self.sched.load_state_dict(ck["scheduler"])
            self.history, self.start, self.best = list(ck["history"]), int(ck["epoch"]), ck.get("best")
        if device.type == "cpu":
            keep_freed_memory()  # no page faults on every step's activations (avsnn.device)
        self.channels_last = use_channels_last(cfg.channels_last, device)  # a layout: the same function
        if self.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        self.net = dist.wrap(self.model) if dist.wrap is not None else self.model
        self.amp = cfg.amp and device.type == "cuda"
        if cfg.neuron == "lif":  # an unavailable explicit backend fails here, before the first epoch
            resolve_backend(
                torch.empty(0, device=device, dtype=torch.bfloat16 if self.amp else torch.float32), cfg.lif_backend
            )

    def train_epoch(self, epoch: int, progress: bool) -> dict:
        """One seeded pass over the training part; the epoch's record (loss, train accuracy, lr, seconds)."""
        cfg, dist = self.cfg, self.dist
        es = epoch_seed(cfg.seed, epoch)
        seed_everything(es)
        order = torch.randperm(len(self.train), generator=torch.Generator().manual_seed(es))
        self.model.train()
        lr = self.opt.param_groups[0]["lr"]  # the rate the epoch starts with
        t0 = time.perf_counter()
        stats = torch.zeros(3, dtype=torch.float64)  # loss*samples, correct, samples (this rank)
        bar = tqdm(
            range(self.batches),
            desc=f"{cfg.modality} {self.store.path.name} epoch {epoch + 1}/{self.epochs}",
            disable=not (progress and dist.is_main),
            leave=False,
            file=sys.stderr,
        )
        for b in bar:
            loss = self._step(epoch, b, order[b * cfg.batch_size : (b + 1) * cfg.batch_size], stats)
            if progress and loss is not None:
                bar.set_postfix(loss=f"{float(loss):.4f}")
        bar.close()
        bad = [name for name, p in self.model.named_parameters() if not torch.isfinite(p).all()]
        if bad:
            raise TrainingDiverged(
                f"weights became non-finite in epoch {epoch + 1} of run {self.store.path} "
                f"({len(bad)} parameter tensors, first {bad[0]!r}); {_kept(epoch)}"
            )
        stats = dist.all_reduce(stats)
        if not self.per_step:
            self.sched.step()
        return {
            "epoch": epoch + 1,
            "loss": float(stats[0] / stats[2]),
            "train_accuracy": float(stats[1] / stats[2]),
            "lr": lr,
            "seconds": time.perf_counter() - t0,
        }

    def _step(self, epoch: int, b: int, gidx: torch.Tensor, stats: torch.Tensor) -> Optional[torch.Tensor]:
        """One optimiser step on this rank's share of global batch ``gidx``; adds to ``stats``.

        Returns the loss, or None when this rank had no sample of the batch (it steps with zero weight).
        """
        cfg, dist = self.cfg, self.dist
        idx = gidx[dist.rank :: dist.world_size]  # each rank: an equal share of the global batch
        empty = len(idx) == 0  # tiny last batch, fewer samples than ranks
        if empty:
            idx = gidx[:1]
        x, y = self.train.batch(idx, self.device)
        if cfg.time_shift:
            x = time_shift(x, cfg.time_shift)
        if self.channels_last and isinstance(x, torch.Tensor) and x.dim() == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.amp):
            out = self.net(x)
        loss = loss_of(cfg, out, y)
        if not torch.isfinite(loss):
            raise TrainingDiverged(
                f"loss became {loss.item()} at epoch {epoch + 1}, batch {b + 1}/{self.batches} of "
                f"run {self.store.path}; {_kept(epoch)}"
            )
        # rank-local mean -> share of the global mean; DDP averages gradients over ranks
        scale = 0.0 if empty else len(idx) * dist.world_size / len(gidx)
        self.opt.zero_grad(set_to_none=True)
        (loss * scale).backward()
        self.opt.step()
        if self.per_step:
            self.sched.step()
        if empty:
            return None
        with torch.no_grad():
            pred = predict(out.spikes.float(), out.current.float() if out.current is not None else None)
            stats += torch.tensor([loss.item() * len(idx), float((pred == y).sum()), len(idx)], dtype=torch.float64)
        return loss

    def evaluate(self, rec: dict, val: Optional[ArrayData], test: ArrayData) -> None:
        """Add validation accuracy (kept as ``best`` when better) to the epoch's record ``rec``.

        Without a validation part, the test accuracy instead (a learning curve that selects nothing).
        Beside the accuracy, the angular margin of that split's last-hidden features
        (``val_margin`` / ``test_margin``, :func:`avsnn.metrics.angular_concentration`: Lemma 2's
        concentration over epochs, read by chapter 02), from the same forward pass.
        """
        dist, bs = self.dist, eval_batch_size(self.device, self.cfg.batch_size)
        if val is not None:  # validated on the main rank, shared so every rank stops at the same epoch
            shared = torch.zeros(1, dtype=torch.float64)
            if dist.is_main:
                r = run_model(self.model, val, batch_size=bs, device=self.device, amp=self.amp, z_av=False)
                shared += accuracy(r["pred"], r["labels"])
                rec.update(_margin("val", r))
            rec["val_accuracy"] = float(dist.all_reduce(shared)[0])
            if self.best is None or rec["val_accuracy"] > self.best["val_accuracy"]:
                self.best = {
                    "epoch": rec["epoch"],
                    "val_accuracy": rec["val_accuracy"],
                    "model": {k: v.detach().clone() for k, v in self.model.state_dict().items()},
                }
        elif dist.is_main:
            r = run_model(self.model, test, batch_size=bs, device=self.device, amp=self.amp, z_av=False)
            rec["test_accuracy"] = accuracy(r["pred"], r["labels"])
            rec.update(_margin("test", r))

    def save(self, epoch: int, best: Optional[dict] = None) -> None:
        """Write the checkpoint after ``epoch`` epochs."""
        self.store.save_checkpoint(
            checkpoint_state(
                self.cfg, self.model, self.opt, self.sched, epoch, self.history, self.num_classes, self.input_dims, best
            )
        )

    def finish(self) -> torch.nn.Module:
        """The run's model: the best-validation weights if validated (checkpointed as ``model``), else the last."""
        if self.resumed is None and self.epochs == 0 and self.dist.is_main:
            self.save(0)
        if self.best is not None:
            self.model.load_state_dict(self.best["model"])
            if self.dist.is_main:
                self.save(self.history[-1]["epoch"], self.best)
        # Back to the default layout: the final metrics and every later use see the same model as one
        # loaded from the store (the layout changes float rounding in convolutions, not the function).
        return self.model.to(memory_format=torch.contiguous_format).eval()


def _epoch_line(cap: int, rec: dict) -> str:
    shown = "".join(f"{k} {rec[k + '_accuracy']:.3f} " for k in ("val", "test") if k + "_accuracy" in rec)
    return (
        f"epoch {rec['epoch']}/{cap}: loss {rec['loss']:.4f} train {rec['train_accuracy']:.3f} "
        f"{shown}lr {rec['lr']:.2e} ({rec['seconds']:.1f}s)"
    )


def fit(
    cfg: RunConfig,
    store: RunStore,
    train: ArrayData,
    test: ArrayData,
    *,
    model_fn: Callable,
    progress: bool,
    verbose: bool,
    on_epoch_end: Optional[Callable],
    dist: DistContext,
    val: Optional[ArrayData] = None,
) -> torch.nn.Module:
    """Train ``model_fn(cfg, ...)`` on ``train`` up to its epoch cap (:func:`epoch_cap`); return it (eval, CPU layout).

    Training resumes after the last epoch of the store's checkpoint, if any. Each epoch: a pass in
    the seeded order of :mod:`avsnn.train.seeding` (under DDP each rank takes its share of every
    global batch), a finiteness check of the weights, validation on ``val`` (else the test accuracy,
    for the learning curve), then (main rank) the checkpoint and ``history.json`` are written and one line is
    printed when ``verbose``; ``on_epoch_end(epoch, model)`` is called last. Training stops early
    per the run's patience (:func:`patience_epochs`). With ``val``, the returned model holds the
    best-validation weights.
    Raises :class:`TrainingDiverged` on a non-finite loss or non-finite weights.
    """
    t = _Training(cfg, store, train, model_fn, dist)
    if t.resumed is not None and verbose and dist.is_main:
        print(f"resuming {store.path} after epoch {t.start}/{t.epochs}", flush=True)
    for epoch in range(t.start, t.limit):
        if should_stop(cfg, t.history, t.num_classes, t.patience):
            break
        if epoch >= t.epochs and past_cap_stop(cfg, t.history, t.epochs):
            break
        rec = t.train_epoch(epoch, progress)
        t.evaluate(rec, val, test)
        t.history.append(rec)
        if dist.is_main:
            t.save(epoch + 1, t.best)
            store.write_history(t.history)
            if verbose:
                print(_epoch_line(t.epochs, rec), flush=True)
        dist.barrier()
        if on_epoch_end is not None:
            on_epoch_end(epoch + 1, t.model)
    return t.finish()
