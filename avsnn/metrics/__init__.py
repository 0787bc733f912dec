"""Evaluation metrics of Section V: the metric functions and the evaluation that runs a model for them.

* :mod:`.measures` -- pure functions of tensors: the decision rule, accuracy, confusion, Eq. 23's cosine
  distances and separability, angular concentration, energy.
* :mod:`.evaluation` -- running a model (or a trained :class:`avsnn.train.Run`) over a dataset and
  collecting the measures as JSON-able values.
"""

from .evaluation import evaluate, firing_rates, run_model
from .measures import (
    E_AC_PJ,
    E_MAC_PJ,
    accumulate,
    accuracy,
    angular_concentration,
    confusion_counts,
    confusion_matrix,
    cosine_distance_matrix,
    energy_estimate,
    energy_from_counts,
    per_class_accuracy,
    predict,
    separability,
    silent_share,
)

__all__ = [
    "E_AC_PJ",
    "E_MAC_PJ",
    "predict",
    "silent_share",
    "accuracy",
    "confusion_counts",
    "confusion_matrix",
    "per_class_accuracy",
    "accumulate",
    "cosine_distance_matrix",
    "separability",
    "angular_concentration",
    "energy_estimate",
    "energy_from_counts",
    "firing_rates",
    "run_model",
    "evaluate",
]
