"""The claims the book tests: "``a`` beats ``b``" decided over seeds, and the list of the paper's headline claims.

Every headline comparison of the book is two arms over the same seeds, decided by
:func:`avsnn.evidence.compare` on the paired per-seed values; :func:`headline_claims` lists them in
the order of the book, with the ablation's size (:data:`ABLATION_PROFILE`, :data:`ABLATION_SEEDS`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

from avsnn import robustness
from avsnn.analysis import feature_discrimination
from avsnn.evidence import SMALLEST_EFFECT, Comparison, compare
from avsnn.paper import TABLE_I, TABLE_II, TABLE_III

from .arms import Arm, arm, train_all


@dataclass(frozen=True)
class Claim:
    """A claim "``a`` beats ``b``", its paper figure (text) and the paired comparison over seeds."""

    claim: str
    paper: str
    result: Comparison

    @property
    def verdict(self) -> str:
        """The verdict of the paired comparison."""
        return self.result.verdict


def claim(text: str, a, b, paper: str = "", effect: Optional[float] = None) -> Claim:
    """Decide "``a`` > ``b``" (:func:`avsnn.evidence.compare`); ``a``/``b``: per-seed values or :class:`Arm`.

    ``effect``: the paper's effect (a positive difference, in the values' units), the smallest effect
    that matters for the verdict; else :data:`avsnn.evidence.SMALLEST_EFFECT`.
    """
    values = [x.accuracies if isinstance(x, Arm) else list(x) for x in (a, b)]
    smallest = effect if effect is not None and effect > 0 else SMALLEST_EFFECT
    return Claim(text, paper, compare(*values, smallest_effect=smallest))


def robustness_claim(table) -> Claim:
    """Chapter 7c's headline: with one modality failing, the SMLP on L2 features beats the one on vanilla features.

    Decided on each seed's mean accuracy over every degraded condition of ``table``
    (:func:`avsnn.robustness.sweep`).
    """
    n = len([c for c in robustness.table_conditions(table) if c.kind != "clean"])
    return claim(
        f"one modality failing: SMLP on L2 features beats SMLP on vanilla features (mean over {n} degradations)",
        robustness.degraded_mean(table, robustness.L2_FUSION),
        robustness.degraded_mean(table, robustness.VANILLA_FUSION),
        paper="beyond the paper (ch. 7c)",
    )


#: The ablation's size in the book (chapter 09's parameters, checked by tests/test_chapter.py): the
#: networks of chapters 05 and 06 (their baselines are the same runs) over the book's seeds.
ABLATION_PROFILE = "default"
ABLATION_SEEDS = (0, 1, 2, 3)
ABLATION_BASELINE = {"vision": "act_after_add", "audio": "full"}


def headline_claims(
    data: str,
    profile: str,
    seeds: Sequence[int],
    ablation_profile: str = ABLATION_PROFILE,
    ablation_seeds: Sequence[int] = ABLATION_SEEDS,
) -> list:
    """Every claim of the paper the book tests, decided over ``seeds``.

    The runs of chapters 05-08 (and 7c's evaluation of chapter 07's runs under a failing modality); the
    ablation's over ``ablation_seeds`` at ``ablation_profile``, as chapter 09 runs it.

    Trains (or loads) the same configurations the chapters do, so in a built book this only reads
    the run store. Returns :class:`Claim` objects in the order of the book.
    """

    def uni(modality, **kw):
        return arm(modality, modality, profile, data, seeds, **kw)

    def ratios(a):
        return [feature_discrimination(r, "test").separability["ratio"] for r in a.load().runs]

    v, a = uni("vision"), uni("audio")
    vf, af = uni("vision", head="fc"), uni("audio", head="fc")
    fused = arm("smlp-av", "fusion", profile, data, seeds)
    vanilla_fused = arm("smlp-av-fc", "fusion", profile, data, seeds, **{"vision.head": "fc", "audio.head": "fc"})
    ablations = {
        (m, var): arm(f"{m}:{var}", m, ablation_profile, data, ablation_seeds, variant=var) for m, var in TABLE_III
    }
    train_all([v, a, vf, af, fused, vanilla_fused, *ablations.values()])
    out = [
        claim("L2 head beats the vanilla FC head (vision)", v, vf),
        claim("L2 head beats the vanilla FC head (audio)", a, af),
        claim("L2 features more separable, inter/intra ratio x100 (vision)", *map(ratios, (v, vf)), paper="Figs. 6, 9"),
        claim("L2 features more separable, inter/intra ratio x100 (audio)", *map(ratios, (a, af)), paper="Figs. 6, 9"),
        claim(
            "SMLP fusion beats the vision network",
            fused,
            v,
            paper=f"{TABLE_II['fusion']} vs {TABLE_II['vision']} (US8K-AV)",
        ),
        claim(
            "SMLP fusion beats the audio network",
            fused,
            a,
            paper=f"{TABLE_II['fusion']} vs {TABLE_II['audio']} (US8K-AV); "
            f"{TABLE_I['fusion']} vs {TABLE_I['audio']} (CIFAR10-AV)",
        ),
        claim("title: SMLP on L2 features beats SMLP on vanilla features", fused, vanilla_fused, paper="the title"),
        robustness_claim(robustness.sweep(data, profile, seeds)),
    ]
    for (modality, variant), ablated in ablations.items():
        base_variant = ABLATION_BASELINE[modality]
        if variant == base_variant:
            continue
        drop = TABLE_III[(modality, base_variant)] - TABLE_III[(modality, variant)]
        out.append(
            claim(
                f"ablation ({ablation_profile} size): {variant} costs accuracy ({modality})",
                ablations[(modality, base_variant)],
                ablated,
                paper=f"{drop:+.2f} points",
                effect=drop / 100,
            )
        )
    return out
