"""Does the default recipe transfer? Issue #16's must-show for one dataset, over seeds.

For each modality: the L2 spiking network, its ANN twin (ReLU, cross-entropy, same recipe) and the
linear probe on the same split; then the SMLP fusion against the better single modality. Every run
goes through the run store (:func:`avsnn.files.default_runs_dir`), so runs the book or a chapter run
already trained are only read. Writes ``results.md`` and ``results.json`` in ``--out``.

    python scripts/recipe_check.py --data synthetic --out scripts/recipe_results/cpu_default_embedded
    python scripts/recipe_check.py --data avdigits --out scripts/recipe_results/cpu_default_avdigits

The verdicts are :func:`avsnn.evidence.compare`'s (paired per-seed differences, Student-t 95 %
interval; *held* only when the whole interval is above zero). "SNN / twin" is the per-seed ratio
of test accuracies; the issue asks for at least 90 %.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from avsnn import studies  # noqa: E402
from avsnn.baseline import probe_keys, run_baseline  # noqa: E402
from avsnn.evidence import TWIN_SHARE, summarize  # noqa: E402
from avsnn.files import atomic_write_bytes  # noqa: E402
from avsnn.report import markdown_table  # noqa: E402

PROBE_NAMES = {"vision": "raw pixels", "audio": "log-mel statistics"}
COLUMNS = ["modality", "L2 SNN", "ANN twin", "SNN / twin (%)", "linear probe"]


def _commit() -> str:
    """The code's commit, ``-dirty`` added when the working tree has changes that are not committed."""
    root = Path(__file__).resolve().parents[1]
    try:
        out = subprocess.run(
            ["git", "-C", str(root), "describe", "--always", "--dirty", "--abbrev=7"], capture_output=True, text=True
        )
        return out.stdout.strip() or "unknown"
    except OSError:
        return "unknown"


def check(
    data: str, profile: str, seeds, modalities=("vision", "audio"), fusion: bool = True, workers=None, **overrides
) -> dict:
    """Train (or read) the arms of one dataset and decide its claims.

    ``overrides`` go to every config (``make_config``'s overrides: data keys such as ``per_class``);
    with one modality or ``fusion=False`` the fusion arm is left out; ``workers``: as :func:`avsnn.studies.train_all`.
    Returns ``{"rows": table rows, "claims": [Claim], "record": JSON-able per-seed results}``.
    """
    arms = {}
    for m in modalities:
        arms[(m, "snn")] = studies.arm(f"{m} L2 SNN", m, profile, data, seeds, **overrides)
        arms[(m, "twin")] = studies.arm(f"{m} ANN twin", m, profile, data, seeds, neuron="relu", **overrides)
    fused = studies.arm("SMLP fusion", "fusion", profile, data, seeds, **overrides) if fusion else None
    studies.train_all([*arms.values(), *([fused] if fused else [])], workers=workers)
    probed = "both" if len(modalities) == 2 else modalities[0]
    read = probe_keys(probed)  # the training settings among the overrides do not concern the probes
    probes = {
        m: r["test_accuracy"]
        for m, r in run_baseline(data, probed, profile, {k: v for k, v in overrides.items() if k in read}).items()
    }

    rows, claims, record = [], [], {"data": data, "profile": profile, "seeds": list(seeds), "overrides": overrides}
    for m in modalities:
        snn, twin = arms[(m, "snn")], arms[(m, "twin")]
        share = summarize([s / t for s, t in zip(snn.accuracies, twin.accuracies)])
        rows.append(
            (
                m,
                snn.summary.format(),
                twin.summary.format(),
                f"{share.format()} (lowest seed {100 * min(share.values):.1f})",
                f"{100 * probes[m]:.1f} ({PROBE_NAMES[m]})",
            )
        )
        claims.append(studies.claim(f"the L2 SNN beats the linear probe ({m})", snn, [probes[m]]))
        claims.append(
            studies.claim(f"the L2 SNN reaches {100 * TWIN_SHARE:.0f} % of its twin ({m})", share.values, [TWIN_SHARE])
        )
        record[m] = {
            "snn": snn.accuracies,
            "twin": twin.accuracies,
            "share": list(share.values),
            "probe": probes[m],
            "snn_epochs": [len(r.history) for r in snn.runs],
            "snn_still_rising": [bool(r.metrics.get("still_rising")) for r in snn.runs],
            "snn_silent": [r.metrics.get("silent_share") for r in snn.runs],
        }
    if fused is not None:
        better = max(modalities, key=lambda m: arms[(m, "snn")].summary.mean)
        claims.append(studies.claim(f"SMLP fusion beats the better modality ({better})", fused, arms[(better, "snn")]))
        record["fusion"] = fused.accuracies
        record["better_modality"] = better
    record["verdicts"] = {c.claim: c.verdict for c in claims}
    return {"rows": rows, "claims": claims, "record": record, "fused": fused}


def main(argv=None) -> None:
    """Train (or read) the arms, decide the must-show's claims, write the tables."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", default="synthetic", help="avdigits | synthetic | a dataset folder")
    p.add_argument("--profile", default="default")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--out", type=Path, required=True)
    args = p.parse_args(argv)

    result = check(args.data, args.profile, args.seeds)
    fused, claims, record = result["fused"], result["claims"], result["record"]
    per_seed = ", ".join(f"{100 * a:.1f}" for a in fused.accuracies)
    text = "\n\n".join(
        [
            f"Recipe check on `{args.data}`, profile `{args.profile}`, seeds {args.seeds}, code at {_commit()} "
            "(`scripts/recipe_check.py`). Test accuracy (%), mean ± sd over seeds.",
            markdown_table(result["rows"], COLUMNS),
            f"SMLP fusion: {fused.summary.format()} (per seed {per_seed}).",
            studies.claims_table(claims),
        ]
    )
    args.out.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(args.out / "results.json", json.dumps(record, indent=1).encode())
    atomic_write_bytes(args.out / "results.md", (text + "\n").encode())
    print(text)


if __name__ == "__main__":
    main()
