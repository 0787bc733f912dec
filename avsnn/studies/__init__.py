"""The book's comparisons over seeds: train (or load) each arm for every seed, tabulate, decide.

An *arm* is one configuration trained once per seed (the data split stays fixed; initialisation and
sample order change with the seed). Every headline comparison of the book is two arms over the
same seeds, decided by :func:`avsnn.evidence.compare` on the paired per-seed test accuracies; the
tables here print the per-seed points, the mean ± sd and the verdict, so no sentence about a
result has to be typed by hand.

Beside the spiking networks the studies train their yardsticks with the same recipe:

* the **ANN twin** (``neuron="relu"``): the same architecture with ReLU for every LIF and a
  cross-entropy head (:mod:`avsnn.models.twin`), what the data allows without spikes;
* **linear probes** (:mod:`avsnn.baseline`): logistic regressions on raw pixels and log-mel
  statistics of the same split, the floor a network should beat;
* **decision-level fusion**: the two unimodal networks' output spike counts added, the simplest
  fusion that needs no training, against which the SMLP's feature-level fusion is read.

One concern a module:

* :mod:`.arms` -- arms over seeds and their training (worker processes on the CPU);
* :mod:`.readouts` -- what is read from finished runs: decision-level fusion, probes, margins;
* :mod:`.tables` -- the Markdown tables;
* :mod:`.claims` -- claims decided over seeds and the list of the paper's headline claims.
"""

from .arms import Arm, arm, train_all
from .claims import (
    ABLATION_BASELINE,
    ABLATION_PROFILE,
    ABLATION_SEED_LIMIT,
    ABLATION_SEEDS,
    CLAIM_VERDICTS,
    SILENT,
    SILENT_LIMIT,
    Claim,
    ablation_arms,
    claim,
    headline_claims,
    robustness_claim,
    silent_runs,
    silent_shares,
)
from .readouts import decision_fusion, decision_fusion_arm, margin_curves, probe_accuracies
from .tables import claims_table, seeds_table

__all__ = [
    "Arm",
    "arm",
    "train_all",
    "decision_fusion",
    "decision_fusion_arm",
    "probe_accuracies",
    "margin_curves",
    "seeds_table",
    "claims_table",
    "Claim",
    "claim",
    "robustness_claim",
    "silent_runs",
    "silent_shares",
    "SILENT",
    "SILENT_LIMIT",
    "CLAIM_VERDICTS",
    "headline_claims",
    "ABLATION_PROFILE",
    "ABLATION_SEEDS",
    "ABLATION_BASELINE",
    "ABLATION_SEED_LIMIT",
    "ablation_arms",
]
