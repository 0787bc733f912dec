"""What the studies read from finished runs beside their test accuracy.

Decision-level fusion (the two unimodal networks' output spike counts added, the simplest fusion
that needs no training, against which the SMLP's feature-level fusion is read), the linear probes'
accuracies (:mod:`avsnn.baseline`) and Lemma 2's margin over epochs. Nothing here trains: arms are
read with :meth:`Arm.load`.
"""

from __future__ import annotations

from avsnn.baseline import run_baseline
from avsnn.metrics import accuracy, run_model
from avsnn.robustness import decision_predictions

from .arms import Arm


def decision_fusion(vision_run, audio_run, split: str = "test") -> float:
    """Accuracy of adding the two unimodal networks' output spike counts (decision-level fusion).

    Each network's prediction is the class with the most output spikes (Eq. 16); here the counts of
    the vision and the audio network are added per class before the arg-max. Ties go to the summed
    output currents, as :func:`avsnn.metrics.predict` does for one network.
    """
    outs = []
    for run in (vision_run, audio_run):
        train, test = run.array_data()
        outs.append(run_model(run.model, train if split == "train" else test))
    return accuracy(decision_predictions(*outs), outs[0]["labels"])


def decision_fusion_arm(vision: Arm, audio: Arm) -> list:
    """Per-seed decision-level fusion accuracies of two arms trained on the same seeds."""
    if vision.seeds != audio.seeds:
        raise ValueError(f"decision_fusion_arm: seeds differ ({vision.seeds} vs {audio.seeds})")
    return [decision_fusion(v, a) for v, a in zip(vision.load().runs, audio.load().runs)]


def probe_accuracies(data: str, profile: str) -> dict:
    """Linear-probe test accuracy per modality (``vision``, ``audio``, ``fusion``) on the profile's split."""
    return {m: r["test_accuracy"] for m, r in run_baseline(data=data, modality="both", profile=profile).items()}


def margin_curves(a: Arm) -> dict:
    """Lemma 2 on trained networks: the angular margin of each seed's held-out features over epochs.

    Read from the runs' histories (the fit loop records ``val_margin`` after every epoch, or
    ``test_margin`` where a profile has no validation part; :func:`avsnn.metrics.angular_concentration`).
    Returns ``{"split", "curves": [[(epoch, margin), ...] per seed], "first": [...], "kept": [...]}``:
    the margin after the first epoch and at the kept (best-validation, else last) epoch, per seed.
    """
    curves, first, kept, split = [], [], [], None
    for run in a.load().runs:
        hist = run.history
        split = "val" if any("val_margin" in h for h in hist) else "test"
        curve = [(h["epoch"], h[f"{split}_margin"]) for h in hist if f"{split}_margin" in h]
        if not curve:
            raise ValueError(f"{run.path}: history.json has no per-epoch margin (a run from before it was recorded?)")
        at = dict(curve)
        curves.append(curve)
        first.append(curve[0][1])
        kept.append(at.get(run.metrics.get("best_epoch"), curve[-1][1]))
    return {"split": split, "curves": curves, "first": first, "kept": kept}
