"""Multi-process training with PyTorch DistributedDataParallel (one node or several).

Launch with ``torchrun`` (same options as ``avsnn train``)::

    python -m torch.distributed.run --nproc_per_node=2 -m avsnn.train.ddp --modality vision --profile default
    # several nodes: add --nnodes=N --node_rank=i --rdzv_backend=c10d --rdzv_endpoint=HOST:PORT

or from Python on one machine with :func:`launch_local` (``torch.multiprocessing.spawn``).

Backend: NCCL on CUDA (one GPU per process, ``LOCAL_RANK``), gloo on the CPU.

Semantics (the epoch loop in :mod:`avsnn.train.fit`): every rank draws the *same* seeded
permutation, takes global batch ``b`` and keeps every ``world_size``-th sample of it
(``gidx[rank::world_size]``). Each rank scales its local mean loss by
``local_n * world_size / global_n`` so that DDP's gradient averaging yields exactly the
single-process mean gradient of the whole global batch (also for a ragged last batch).
Parameters start equal (same seed; DDP also broadcasts rank 0's). Only rank 0 writes the
run store (checkpoints, history, metrics, DONE); the others wait at barriers.

Equivalence with one process:

* models without BatchNorm (or on CUDA, where BatchNorm is converted to ``SyncBatchNorm``):
  the same run up to floating-point summation order -- the test checks parameters agree to
  ``atol=1e-5`` after an epoch;
* BatchNorm on the CPU: ``SyncBatchNorm`` needs a GPU, so each rank normalises with the
  statistics of its half-batch (as in plain DDP). Training is then *not* identical to one
  process -- it is DDP's usual "BN per device" behaviour, comparable to a smaller BN batch --
  and results agree only statistically; running statistics are rank 0's (DDP broadcasts
  rank 0's buffers every forward).
"""

from __future__ import annotations

import argparse
import os
import socket
from typing import Callable, Optional

import torch
import torch.distributed as tdist

from .cli import add_run_arguments, config_from_args
from .config import RunConfig
from .engine import train_or_load
from .factories import build_model, load_datasets
from .fit import DistContext


def init_distributed(backend: Optional[str] = None) -> DistContext:
    """Join the process group described by the ``torchrun`` environment; return the context."""
    use_cuda = torch.cuda.is_available() and backend != "gloo"
    backend = backend or ("nccl" if use_cuda else "gloo")
    local_rank = int(os.environ.get("LOCAL_RANK", 0))
    if use_cuda:
        torch.cuda.set_device(local_rank)
    if not tdist.is_initialized():
        tdist.init_process_group(backend)
    rank, world = tdist.get_rank(), tdist.get_world_size()

    def wrap(model):
        from torch.nn.parallel import DistributedDataParallel as DDP

        if use_cuda:
            model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)  # swaps BN in place, same Parameters
            return DDP(model, device_ids=[local_rank])
        return DDP(model)

    def all_reduce(t: torch.Tensor) -> torch.Tensor:
        x = t.cuda() if backend == "nccl" else t
        tdist.all_reduce(x, op=tdist.ReduceOp.SUM)
        return x.cpu() if backend == "nccl" else x

    return DistContext(rank=rank, world_size=world, wrap=wrap, barrier=tdist.barrier, all_reduce=all_reduce)


def train_distributed(
    cfg: RunConfig,
    store_root=None,
    progress=None,
    *,
    model_fn: Callable = build_model,
    data_fn: Callable = load_datasets,
    backend: Optional[str] = None,
    verbose=None,
):
    """Run :func:`train_or_load` as one rank of an initialised (or ``torchrun``) process group."""
    ctx = init_distributed(backend)
    try:
        return train_or_load(cfg, store_root, progress, model_fn=model_fn, data_fn=data_fn, dist=ctx, verbose=verbose)
    finally:
        tdist.barrier()
        tdist.destroy_process_group()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank, world, port, cfg_dict, store_root, model_fn, data_fn, backend):
    os.environ.update(
        MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(world)
    )
    torch.set_num_threads(1)
    train_distributed(
        RunConfig.from_dict(cfg_dict),
        store_root,
        False,
        model_fn=model_fn,
        data_fn=data_fn,
        backend=backend,
        verbose=False,
    )


def launch_local(
    cfg: RunConfig,
    world_size: int = 2,
    store_root=None,
    *,
    model_fn: Callable = build_model,
    data_fn: Callable = load_datasets,
    backend: Optional[str] = None,
):
    """Train ``cfg`` with ``world_size`` processes on this machine (``torch.multiprocessing.spawn``).

    ``model_fn``/``data_fn`` must be picklable (module-level functions). Returns the finished run,
    loaded in this process from the store rank 0 wrote.
    """
    import torch.multiprocessing as mp

    mp.spawn(
        _worker,
        args=(
            world_size,
            _free_port(),
            cfg.to_dict(),
            None if store_root is None else str(store_root),
            model_fn,
            data_fn,
            backend,
        ),
        nprocs=world_size,
        join=True,
    )
    return train_or_load(cfg, store_root, False, model_fn=model_fn, data_fn=data_fn)  # a cache hit


def main(argv=None) -> int:
    """Entry point under torchrun: train one run with DDP; rank 0 prints the run folder."""
    p = argparse.ArgumentParser(
        prog="python -m torch.distributed.run ... -m avsnn.train.ddp", description="avsnn train under torchrun (DDP)"
    )
    add_run_arguments(p)
    p.add_argument("--backend", default=None, choices=("gloo", "nccl"))
    args = p.parse_args(argv)
    cfg = config_from_args(args)
    run = train_distributed(
        cfg, args.runs, False if args.quiet else None, backend=args.backend, verbose=False if args.quiet else None
    )
    if int(os.environ.get("RANK", 0)) == 0:
        print(run.path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
