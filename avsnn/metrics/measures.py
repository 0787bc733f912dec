"""Metric functions of Section V, pure functions of tensors (no model is run here).

* :func:`predict` -- the spike-count decision rule (ties to the summed input current).
* :func:`silent_share` -- the share of samples on which the output layer fired no spike at all.
* :func:`accuracy`, :func:`per_class_accuracy`, :func:`confusion_matrix` (row-normalised:
  rows = true class, each row sums to 1; Figs. 7-8).
* :func:`cosine_distance_matrix` -- Eq. 23, ``C_dist = 1 - f_i . f_j / (|f_i| |f_j|)`` between
  the *accumulated* (summed over timesteps) feature vectors of every pair of samples,
  sorted by class (Figs. 6 and 9).
* :func:`separability` -- mean intra-class vs inter-class cosine distance and their ratio,
  computed in O(N d) memory from per-class sums (no N x N matrix).
* :func:`angular_concentration` -- how near each class's features lie to its own mean direction (Lemma 2).
* :func:`energy_estimate`, :func:`energy_from_counts` -- ANN (MAC) vs SNN (accumulate) energy with 45 nm figures.
"""

from __future__ import annotations

import math
from typing import Optional

import torch
import torch.nn.functional as F

E_MAC_PJ = 4.6  # 32-bit float multiply-accumulate, 45 nm (Horowitz, ISSCC 2014)
E_AC_PJ = 0.9  # 32-bit float add (accumulate), 45 nm (Horowitz, ISSCC 2014)


