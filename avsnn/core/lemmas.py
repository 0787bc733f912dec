"""Closed forms behind the paper's motivation (Section III, Lemmas 1-2).

Lemma 2 unrolls a *non-resetting* output LIF neuron driven by logits
``I[k] = a[k] . w[k]`` (Eq. 4). Repeating Eq. 1 from ``V[0] = 0`` gives Eq. 7,
``V[2] = beta * I[1] + I[2]``, and in general::

    V[t] = sum_{k=1}^{t} beta^(t-k) * (a[k] . w[k])

Eq. 8 prints the same sum as ``sum_{k=0}^{t-1} beta^k (a[k] . w[k])``; that
form is right only if ``k`` counts steps *back* from ``t`` (``a[k]`` being the
input ``k`` steps ago), since Eq. 7 weights the *older* input by ``beta``. We
implement the recursion-consistent form above and test it against the LIF layer.
"""

from __future__ import annotations

import torch


def lemma2_membrane(features: torch.Tensor, weights: torch.Tensor, beta: float) -> torch.Tensor:
    """Membrane of a non-resetting LIF driven by dot products (Eq. 8, recursion-consistent).

    features : ``[T, B, d]`` feature vectors ``a[k]`` per timestep.
    weights  : ``[C, d]`` (fixed) or ``[T, C, d]`` (per timestep) class weights ``w[k]``.
    Returns ``V`` shaped ``[T, B, C]`` with ``V[t-1] = sum_{k<=t} beta^(t-k) a[k].w[k]``.
    """
    if features.dim() != 3:
        raise ValueError(f"features must be shaped [T, B, d], got {tuple(features.shape)}")
    T = features.shape[0]
    if weights.dim() == 2:
        weights = weights.expand(T, *weights.shape)
    if weights.dim() != 3 or weights.shape[0] != T or weights.shape[-1] != features.shape[-1]:
        raise ValueError(
            f"weights must be [C, d] or [T, C, d] matching features {tuple(features.shape)}, got {tuple(weights.shape)}"
        )
    dots = torch.einsum("tbd,tcd->tbc", features, weights)  # Eq. 4 at each step
    t = torch.arange(T, dtype=features.dtype, device=features.device)
    decay = torch.tril(float(beta) ** (t[:, None] - t[None, :]))  # beta^(t-k), k <= t
    return torch.einsum("tk,kbc->tbc", decay, dots)


def lemma1_first_step_winner(features: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Lemma 1 (Eqs. 3-6): the class whose output neuron can spike first, ``argmax_c a . w_c`` (``[B]``).

    At the first step ``V[1] = a . w``, so the class with the largest dot product spikes first.
    """
    return (features @ weights.t()).argmax(dim=1)
