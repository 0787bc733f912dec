"""What ``avsnn train`` and ``avsnn show`` print: labelled, rounded, with the chance level beside accuracies.

* :func:`find_run` -- a run folder from a folder path, a run key, a config hash or a unique prefix of either;
* :func:`store_state` -- before training: will the run be trained now, resumed, or is it finished already;
* :func:`format_train_result` -- ``train``'s summary; :func:`format_run` -- ``show``'s report.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

from .store import RunStore, default_root, describe_problems, read_json_file, verify_run

FOUND, RESUMED, TRAINED, REPAIRED = (
    "found finished in the run store",
    "resumed",
    "trained now",
    "repaired",
)


def chance_level(metrics: dict) -> Optional[float]:
    """``1 / number of classes`` of a run's metrics (its ``classes`` or confusion matrix); ``None`` if unknown."""
    n = len(metrics.get("classes") or metrics.get("confusion") or ())
    return 1.0 / n if n else None


def percent(x) -> str:
    """A fraction as a percentage with one decimal (``0.1667`` -> ``"16.7 %"``)."""
    return f"{100 * float(x):.1f} %"


def accuracy_with_chance(metrics: dict, key: str = "test_accuracy") -> str:
    """``"16.7 % (chance 10.0 %, 10 classes)"``: an accuracy beside what guessing would score."""
    chance = chance_level(metrics)
    text = percent(metrics.get(key, float("nan")))
    return text if chance is None else f"{text} (chance {percent(chance)}, {round(1 / chance)} classes)"


def store_state(store: RunStore) -> tuple[str, str]:
    """``(state, detail)`` of a run's folder before :func:`avsnn.train.train_or_load`.

    ``state``: :data:`FOUND` (finished and intact: it will be loaded), :data:`REPAIRED` (finished but
    damaged), :data:`RESUMED` (a checkpoint of an unfinished run) or :data:`TRAINED` (nothing yet).
    """
    if store.done:
        problems = store.verify()
        return (REPAIRED, describe_problems(problems)) if problems else (FOUND, "")
    if store.has_checkpoint():
        epochs = len(store.read_json(RunStore.HISTORY, []) or [])
        return RESUMED, f"after epoch {epochs}" if epochs else ""
    return TRAINED, ""


def lif_backend(device: str, requested: str = "auto") -> str:
    """The LIF scan backend a float32 network asking for ``requested`` runs on ``device`` (``cpp`` ...)."""
    import torch

    from avsnn.core.kernels import resolve_backend

    return resolve_backend(torch.empty(1, device=device), requested)


def format_train_result(run, state: str, detail: str = "", device: Optional[str] = None) -> str:
    """``avsnn train``'s summary of a finished ``run``; its last line is the run folder alone.

    ``state`` / ``detail``: from :func:`store_state` before training. ``device``: where it was trained
    now (with the LIF backend it used); ``None`` when it was loaded from the store.
    """
    m, cfg = run.metrics, run.config
    sep = m.get("separability", {}).get("test", {})
    how = f"{state} ({detail})" if detail else state
    if device is not None and state != FOUND:
        how += f" on {device}, LIF backend {m.get('lif_backend') or lif_backend(device, cfg.lif_backend)}"
    lines = [
        f"config hash    {cfg.hash()} ({cfg.modality}, profile {cfg.profile}, data {cfg.dataset})",
        f"run key        {run.path.name}",
        f"status         {how}",
        f"test accuracy  {accuracy_with_chance(m)}",
    ]
    if "ratio" in sep:
        lines.append(f"separability   inter/intra {sep['ratio']:.3f} (test features)")
    if "train_seconds" in m:
        lines.append(f"training time  {m['train_seconds']:.1f} s over {m.get('epochs', '?')} epochs")
    lines.append(f"run folder (`avsnn show {run.path.name}` for details):")
    lines.append(str(run.path))
    return "\n".join(lines)


def _runs(root: Path) -> list[tuple[Path, str]]:
    """``(folder, config hash)`` of every run folder with a readable ``config.json`` under ``root``."""
    out = []
    for q in sorted(root.glob("*/config.json")) if root.is_dir() else ():
        try:
            out.append((q.parent, str(read_json_file(q).get("config_hash", ""))))
        except ValueError:  # a damaged config.json is not this lookup's concern
            continue
    return out


def _newest(folders) -> Path:
    return max(folders, key=lambda q: (q / RunStore.CONFIG).stat().st_mtime_ns)


