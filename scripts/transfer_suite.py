"""Does the default recipe learn on data nobody tuned it to? The recipe check over the transfer sets.

Generates the sets of :mod:`avsnn.data.transfer` (into the cache, ``$AVSNN_CACHE``) and runs
:func:`recipe_check.check` on each: per modality the L2 spiking network, its ANN twin and the linear
probe on the same split, and the SMLP fusion against the better modality, over seeds. The sets held
back while the recipe was chosen (:data:`avsnn.data.transfer.HELD_BACK`) run last and are marked; those held back
for the next round (:data:`~avsnn.data.transfer.HELD_BACK_NEXT`) are left out unless named, and marked when named.
Writes ``results.md`` and ``results.json`` in ``--out`` (rewritten after every set, so a cut-short run
keeps what it finished).

    python scripts/transfer_suite.py --out scripts/transfer_results                 # everything, 3 seeds
    python scripts/transfer_suite.py --modalities vision --seeds 0 --set per_class=60   # fits one core

``--set KEY=VALUE`` overrides go to every run (e.g. ``per_class``, a data key that caps the samples
per class the runs read); the table states them.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from recipe_check import COLUMNS, TWIN_SHARE, _commit, check  # noqa: E402

from avsnn import studies  # noqa: E402
from avsnn.data.transfer import (  # noqa: E402
    HELD_BACK_ROUNDS,
    TRANSFER_SETS,
    ensure_transfer,
    suite_sets,
    unseen,
)
from avsnn.evidence import summarize  # noqa: E402
from avsnn.files import atomic_write_bytes  # noqa: E402
from avsnn.report import markdown_table  # noqa: E402
from avsnn.train.config import parse_overrides  # noqa: E402


def _rows(name: str, spec, result: dict) -> list:
    """Table rows of one set: one per modality (SNN cell marked ↑ when a seed ended still rising), then the fusion's."""
    rounds = [k for k, names in HELD_BACK_ROUNDS.items() if name in names]
    label = f"{name} (held back in round {rounds[0]})" if rounds else name
    if unseen(name):
        label = f"{name} (held back)"
    desc = f"{spec.side} px {'RGB' if spec.rgb else 'grey'} {spec.glyphs}, {spec.classes} classes, {spec.sound}"
    rec, rows = result["record"], []
    for row in result["rows"]:
        m, snn, *rest = row
        rows.append((label, desc, m, snn + (" ↑" if any(rec[m]["snn_still_rising"]) else ""), *rest))
    if result["fused"] is not None:
        s = summarize(result["fused"].accuracies)
        rows.append((label, desc, "fusion (SMLP)", s.format(), f"better modality: {rec['better_modality']}", "", ""))
    return rows


def main(argv=None) -> None:
    """Generate the sets, run the recipe check on each, write the tables."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--sets", nargs="+", default=None, help="set names (default: all but the next round's, held-back ones last)"
    )
    p.add_argument("--profile", default="default")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--modalities", nargs="+", default=["vision", "audio"], choices=["vision", "audio"])
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--workers", type=int, default=None, help="training processes (default: one per core)")
    p.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "transfer_results")
    args = p.parse_args(argv)
    names = args.sets or suite_sets()
    overrides = parse_overrides(args.overrides)
    fusion = len(args.modalities) == 2

    rows, claims, record = [], [], {"profile": args.profile, "seeds": args.seeds, "overrides": overrides, "sets": {}}
    t0 = time.perf_counter()
    for name in names:
        folder = ensure_transfer(name)
        print(f"== {name}: {folder}", flush=True)
        result = check(str(folder), args.profile, args.seeds, tuple(args.modalities), fusion, args.workers, **overrides)
        rows += _rows(name, TRANSFER_SETS[name], result)
        claims += [dataclasses.replace(c, claim=f"{name}: {c.claim}") for c in result["claims"]]
        record["sets"][name] = {**result["record"], "held_back": unseen(name)}
        record["seconds"] = time.perf_counter() - t0
        settings = ", ".join(f"{k}={v}" for k, v in overrides.items()) or "none"
        text = "\n\n".join(
            [
                f"Transfer suite (`scripts/transfer_suite.py`), profile `{args.profile}`, seeds {args.seeds}, "
                f"modalities {', '.join(args.modalities)}, overrides: {settings}; code at {_commit()}; "
                f"{record['seconds'] / 60:.0f} min on this machine; each set generated with seed 0. Test accuracy (%), "
                "mean ± sd over training seeds. "
                f"Sets marked *held back* were never used while choosing the recipe. The bar: the SNN reaches "
                f"{100 * TWIN_SHARE:.0f} % of its twin and beats its probe. ↑: a seed's SNN ended at its epoch "
                "cap with validation still rising.",
                markdown_table(rows, ["set", "character", *COLUMNS]),
                "Claims (paired over seeds; with one seed a verdict is the sign of one difference, not a test):",
                studies.claims_table(claims),
            ]
        )
        args.out.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(args.out / "results.json", json.dumps(record, indent=1).encode())
        atomic_write_bytes(args.out / "results.md", (text + "\n").encode())
        print(markdown_table(_rows(name, TRANSFER_SETS[name], result), ["set", "character", *COLUMNS]), flush=True)


if __name__ == "__main__":
    main()
