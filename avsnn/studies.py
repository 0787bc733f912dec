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
"""

from __future__ import annotations

import math
import multiprocessing
import os
import sys
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Optional, Sequence

import torch
from tqdm import tqdm

from . import robustness
from .analysis import feature_discrimination
from .baseline import run_baseline
from .device import resolve_device
from .evidence import SMALLEST_EFFECT, Comparison, Summary, compare, summarize
from .metrics import accuracy, run_model
from .paper import TABLE_I, TABLE_II, TABLE_III
from .report import markdown_table
from .robustness import decision_predictions
from .train import RunStore, load_finished, make_config, train_or_load


@dataclass
class Arm:
    """One configuration over seeds: ``configs[i]`` is trained with ``seeds[i]``."""

    name: str
    modality: str
    configs: list
    seeds: tuple
    runs: list = field(default_factory=list, repr=False)

    def train(self, verbose: bool = False) -> "Arm":
        """Train or load every seed's run (``train_or_load``: stored runs are reused, never retrained)."""
        if not self.runs:
            self.runs = [train_or_load(c, verbose=verbose) for c in self.configs]
        return self

    def load(self) -> "Arm":
        """Read every seed's finished run from the store; never trains (an unfinished one is a ``LookupError``)."""
        if not self.runs:
            self.runs = [load_finished(c) for c in self.configs]
        return self

    @property
    def accuracies(self) -> list:
        """Per-seed test accuracies (fractions) of the kept (best-validation) models (read, never trained)."""
        return [r.metrics["test_accuracy"] for r in self.load().runs]

    @property
    def summary(self) -> Summary:
        """The :class:`Summary` of the per-seed test accuracies."""
        return summarize(self.accuracies)


def arm(name: str, modality: str, profile: str, data: str, seeds: Sequence[int], **overrides) -> Arm:
    """An :class:`Arm` of ``make_config(modality, profile, data, {**overrides, "seed": s})`` for each seed."""
    seeds = tuple(int(s) for s in seeds)
    if not seeds:
        raise ValueError("seeds must name at least one seed, e.g. seeds=(0, 1, 2)")
    configs = [make_config(modality, profile, data=data, overrides={**overrides, "seed": s}) for s in seeds]
    return Arm(name, modality, configs, seeds)


def _train_one_thread(cfg) -> str:
    torch.set_num_threads(1)
    return train_or_load(cfg, progress=False, verbose=False).path.name


def _stages(configs) -> list:
    """Unimodal runs first, then fusion runs (whose inputs are then found in the store)."""
    uni = [c for c in configs if c.modality != "fusion"]
    subs = [s for c in configs if c.modality == "fusion" for s in c.sub_configs.values()]
    fusion = [c for c in configs if c.modality == "fusion"]
    return [uni + subs, fusion]


def train_all(arms, workers: Optional[int] = None, desc: str = "training") -> None:
    """Train every run of ``arms`` that the store does not hold yet, ``workers`` at a time.

    On the CPU the runs go to ``workers`` processes of one thread each (default: one per core, at
    most the number of runs): small spiking networks use two cores better as two one-thread runs
    than as one two-thread run, and a one-thread run gives the same numbers on any machine of one
    CPU kind, whatever its core count. On a GPU, or with ``workers=1``, the runs train here, one
    after the other. Finished runs are read from the store either way; a progress bar counts runs.
    """
    configs = [c for a in (arms.values() if isinstance(arms, dict) else arms) for c in a.configs]
    on_cpu = all(resolve_device(c.device).type == "cpu" for c in configs)
    workers = workers or (min(os.cpu_count() or 1, 4) if on_cpu else 1)
    for stage in _stages(configs):
        todo = list({c.hash(): c for c in stage if not RunStore(c).done}.values())
        if not todo:
            continue
        bar = tqdm(total=len(todo), desc=desc, unit="run", file=sys.stderr)
        if workers == 1 or len(todo) == 1 or not on_cpu:
            for c in todo:
                train_or_load(c, progress=False, verbose=False)
                bar.update()
        else:
            ctx = multiprocessing.get_context("spawn")
            with ProcessPoolExecutor(min(workers, len(todo)), mp_context=ctx) as pool:
                for _ in pool.map(_train_one_thread, todo):
                    bar.update()
        bar.close()


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


def _cell(s: Summary, scale: float = 100.0, digits: int = 1) -> str:
    return s.format(scale, digits)


def seeds_table(arms: dict, probes: Optional[dict] = None) -> str:
    """Markdown: one row per arm (``{name: per-seed accuracies or Arm}``): mean ± sd and the per-seed points (%)."""
    rows = []
    for name, values in arms.items():
        s = summarize(values.accuracies if isinstance(values, Arm) else values)
        rows.append((name, _cell(s), ", ".join(f"{100 * v:.1f}" for v in s.values)))
    for name, value in (probes or {}).items():
        rows.append((name, f"{100 * value:.1f}", "(no seed: a convex fit)"))
    return markdown_table(rows, ["model", "test accuracy (%), mean ± sd", "per seed (%)"])


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


def claims_table(claims: Sequence[Claim], scale: float = 100.0, digits: int = 1) -> str:
    """Markdown table of claims: the paper's figure, ours, the difference with its CI, what it can see, the verdict.

    Ours shows both sides as mean ± sd. "can see" is the interval's half-width (the smallest difference this
    design detects) beside the smallest effect that matters for the verdict (the paper's, else the default).
    Values are fractions shown as percent (``scale=100``); ``scale=1`` shows them as they are.
    """
    unit = "%" if scale == 100.0 else "value"

    def sees(r: Comparison) -> str:
        half = "-" if math.isinf(r.half_width) else f"±{r.half_width * scale:.{digits}f}"
        return f"{half} (matters: {r.smallest_effect * scale:.{digits}f})"

    rows = [
        (
            c.claim,
            c.paper or "-",
            f"{_cell(c.result.a, scale, digits)} vs {_cell(c.result.b, scale, digits)}",
            c.result.format(scale, digits),
            sees(c.result),
            c.result.verdict_text(scale, digits),
        )
        for c in claims
    ]
    diff = "points" if scale == 100.0 else "difference"
    return markdown_table(
        rows, ["claim", "paper", f"ours ({unit}, mean ± sd)", f"{diff} (95 % CI)", "can see", "verdict"]
    )


#: The ablation's size in the book (chapter 09's parameters, checked by tests/test_chapter.py): seven
#: variants, one without pooling, fit the CPU budget over several seeds only at the smoke size.
ABLATION_PROFILE = "smoke"
ABLATION_SEEDS = (0, 1, 2)
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
