"""The claims the book tests: "``a`` beats ``b``" decided over seeds, and the list of the paper's headline claims.

Every headline comparison of the book is two arms over the same seeds, decided by
:func:`avsnn.evidence.compare` on the paired per-seed values; :func:`headline_claims` lists them in
the order of the book, with the ablation's size (:data:`ABLATION_PROFILE`, :data:`ABLATION_SEEDS`).

A claim is not decided when one of its arms has a run whose output layer stopped spiking
(:data:`SILENT_LIMIT`): such a network answers by the tie rule, and its accuracy says nothing about
the head, the features or the fusion it stands for.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

from avsnn import robustness
from avsnn.analysis import feature_discrimination
from avsnn.evidence import SMALLEST_EFFECT, VERDICTS, Comparison, compare
from avsnn.paper import TABLE_I, TABLE_II, TABLE_III

from .arms import Arm, arm, train_all

#: a run whose output layer fired no spike on more than this share of its test samples
#: (:func:`avsnn.metrics.silent_share`) is taken to have stopped learning: no claim with it among its arms is
#: decided. A judgment, not a sharp line: a healthy network may answer some samples by the tie rule alone.
SILENT_LIMIT = 0.25
#: the verdict of a claim with such a run, beside :data:`avsnn.evidence.VERDICTS`
SILENT = "not decided: silent outputs"
CLAIM_VERDICTS = (*VERDICTS, SILENT)


@dataclass(frozen=True)
class Claim:
    """A claim "``a`` beats ``b``", its paper figure (text) and the paired comparison over seeds.

    ``silent``: the runs of its arms past :data:`SILENT_LIMIT`, as ``"arm seed s (share %)"``;
    ``most_silent``: the largest share of silent test samples among its runs (``None``: none was checked).
    """

    claim: str
    paper: str
    result: Comparison
    silent: tuple = ()
    most_silent: Optional[float] = None

    @property
    def verdict(self) -> str:
        """The verdict of the paired comparison, or :data:`SILENT` when a run of its arms fell silent."""
        return SILENT if self.silent else self.result.verdict

    def verdict_text(self, scale: float = 100.0, digits: int = 1) -> str:
        """The verdict in the book's words (:meth:`avsnn.evidence.Comparison.verdict_text`), naming any silent run."""
        if self.silent:
            return f"{SILENT} ({', '.join(self.silent)})"
        return self.result.verdict_text(scale, digits)


def silent_shares(arms: Sequence[Arm]) -> list:
    """``[(arm name, seed, share), ...]``: each run's share of test samples without an output spike.

    Read from each run's ``metrics.json`` (``silent_share``, written by :func:`avsnn.metrics.evaluate`); a run
    recorded without it is left out.
    """
    out = []
    for a in arms:
        for seed, run in zip(a.seeds, a.load().runs):
            share = run.metrics.get("silent_share")
            if share is not None:
                out.append((a.name, seed, float(share)))
    return out


def _past(shares: list, limit: float) -> tuple:
    """``("arm seed s (share %)", ...)`` of the :func:`silent_shares` entries above ``limit``."""
    return tuple(f"{n} seed {s} ({100 * v:.0f} % silent)" for n, s, v in shares if v > limit)


def silent_runs(arms: Sequence[Arm], limit: float = SILENT_LIMIT) -> tuple:
    """The runs of ``arms`` whose share of silent test samples exceeds ``limit``: ``("arm seed s (share %)", ...)``."""
    return _past(silent_shares(arms), limit)


def claim(text: str, a, b, paper: str = "", effect: Optional[float] = None, arms: Sequence[Arm] = ()) -> Claim:
    """Decide "``a`` > ``b``" (:func:`avsnn.evidence.compare`); ``a``/``b``: per-seed values or :class:`Arm`.

    Two arms are paired on the seeds both ran (``a``'s order). ``effect``: the paper's effect (a positive
    difference, in the values' units), the smallest effect that matters for the verdict; else
    :data:`avsnn.evidence.SMALLEST_EFFECT`. ``arms``: the arms behind per-seed values that are not
    accuracies (``a`` and ``b`` when they are arms are checked anyway); a silent run among them
    (:func:`silent_runs`) leaves the claim undecided.
    """
    if isinstance(a, Arm) and isinstance(b, Arm):
        shared = [s for s in a.seeds if s in b.seeds]
        values = [a.accuracies_at(shared), b.accuracies_at(shared)]
    else:
        values = [x.accuracies if isinstance(x, Arm) else list(x) for x in (a, b)]
    smallest = effect if effect is not None and effect > 0 else SMALLEST_EFFECT
    checked = [*(x for x in (a, b) if isinstance(x, Arm)), *(x for x in arms if x is not a and x is not b)]
    shares = silent_shares(checked)  # each run's metrics.json read once
    most = max((v for _, _, v in shares), default=None)
    return Claim(text, paper, compare(*values, smallest_effect=smallest), _past(shares, SILENT_LIMIT), most)