# ---- decisions --------------------------------------------------------------------------------
def predict(spikes: torch.Tensor, current: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Predicted class from output spikes ``[T, B, C]``: the class with most spikes.

    Tie rule: among the classes sharing the top spike count, the one with the largest
    membrane input current summed over time (``current [T, B, C]``, i.e. the logits that
    drive the output LIF layer) wins; without ``current``, or if that also ties, the lowest
    class index wins (``argmax`` returns the first maximum). This matters early in training
    and at small T, where several classes often fire equally (e.g. all silent).
    """
    counts = spikes.sum(0)
    if current is None:
        return counts.argmax(1)
    cur = current.sum(0).to(counts.dtype)
    top = counts == counts.max(1, keepdim=True).values
    return torch.where(top, cur, torch.full_like(cur, -math.inf)).argmax(1)


# ---- classification metrics -----------------------------------------------------------------
def silent_share(counts: torch.Tensor) -> float:
    """The share of samples whose output layer fired no spike over all timesteps.

    ``counts [N, C]``: each sample's output spike counts summed over time (:func:`avsnn.metrics.run_model`).
    Such a sample is decided by :func:`predict`'s tie rule alone; a network that answers most samples
    that way has stopped spiking at its output (a trivial minimum of Eq. 15's loss when most targets
    are near zero spikes), whatever its accuracy says.
    """
    if counts.ndim != 2 or len(counts) == 0:
        raise ValueError(f"silent_share: counts must be [N, C] with N >= 1, got shape {tuple(counts.shape)}")
    return float((counts.sum(1) == 0).float().mean())


def accuracy(pred: torch.Tensor, labels: torch.Tensor) -> float:
    """Fraction of correct predictions (0..1)."""
    pred, labels = torch.as_tensor(pred), torch.as_tensor(labels)
    return float((pred == labels).float().mean()) if len(labels) else float("nan")


def confusion_counts(pred, labels, num_classes: int) -> torch.Tensor:
    """Confusion matrix ``[C, C]``: entry ``[i, j]`` counts the samples of class ``i`` predicted as ``j``."""
    pred, labels = torch.as_tensor(pred).long(), torch.as_tensor(labels).long()
    flat = labels * num_classes + pred
    return torch.bincount(flat, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


def confusion_matrix(pred, labels, num_classes: int, normalize: bool = True) -> torch.Tensor:
    """``M[i, j]`` = fraction of class-``i`` samples predicted as ``j`` (rows sum to 1).

    A class with no samples gets a row of zeros. ``normalize=False`` returns counts.
    """
    m = confusion_counts(pred, labels, num_classes).double()
    if not normalize:
        return m
    rows = m.sum(1, keepdim=True)
    return torch.where(rows > 0, m / rows.clamp_min(1), torch.zeros_like(m))


def per_class_accuracy(pred, labels, num_classes: int) -> list:
    """Recall per class (the confusion diagonal); None (JSON ``null``) for classes absent from ``labels``."""
    m = confusion_counts(pred, labels, num_classes).double()
    rows = m.sum(1)
    return [float(m[i, i] / rows[i]) if rows[i] > 0 else None for i in range(num_classes)]


# ---- feature discrimination (Eq. 23) --------------------------------------------------------
def accumulate(features: torch.Tensor) -> torch.Tensor:
    """Per-timestep features ``[T, N, d]`` (or ``[T, N, ...]``) -> accumulated ``[N, d]`` (sum over T)."""
    return features.sum(0).flatten(1)


def _per_sample(features: torch.Tensor) -> torch.Tensor:
    """``[N, d]``: per-timestep ``[T, N, d]`` features accumulated, other shapes flattened per sample."""
    return accumulate(features) if features.dim() == 3 else features.flatten(1)


def cosine_distance_matrix(features: torch.Tensor, labels) -> tuple[torch.Tensor, torch.Tensor]:
    """Eq. 23: ``D[i, j] = 1 - f_i . f_j / (|f_i| |f_j|)`` for samples sorted by class.

    ``features`` are the accumulated feature vectors ``[N, d]`` (pass ``[T, N, d]`` to have them
    summed over timesteps first). Samples are stably sorted by label so that class blocks lie
    on the diagonal. Returns ``(D [N, N], sorted_labels [N])``. ``D`` is symmetric with a zero
    diagonal (exactly: the diagonal is set to 0, and the matrix is symmetrised). A zero vector
    has cosine 0 with everything (distance 1) -- a silent neuron population.
    """
    f = _per_sample(features)
    labels = torch.as_tensor(labels).long()
    order = torch.sort(labels, stable=True).indices
    u = F.normalize(f[order].double(), dim=1)
    d = 1.0 - u @ u.t()
    d = 0.5 * (d + d.t())
    d.fill_diagonal_(0.0)
    return d.float(), labels[order]


#: how many float64 values :func:`separability` normalises at a time (256 MB)
SEPARABILITY_BLOCK = 1 << 25


def separability(features: torch.Tensor, labels) -> dict:
    """Mean intra-class and inter-class cosine distance (Eq. 23) and ``ratio = inter / intra``.

    Intra-class pairs are distinct samples of the same class (self-pairs excluded); inter-class
    pairs are samples of different classes. Computed from per-class sums of unit vectors
    (``sum_{i in a, j in b} cos = s_a . s_b``), so memory is O(N d). ``ratio > 1`` means
    samples are closer to their own class than to others (1 = no class structure). The unit vectors
    are made in float64 a block of rows at a time (:data:`SEPARABILITY_BLOCK` values), so a wide
    feature never needs a float64 copy of the whole set.
    """
    f = _per_sample(features)
    labels = torch.as_tensor(labels).long()
    classes = torch.unique(labels)
    onehot = (labels[:, None] == classes[None, :]).double()  # [N, K]
    n = onehot.sum(0)  # [K]
    rows = max(1, SEPARABILITY_BLOCK // max(f.shape[1], 1))
    s = torch.zeros(len(classes), f.shape[1], dtype=torch.float64)  # [K, d] class sums of unit vectors
    self_cos = torch.empty(len(f), dtype=torch.float64)  # 1, or 0 for zero vectors
    for i in range(0, len(f), rows):
        u = F.normalize(f[i : i + rows].double(), dim=1)
        s += onehot[i : i + rows].t() @ u
        self_cos[i : i + rows] = (u * u).sum(1)
    gram = s @ s.t()  # sum of cosines per class pair
    self_per_class = onehot.t() @ self_cos
    intra_pairs = float((n * (n - 1)).sum())
    intra_cos = float((gram.diag() - self_per_class).sum())
    total_pairs = float(n.sum() ** 2 - (n**2).sum())
    inter_cos = float(gram.sum() - gram.diag().sum())
    intra = 1.0 - intra_cos / intra_pairs if intra_pairs > 0 else float("nan")
    inter = 1.0 - inter_cos / total_pairs if total_pairs > 0 else float("nan")
    ratio = inter / intra if intra and intra > 0 and not math.isnan(intra) else float("nan")
    return {"intra": intra, "inter": inter, "ratio": ratio}


def angular_concentration(features: torch.Tensor, labels: torch.Tensor) -> dict:
    """How tightly each class's features gather around one direction, and how far from the others.

    With ``d_c`` the mean direction of class ``c`` (unit vector of the class's mean unit feature):
    ``own`` is the mean cosine between a feature and its own class direction, ``margin`` the mean of
    that cosine minus the largest cosine to another class's direction (> 0: nearer its own class's
    ray than any other). Spike-count features are non-negative, so ``own`` alone is high for any
    network; the margin is what Lemma 2's argument needs of a trained network. ``features [N, d]``
    (or ``[T, N, d]``, accumulated over time) of at least two classes.
    """
    f = F.normalize(_per_sample(features).double(), dim=1)
    labels = torch.as_tensor(labels).long()
    classes = labels.unique()
    if len(classes) < 2:
        raise ValueError(f"angular_concentration needs features of at least two classes, got {len(classes)}")
    d = F.normalize(torch.stack([f[labels == c].mean(0) for c in classes]), dim=1)
    cos = f @ d.t()  # [N, C]
    own_idx = torch.searchsorted(classes, labels)
    own = cos.gather(1, own_idx[:, None])[:, 0]
    other = cos.scatter(1, own_idx[:, None], float("-inf")).max(1).values
    return {"own": float(own.mean()), "margin": float((own - other).mean())}


# ---- energy ----------------------------------------------------------------------------------
def energy_estimate(macs: float, sops: float, snn_macs: float = 0.0, one_pass_macs: Optional[float] = None) -> dict:
    """Energy of one inference, ANN vs SNN, in joules.

    Per-operation energies for 32-bit floating point in a 45 nm process, from
    M. Horowitz, "Computing's energy problem (and what we can do about it)", ISSCC 2014:
    a multiply-accumulate ``E_MAC = 4.6 pJ`` (3.7 pJ multiply + 0.9 pJ add) and an
    accumulate ``E_AC = 0.9 pJ``. An ANN of the same architecture spends ``macs * E_MAC``;
    the SNN spends ``sops * E_AC`` (each synaptic operation triggered by a spike is an add)
    plus ``snn_macs * E_MAC`` for layers fed with real values (e.g. the first conv layer on
    pixel intensities, if the counts list it separately). Memory access is ignored.
    ``macs`` counts the per-step layers T times (the SNN's own structure); an ANN of the same
    architecture runs once: ``one_pass_macs`` (default ``macs``) prices that, reported beside it.
    """
    ann = float(macs) * E_MAC_PJ * 1e-12
    ann1 = float(macs if one_pass_macs is None else one_pass_macs) * E_MAC_PJ * 1e-12
    snn = (float(sops) * E_AC_PJ + float(snn_macs) * E_MAC_PJ) * 1e-12
    ratio = lambda a: a / snn if snn > 0 else float("inf")
    return {
        "ann_joules": ann,
        "ann_one_pass_joules": ann1,
        "snn_joules": snn,
        "ratio_ann_over_snn": ratio(ann),
        "ratio_one_pass_ann_over_snn": ratio(ann1),
        "e_mac_pj": E_MAC_PJ,
        "e_ac_pj": E_AC_PJ,
    }


def energy_from_counts(p, fold_bn: bool = False) -> dict:
    """:func:`energy_estimate` for an :class:`avsnn.models.OpCounts`, layer by layer.

    The ANN figure prices all of the counted MACs (its convention: per sample, per-step layers
    counted over the T steps) at ``E_MAC``. For the SNN, a layer whose input is spikes costs its
    SOPs at ``E_AC``; a layer fed real values (the image, BN-scaled spikes: the op counter counts
    its SOPs equal to its MACs) costs its MACs at ``E_MAC``. With ``fold_bn``, a layer fed batch-normalised
    spikes counts as fed the spikes (the BN affine folded into it: ``OpCounts.layer_sops_folded``).
    """
    layer_macs = dict(p.layer_macs)
    layer_sops = dict(p.layer_sops_folded if fold_bn and getattr(p, "layer_sops_folded", None) else p.layer_sops)
    one_pass = getattr(p, "one_pass_macs", p.macs)
    if not layer_macs:
        return energy_estimate(p.macs, p.sops, one_pass_macs=one_pass)
    dense = sum(m for k, m in layer_macs.items() if layer_sops.get(k, m) >= m)
    sparse = sum(s for k, s in layer_sops.items() if s < layer_macs.get(k, s))
    return energy_estimate(p.macs, sparse, snn_macs=dense, one_pass_macs=one_pass)
