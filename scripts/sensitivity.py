"""Sensitivity study of the training recipe (issue #16): validation accuracy over a one-factor-at-a-time grid.

Around a base recipe (per modality), each grid row changes one setting (or switches one part of
the recipe off); every row runs on every dataset for every seed through the training engine
(:func:`avsnn.train.train_or_load`, so finished runs are cached in ``--store`` and a rerun only
collects them). Every run carves a validation part from its training split (``val_frac``); the
tables report the best validation accuracy (mean +- sd over seeds), the quantity defaults are
chosen on. Test accuracy is kept in the JSON only.

Order: seed-major (all rows for seed 0, then seed 1, ...), base rows first, so a run cut short by
``--max-minutes`` still holds every row for the first seeds. Results are rewritten after every run.

    python scripts/sensitivity.py --out results/sensitivity               # CPU, size "small"
    python scripts/sensitivity.py --device cuda --size medium --seeds 3 --max-minutes 8 --out results/gpu

Datasets: ``synthetic`` (the synthetic set, default settings), ``synthetic-hard`` (the same
generator with more image/audio noise and harder confusable pairs, generated into
``<store>/data``) and ``avdigits`` (the real-signal set of the book, its default settings). The
results folders named ``*embedded*`` were written when the synthetic set was called ``embedded``.

    python scripts/sensitivity.py --size book --datasets avdigits --modalities vision \
        --rows base "warm-up, constant lr" --threads 1 --val-frac 0.15 \
        --out scripts/sensitivity_results/cpu_book_avdigits
    python scripts/sensitivity.py --size book --datasets synthetic --per-class 100 --modalities vision \
        --rows base "warm-up, constant lr" --threads 1 --val-frac 0.15 \
        --out scripts/sensitivity_results/cpu_book_embedded
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from avsnn.files import atomic_write_bytes  # noqa: E402
from avsnn.train import RunStore, train_or_load  # noqa: E402
from avsnn.train.profiles import make_config  # noqa: E402

# the recipe under study (the default profile's choices), per modality; rows below change one thing
BASE = {
    "vision": dict(
        input_norm=True,
        zero_init_residual=True,
        threshold=0.5,
        lr=3e-3,
        warmup_epochs=1,
        schedule="cosine",
        weight_decay=1e-4,
        milestones=(),
    ),
    "audio": dict(input_norm=True, lr=3e-3, warmup_epochs=1, schedule="cosine", milestones=()),
    # (the study that chose the default profile started from this base; its "warm-up, constant lr" row won)
}
ROWS = {
    "vision": [
        ("base", {}),
        ("zero_init_residual off", {"zero_init_residual": False}),
        ("input_norm off", {"input_norm": False}),
        ("no warm-up, constant lr", {"warmup_epochs": 0, "schedule": "step"}),
        ("warm-up, constant lr", {"schedule": "step"}),
        ("warm-up, constant lr 1e-2", {"schedule": "step", "lr": 1e-2}),
        ("lr 1e-3", {"lr": 1e-3}),
        ("lr 1e-2", {"lr": 1e-2}),
        ("threshold 1.0", {"threshold": 1.0}),
        ("threshold 0.25", {"threshold": 0.25}),
        ("surrogate alpha 4", {"surrogate_scale": 4.0}),
        ("rates 1.0/0.0", {"correct_rate": 1.0, "incorrect_rate": 0.0}),
        ("head fc", {"head": "fc"}),
        ("ANN twin (ReLU, CE)", {"neuron": "relu"}),
    ],
    "audio": [
        ("base", {}),
        ("input_norm off", {"input_norm": False}),
        ("no warm-up, constant lr", {"warmup_epochs": 0, "schedule": "step"}),
        ("warm-up, constant lr", {"schedule": "step"}),
        ("lr 1e-3", {"lr": 1e-3}),
        ("threshold 0.5", {"threshold": 0.5}),
        ("ANN twin (ReLU, CE)", {"neuron": "relu"}),
    ],
}
# run sizes: "small" is seconds per run on one CPU core; "medium" is for a GPU
SIZES = {
    "small": {
        "vision": dict(width=8, timesteps=4, per_class=40, batch_size=16, epochs=8, patience=3),
        "audio": dict(audio_channels=(8, 16, 32), timesteps=4, per_class=40, batch_size=16, epochs=8, patience=3),
    },
    # the default profile's sizes (the book's runs), with up to 12 epochs: minutes per run on one CPU core
    "book": {
        "vision": dict(width=16, timesteps=4, per_class=250, batch_size=32, epochs=12, patience=3),
        "audio": dict(audio_channels=(8, 16, 32), timesteps=4, per_class=250, batch_size=32, epochs=12, patience=3),
    },
    "medium": {
        "vision": dict(width=16, timesteps=4, per_class=250, batch_size=32, epochs=15, patience=4),
        "audio": dict(audio_channels=(8, 16, 32), timesteps=4, per_class=250, batch_size=32, epochs=15, patience=4),
    },
}
DATASETS = {
    "synthetic": None,
    "synthetic-hard": dict(image_noise=0.35, audio_noise=0.8, confusion=0.8),
    "avdigits": "avdigits",  # the real-signal set, generated with its defaults (avsnn.data.avdigits)
}


def dataset_arg(name: str, per_class: int, store: Path) -> tuple[str, int | None]:
    """``(dataset, per_class)`` config values for a named dataset (generating the variant once)."""
    if DATASETS[name] is None:
        return "synthetic", per_class
    if isinstance(DATASETS[name], str):
        return DATASETS[name], per_class
    from avsnn.data.synthetic import make_synthetic

    folder = store / "data" / f"{name}-{per_class}"
    make_synthetic(folder, per_class=per_class, **DATASETS[name])
    return str(folder), None


def grid(modalities, datasets, seeds, rows=None):
    """Yield ``(seed, dataset, modality, row label, change)`` for every run, seed-major."""
    for seed in range(seeds):
        for ds in datasets:
            for mod in modalities:
                for label, change in ROWS[mod]:
                    if rows is None or label in rows:
                        yield seed, ds, mod, label, change


def summarise(results: list) -> dict:
    """Validation accuracies grouped as ``{(modality, row label): {dataset: [one per seed]}}``."""
    table = {}
    for r in results:
        table.setdefault((r["modality"], r["label"]), {}).setdefault(r["dataset"], []).append(r["val_accuracy"])
    return table


def markdown(results: list, args) -> str:
    """The results as markdown, one table per modality: validation accuracy per row and dataset."""
    table = summarise(results)
    lines = [
        f"Validation accuracy (best epoch, mean ± sd over seeds; n = seeds done), size {args.size!r}"
        f"{f', {args.per_class} samples per class' if args.per_class else ''}, device {args.device}. "
        "One row = the base recipe with one change.",
        "",
    ]
    for mod in args.modalities:
        cols = [d for d in args.datasets]
        lines += [
            f"**{mod}** (base: {', '.join(f'{k}={v}' for k, v in BASE[mod].items())})",
            "",
            "| change | " + " | ".join(cols) + " |",
            "|---|" + "---|" * len(cols),
        ]
        for label, _ in ROWS[mod]:
            cells = []
            for d in cols:
                v = table.get((mod, label), {}).get(d, [])
                sd = statistics.stdev(v) if len(v) > 1 else 0.0
                cells.append(f"{statistics.mean(v):.3f} ± {sd:.3f} (n={len(v)})" if v else "–")
            if any(c != "–" for c in cells):  # rows not run (``--rows``) are left out
                lines.append(f"| {label} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def main(argv=None) -> int:
    """Train (or collect) the grid's runs, rewriting ``results.json`` and ``results.md`` in ``--out`` after each."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", type=Path, default=Path("results/sensitivity"), help="folder for results.json/.md")
    p.add_argument("--store", type=Path, default=None, help="run store (default: OUT/runs)")
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    p.add_argument("--size", choices=tuple(SIZES), default="small")
    p.add_argument("--seeds", type=int, default=2)
    p.add_argument("--modalities", nargs="+", choices=tuple(ROWS), default=list(ROWS))
    p.add_argument("--datasets", nargs="+", choices=tuple(DATASETS), default=["synthetic", "synthetic-hard"])
    p.add_argument("--val-frac", type=float, default=0.2)
    p.add_argument("--per-class", type=int, default=None, help="samples per class (default: the size's)")
    p.add_argument("--max-minutes", type=float, default=None, help="start no run that would end after this")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (1 is fastest on a busy CPU)")
    p.add_argument("--rows", nargs="+", default=None, help="only these row labels (default: all)")
    p.add_argument("--cached-only", action="store_true", help="collect finished runs from the store, train none")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    store = args.store or args.out / "runs"
    args.out.mkdir(parents=True, exist_ok=True)
    t_start, durations, results = time.perf_counter(), [], []
    todo = list(grid(args.modalities, args.datasets, args.seeds, args.rows))
    for i, (seed, ds, mod, label, change) in enumerate(todo):
        elapsed = (time.perf_counter() - t_start) / 60
        guess = statistics.mean(durations) / 60 if durations else 0.0
        if args.max_minutes is not None and elapsed + guess > args.max_minutes:
            print(f"time limit: {len(todo) - i} of {len(todo)} runs not started", flush=True)
            break
        size = {**SIZES[args.size][mod], **({"per_class": args.per_class} if args.per_class else {})}
        dataset, per_class = dataset_arg(ds, size["per_class"], store)
        settings = {
            **BASE[mod],
            **size,
            **change,
            "per_class": per_class,
            "seed": seed,
            "val_frac": args.val_frac,
            "device": args.device,
            "progress": False,
            "dataset": dataset,
        }
        cfg = make_config(mod, "default", overrides=settings)
        if args.cached_only and not RunStore(cfg, store).done:
            continue
        t0 = time.perf_counter()
        run = train_or_load(cfg, store, progress=False, verbose=False)
        durations.append(time.perf_counter() - t0)
        m = run.metrics
        results.append(
            {
                "modality": mod,
                "dataset": ds,
                "label": label,
                "change": change,
                "seed": seed,
                "hash": cfg.hash(),
                "val_accuracy": m["val_accuracy"],
                "best_epoch": m["best_epoch"],
                "epochs": m["epochs"],
                "test_accuracy": m["test_accuracy"],
                "seconds": m["train_seconds"],
            }
        )
        print(
            f"[{i + 1}/{len(todo)}] {mod} {ds} seed {seed} {label}: val {m['val_accuracy']:.3f} "
            f"(best epoch {m['best_epoch']}/{m['epochs']}, {durations[-1]:.0f}s)",
            flush=True,
        )
        atomic_write_bytes(
            args.out / "results.json",
            json.dumps(
                {
                    "size": args.size,
                    "device": args.device,
                    "base": BASE,
                    "sizes": SIZES[args.size],
                    "datasets": {d: DATASETS[d] for d in args.datasets},
                    "results": results,
                },
                indent=1,
            ).encode(),
        )
        atomic_write_bytes(args.out / "results.md", markdown(results, args).encode())
    print(markdown(results, args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