def find_run(arg: str, runs=None) -> Path:
    """The run folder ``arg`` names: a folder, a run key, a config hash (its newest run) or a unique prefix.

    A prefix that fits several runs of different configs raises ``ValueError`` listing them.
    """
    p, root = Path(arg), default_root(runs)
    for q in (p, root / arg):
        if (q / RunStore.CONFIG).exists():
            return q
    if not arg or os.sep in arg:
        raise FileNotFoundError(f"no run folder at {p}")
    known = _runs(root)
    exact = [q for q, h in known if h == arg]
    if exact:  # a config hash: its runs (several after data or code changes)
        return _newest(exact)
    hits = [(q, h) for q, h in known if q.name.startswith(arg) or h.startswith(arg)]
    if hits and len({h for _, h in hits}) == 1 and all(h.startswith(arg) for _, h in hits):
        return _newest(q for q, _ in hits)  # a prefix of one config hash: that config's newest run
    if len(hits) == 1:
        return hits[0][0]
    if hits:
        listed = ", ".join(f"{q.name} (config {h})" for q, h in hits[:10])
        more = f" and {len(hits) - 10} more" if len(hits) > 10 else ""
        raise ValueError(f"run prefix {arg!r} is ambiguous in {root}: it fits {listed}{more}; give more characters")
    raise FileNotFoundError(f"no run folder at {p}, and no run key or config hash in {root} starts with {arg!r}")


def _value(key: str, v) -> str:
    """A metric rounded for reading: accuracies as %, seconds with one decimal, other floats to 4 digits."""
    if isinstance(v, bool) or v is None or isinstance(v, str):
        return str(v)
    if key.endswith("accuracy"):
        return percent(v)
    if key.endswith("seconds"):
        return f"{v:.1f} s"
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


SHOWN_METRICS = ("test_accuracy", "train_accuracy", "val_accuracy", "best_epoch", "epochs", "train_seconds")
SHOWN_COUNTS = ("num_train", "val_samples", "num_test", "params", "sops")
IDENTITY = ("run_key", "config_hash", "data_fingerprint", "code_fingerprint")


def history_table(history: list) -> list[str]:
    """The per-epoch records as a table: epoch, loss, accuracies (%), learning rate, seconds."""
    if not history:
        return []
    keys = [k for k in history[0] if k != "epoch"]
    for rec in history[1:]:
        keys += [k for k in rec if k not in keys and k != "epoch"]
    names = ["epoch", *(k.replace("_accuracy", " acc") for k in keys)]

    def cell(k, v):
        if v is None:
            return "-"
        if k == "lr":
            return f"{v:.2e}"
        if k == "seconds":
            return f"{v:.1f}"
        return _value(k, v) if k.endswith("accuracy") or not isinstance(v, float) else f"{v:.4f}"

    rows = [[str(r.get("epoch", "")), *(cell(k, r.get(k)) for k in keys)] for r in history]
    widths = [max(len(x) for x in col) for col in zip(names, *rows)]
    return ["  ".join(x.rjust(w) for x, w in zip(row, widths)).rstrip() for row in (names, *rows)]


def format_run(path: Path) -> str:
    """``avsnn show``'s report of a run folder: state, metrics (rounded, chance level), identity, config, history."""
    cfg = read_json_file(path / RunStore.CONFIG)
    done = (path / RunStore.DONE).exists()
    problems = verify_run(path) if done else {}
    state = (
        f"damaged ({describe_problems(problems)}; train repairs it)" if problems else ("done" if done else "unfinished")
    )
    lines = [f"run {path}", f"  modality {cfg.get('modality')}  profile {cfg.get('profile')}  state {state}"]
    m = None if RunStore.METRICS in problems else read_json_file(path / RunStore.METRICS, None)
    if m:
        lines.append("metrics")
        for k in SHOWN_METRICS:
            if k in m:
                shown = accuracy_with_chance(m, k) if k == "test_accuracy" else _value(k, m[k])
                lines.append(f"  {k:17s} {shown}")
        counts = [
            f"{k} {m[k]:,}" if isinstance(m[k], int) else f"{k} {_value(k, m[k])}" for k in SHOWN_COUNTS if k in m
        ]
        if counts:
            lines.append(f"  {'sizes':17s} {'  '.join(counts)}")
        for split, s in m.get("separability", {}).items():
            label = f"separability {split}"
            lines.append(f"  {label:17s} intra {s['intra']:.4f}  inter {s['inter']:.4f}  ratio {s['ratio']:.3f}")
    ident = {k: (m or {}).get(k, cfg.get(k)) for k in IDENTITY}
    if any(ident.values()):
        lines.append("identity")
        lines += [f"  {k:17s} {v}" for k, v in ident.items() if v]
    settings = cfg.get("config", cfg)
    skip = {*IDENTITY, "config"}
    lines.append("config")
    for k, v in settings.items():
        if k in skip:
            continue
        if k.endswith("_config") and v is None:  # no fusion input of that modality
            continue
        if isinstance(v, dict):  # a fusion input's whole config: named by its hash
            v = v.get("config_hash") or f"{{{len(v)} keys}}"
        lines.append(f"  {k} = {v}")
    table = history_table(read_json_file(path / RunStore.HISTORY, []) or [])
    if table:
        lines.append("history")
        lines += [f"  {row}" for row in table]
    return "\n".join(lines)
