"""Arms over seeds and their training: one configuration per seed, trained (or loaded) from the run store.

An *arm* is one configuration trained once per seed (the data split stays fixed; initialisation and
sample order change with the seed). :func:`train_all` trains every missing run of several arms in
one-thread worker processes, on the CPU or several at once on one GPU.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Optional, Sequence

import torch
from tqdm import tqdm

from avsnn.device import resolve_device
from avsnn.evidence import Summary, summarize
from avsnn.train import RunStore, load_finished, make_config, train_or_load


@dataclass
class Arm:
    """One configuration over seeds: ``configs[i]`` is trained with ``seeds[i]``."""

    name: str
    modality: str
    configs: list
    seeds: tuple
    runs: list = field(default_factory=list, repr=False)

    def train(self, verbose: bool = False) -> "Arm":
        """Train or load every seed's run (``train_or_load``: stored runs are reused, never retrained)."""
        if not self.runs:
            self.runs = [train_or_load(c, verbose=verbose) for c in self.configs]
        return self

    def load(self) -> "Arm":
        """Read every seed's finished run from the store; never trains (an unfinished one is a ``LookupError``)."""
        if not self.runs:
            self.runs = [load_finished(c) for c in self.configs]
        return self

    @property
    def accuracies(self) -> list:
        """Per-seed test accuracies (fractions) of the kept (best-validation) models (read, never trained)."""
        return [r.metrics["test_accuracy"] for r in self.load().runs]

    def accuracies_at(self, seeds: Sequence[int]) -> list:
        """The test accuracies of the runs with ``seeds``, in that order (each must be one of :attr:`seeds`)."""
        missing = [s for s in seeds if s not in self.seeds]
        if missing:
            raise ValueError(f"arm {self.name!r} has no run with seed(s) {missing}; its seeds are {list(self.seeds)}")
        by_seed = dict(zip(self.seeds, self.accuracies))
        return [by_seed[s] for s in seeds]

    @property
    def summary(self) -> Summary:
        """The :class:`Summary` of the per-seed test accuracies."""
        return summarize(self.accuracies)


def arm(name: str, modality: str, profile: str, data: str, seeds: Sequence[int], **overrides) -> Arm:
    """An :class:`Arm` of ``make_config(modality, profile, data, {**overrides, "seed": s})`` for each seed."""
    seeds = tuple(int(s) for s in seeds)
    if not seeds:
        raise ValueError("seeds must name at least one seed, e.g. seeds=(0, 1, 2)")
    configs = [make_config(modality, profile, data=data, overrides={**overrides, "seed": s}) for s in seeds]
    return Arm(name, modality, configs, seeds)


#: runs at once on one CUDA device: a small network leaves the GPU idle between its kernel launches, which
#: the other processes' kernels fill; large ones share it in turns
CUDA_WORKERS = 4


def worker_count(device_type: str, runs: int, workers: Optional[int] = None, cpus: Optional[int] = None) -> int:
    """How many processes :func:`train_all` trains ``runs`` runs with (1: in this process).

    ``workers`` if given, else on the CPU one per core (at most 4), on CUDA :data:`CUDA_WORKERS`;
    never more than there are runs.
    """
    if workers is None:
        workers = min(cpus or os.cpu_count() or 1, 4) if device_type == "cpu" else CUDA_WORKERS
    if workers < 1:
        raise ValueError(f"workers must be a positive integer, got {workers!r}")
    return max(1, min(workers, runs))


def _init_worker(device_type: str) -> None:
    """A worker process: one CPU thread, and on CUDA the device its runs use (processes share it)."""
    torch.set_num_threads(1)
    if device_type == "cuda":
        torch.cuda.set_device(0)


def _train_one(cfg) -> str:
    return train_or_load(cfg, progress=False, verbose=False).path.name


def _stages(configs) -> list:
    """Unimodal runs first, then fusion runs (whose inputs are then found in the store)."""
    uni = [c for c in configs if c.modality != "fusion"]
    subs = [s for c in configs if c.modality == "fusion" for s in c.sub_configs.values()]
    fusion = [c for c in configs if c.modality == "fusion"]
    return [uni + subs, fusion]


def train_all(arms, workers: Optional[int] = None, desc: str = "training") -> None:
    """Train every run of ``arms`` that the store does not hold yet, ``workers`` at a time.

    The runs go to worker processes of one thread each (:func:`worker_count`; spawned, so CUDA
    starts afresh in each). On the CPU: small spiking networks use two cores better as two
    one-thread runs than as one two-thread run, and a one-thread run gives the same numbers on any
    machine of one CPU kind, whatever its core count. On a GPU several runs share the device.
    With one worker (or one run) they train here, one after the other. Finished runs are read
    from the store either way; a progress bar counts runs.
    """
    configs = [c for a in (arms.values() if isinstance(arms, dict) else arms) for c in a.configs]
    device_type = "cpu" if all(resolve_device(c.device).type == "cpu" for c in configs) else "cuda"
    for stage in _stages(configs):
        todo = list({c.hash(): c for c in stage if not RunStore(c).done}.values())
        if not todo:
            continue
        bar = tqdm(total=len(todo), desc=desc, unit="run", file=sys.stderr)
        processes = worker_count(device_type, len(todo), workers)
        if processes == 1:
            for c in todo:
                train_or_load(c, progress=False, verbose=False)
                bar.update()
        else:
            ctx = multiprocessing.get_context("spawn")
            with ProcessPoolExecutor(
                processes, mp_context=ctx, initializer=_init_worker, initargs=(device_type,)
            ) as pool:
                for _ in pool.map(_train_one, todo):
                    bar.update()
        bar.close()