def robustness_claim(table, arms: Sequence[Arm] = ()) -> Claim:
    """Chapter 7c's headline: with one modality failing, the SMLP on L2 features beats the one on vanilla features.

    Decided on each seed's mean accuracy over every degraded condition of ``table``
    (:func:`avsnn.robustness.sweep`); ``arms``: the fusion arms it evaluated, checked for silent runs on
    clean data (:func:`claim`).
    """
    n = len([c for c in robustness.table_conditions(table) if c.kind != "clean"])
    return claim(
        f"one modality failing: SMLP on L2 features beats SMLP on vanilla features (mean over {n} degradations)",
        robustness.degraded_mean(table, robustness.L2_FUSION),
        robustness.degraded_mean(table, robustness.VANILLA_FUSION),
        paper="beyond the paper (ch. 7c)",
        arms=arms,
    )


#: The ablation's size in the book (chapter 09's parameters, checked by tests/test_chapter.py): the
#: networks of chapters 05 and 06 (their baselines are the same runs) over the book's seeds.
ABLATION_PROFILE = "default"
ABLATION_SEEDS = (0, 1, 2, 3)
ABLATION_BASELINE = {"vision": "act_after_add", "audio": "full"}
#: Variants trained on only the first ``n`` of the ablation's seeds: without pooling every audio block runs at
#: full resolution, many times a baseline's cost. Chapter 09 prints the seeds each claim's measured spread needs.
ABLATION_SEED_LIMIT = {("audio", "no_pooling"): 3}


def ablation_arms(profile: str, data: str, seeds: Sequence[int]) -> dict:
    """The ablation's arms keyed ``(modality, variant)`` as in Table III, over ``seeds`` (:data:`ABLATION_SEED_LIMIT`).

    The limited (costly) variants come first, so :func:`~avsnn.studies.arms.train_all` starts them first and
    the other runs fill the remaining cores while they train.
    """
    keys = sorted(TABLE_III, key=lambda key: key not in ABLATION_SEED_LIMIT)
    return {
        (m, v): arm(f"{m}:{v}", m, profile, data, list(seeds)[: ABLATION_SEED_LIMIT.get((m, v))], variant=v)
        for m, v in keys
    }


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

    def uni(modality, name=None, **kw):
        return arm(name or modality, modality, profile, data, seeds, **kw)

    def ratios(a):
        return [feature_discrimination(r, "test").separability["ratio"] for r in a.load().runs]

    v, a = uni("vision"), uni("audio")
    vf, af = uni("vision", "vision FC", head="fc"), uni("audio", "audio FC", head="fc")
    fused = arm("smlp-av", "fusion", profile, data, seeds)
    vanilla_fused = arm("smlp-av-fc", "fusion", profile, data, seeds, **{"vision.head": "fc", "audio.head": "fc"})
    ablations = ablation_arms(ablation_profile, data, ablation_seeds)
    train_all([*ablations.values(), v, a, vf, af, fused, vanilla_fused])
    out = [
        claim("L2 head beats the vanilla FC head (vision)", v, vf),
        claim("L2 head beats the vanilla FC head (audio)", a, af),
        claim(
            "L2 features more separable, inter/intra ratio x100 (vision)",
            *map(ratios, (v, vf)),
            paper="Figs. 6, 9",
            arms=(v, vf),
        ),
        claim(
            "L2 features more separable, inter/intra ratio x100 (audio)",
            *map(ratios, (a, af)),
            paper="Figs. 6, 9",
            arms=(a, af),
        ),
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
        robustness_claim(robustness.sweep(data, profile, seeds), arms=(fused, vanilla_fused)),
    ]
    for modality, variant in TABLE_III:
        base_variant, ablated = ABLATION_BASELINE[modality], ablations[(modality, variant)]
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
