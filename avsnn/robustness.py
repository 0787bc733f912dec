"""Does feature discrimination keep fusion working when one modality fails? (chapter 7c).

No new training: chapter 7's runs of each seed (the L2 and the vanilla unimodal networks, the SMLP on
each one's features) are loaded from the run store and evaluated on the test split with one modality
degraded at test time (:mod:`avsnn.degrade`): audio at decreasing SNR down to silence, images with
increasing noise or occlusion down to a blank, each modality removed. The SMLP consumes frozen features,
so a degraded input goes through its unimodal network first and the SMLP reads the degraded features,
computed as the run's own fusion inputs are (:mod:`avsnn.train.features`: the time-averaged feature,
L2-normalised). The other modality stays clean.

Models compared under each condition: the SMLP on L2 features, the SMLP on vanilla (FC-head) features,
decision-level fusion (the L2 networks' output spike counts added) and each L2 unimodal network.
:func:`sweep` returns a tidy table, one row per (model, degraded modality, kind, level, seed).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import torch
import torch.nn.functional as F

from . import degrade
from .data.audio import LogMel, load_waveform
from .data.batching import ArrayData
from .evidence import compare, summarize
from .metrics import accuracy, predict, run_model
from .report import markdown_table
from .train import load_finished, make_config
from .train.store import atomic_write_json, read_json_file, report

MODALITIES = ("vision", "audio")
L2_FUSION = "SMLP on L2 features"
VANILLA_FUSION = "SMLP on vanilla features"
DECISION = "decision-level fusion"
NETWORK = {"vision": "vision network", "audio": "audio network"}
FUSIONS = (L2_FUSION, VANILLA_FUSION, DECISION)
MODELS = (*FUSIONS, NETWORK["vision"], NETWORK["audio"])

#: The default sweep (chapter 7c's parameters, checked by tests/test_chapter.py).
SNR_DB = (20.0, 10.0, 5.0, 0.0, -5.0, -10.0)  # audio SNR (dB) of the degraded clip against the added noise
IMAGE_NOISE = (0.1, 0.2, 0.4, 0.8)  # sd of Gaussian pixel noise on the [0, 1] scale
OCCLUSION = (0.1, 0.25, 0.5, 0.75)  # area fraction of the image set to blank


@dataclass(frozen=True)
class Condition:
    """A test condition: ``modality`` (vision, audio; "none" when clean) degraded by ``kind`` at ``level``."""

    modality: str
    kind: str
    level: float = 0.0

    @property
    def label(self) -> str:
        """Short text, e.g. ``"audio SNR 5 dB"``, ``"vision occluded 50 %"``, ``"audio silent"``."""
        if self.kind == "clean":
            return "clean"
        if self.kind == "removed":
            return f"{self.modality} {'silent' if self.modality == 'audio' else 'blank'}"
        if self.kind == "snr":
            return f"audio SNR {self.level:g} dB"
        if self.kind == "noise":
            return f"vision noise sd {self.level:g}"
        return f"vision occluded {100 * self.level:g} %"

    @property
    def surviving(self) -> str:
        """The intact modality (``"none"`` when nothing is degraded)."""
        return {"vision": "audio", "audio": "vision"}.get(self.modality, "none")


def conditions(
    snr_db: Sequence[float] = SNR_DB, image_noise: Sequence[float] = IMAGE_NOISE, occlusion: Sequence[float] = OCCLUSION
) -> list:
    """The sweep: clean; audio at each SNR, then silent; images at each noise sd, each occluded area, then blank."""
    out = [Condition("none", "clean")]
    out += [Condition("audio", "snr", float(s)) for s in snr_db] + [Condition("audio", "removed", 1.0)]
    out += [Condition("vision", "noise", float(s)) for s in image_noise]
    out += [Condition("vision", "occlusion", float(f)) for f in occlusion] + [Condition("vision", "removed", 1.0)]
    for c in out:
        if c.kind == "snr" and not math.isfinite(c.level):
            raise ValueError(
                f"snr_db levels must be finite dB (the silent input is always in the sweep), got {c.level}"
            )
        if c.kind == "noise" and not c.level >= 0:
            raise ValueError(f"image_noise levels must be sds >= 0, got {c.level}")
        if c.kind == "occlusion" and not 0 <= c.level <= 1:
            raise ValueError(f"occlusion levels must be area fractions in [0, 1], got {c.level}")
    return out


def fusion_configs(data: str, profile: str, seed: int) -> tuple:
    """``(L2, vanilla)`` SMLP configs of ``seed``: chapter 7's, so their runs are loaded, not retrained."""
    l2 = make_config("fusion", profile, data=data, overrides={"seed": seed})
    vanilla = make_config(
        "fusion", profile, data=data, overrides={"vision.head": "fc", "audio.head": "fc", "seed": seed}
    )
    return l2, vanilla


def decision_predictions(vision: dict, audio: dict) -> torch.Tensor:
    """Decision-level fusion of two :func:`avsnn.metrics.run_model` outputs: spike counts added, then the arg-max.

    Ties go to the summed output currents, as :func:`avsnn.metrics.predict` does for one network.
    """
    if not torch.equal(vision["labels"], audio["labels"]):
        raise ValueError(
            "decision fusion: the vision and audio runs saw different samples; use the same data and split"
        )
    current = None if vision["current"] is None or audio["current"] is None else vision["current"] + audio["current"]
    return predict((vision["counts"] + audio["counts"])[None], None if current is None else current[None])


def split_waveforms(dataset) -> torch.Tensor:
    """The waveforms ``[N, n]`` of an audio dataset's samples, in its order, as its log-mel cache was computed from."""
    paths = {s.key: s.audio_path for s in dataset.index.samples}
    return torch.stack([load_waveform(paths[k], dataset.audio_config) for k in dataset.keys])


def audio_inputs(dataset, waves: torch.Tensor) -> torch.Tensor:
    """What the audio network reads for waveforms ``[N, n]``: their log-mel, normalised as ``dataset``'s are."""
    mean, std = dataset.normalizer
    return (LogMel(dataset.audio_config)(waves) - mean) / std


def _degraded(cond: Condition, clean: torch.Tensor, seed: int) -> torch.Tensor:
    """Degraded copy of ``clean`` (waveforms for audio, [0, 1] images for vision) under ``cond``."""
    if cond.kind == "removed":
        return degrade.silence(clean) if cond.modality == "audio" else degrade.blank(clean)
    if cond.kind == "snr":
        return degrade.add_noise_at_snr(clean, cond.level, seed)
    if cond.kind == "noise":
        return degrade.gaussian_noise(clean, cond.level, seed)
    return degrade.occlude(clean, cond.level, seed)


def evaluate(l2_fusion, vanilla_fusion, conds: Sequence[Condition], seed: int) -> list:
    """Rows ``{model, modality, kind, level, seed, accuracy}`` of one seed's finished SMLP runs under ``conds``.

    ``l2_fusion`` / ``vanilla_fusion``: :class:`avsnn.train.Run` of the SMLP on each feature set (their
    unimodal runs are found through ``sub_run``). The degradations draw from generators seeded by ``seed``.
    """
    fusions = {L2_FUSION: l2_fusion, VANILLA_FUSION: vanilla_fusion}
    nets = {(name, m): run.sub_run(run.config.sub_configs[m]) for name, run in fusions.items() for m in MODALITIES}
    test = {m: nets[(L2_FUSION, m)].array_data()[1] for m in MODALITIES}
    labels = test["vision"].labels
    for net in nets.values():
        if not torch.equal(net.array_data()[1].labels, labels):
            raise ValueError(f"{net.path}: its test split is not the one of {nets[(L2_FUSION, 'vision')].path}")
    clean_out = {key: run_model(net.model, test[key[1]]) for key, net in nets.items()}
    clean_input = {"vision": test["vision"].batch(torch.arange(len(labels)))[0]}  # float [0, 1] images
    audio_set = nets[(L2_FUSION, "audio")].datasets()[1]
    rows = []
    for cond in conds:
        out = dict(clean_out)
        if cond.modality in MODALITIES:
            if cond.modality == "audio" and "audio" not in clean_input:
                clean_input["audio"] = split_waveforms(audio_set)
            x = _degraded(cond, clean_input[cond.modality], seed)
            data = ArrayData(audio_inputs(audio_set, x) if cond.modality == "audio" else x, labels)
            for name in fusions:
                out[(name, cond.modality)] = run_model(nets[(name, cond.modality)].model, data)
        acc = {NETWORK[m]: accuracy(out[(L2_FUSION, m)]["pred"], labels) for m in MODALITIES}
        acc[DECISION] = accuracy(decision_predictions(out[(L2_FUSION, "vision")], out[(L2_FUSION, "audio")]), labels)
        for name, run in fusions.items():
            # the fusion inputs as avsnn.train.features makes them: z_av, L2-normalised (Eqs. 10-11)
            feats = {m: F.normalize(out[(name, m)]["z_av"], dim=1) for m in run.config.sub_configs}
            acc[name] = accuracy(run_model(run.model, ArrayData(feats, labels))["pred"], labels)
        rows += [
            {
                "model": m,
                "modality": cond.modality,
                "kind": cond.kind,
                "level": cond.level,
                "seed": seed,
                "accuracy": acc[m],
            }
            for m in MODELS
        ]
    return rows


def cache_path(l2_fusion, vanilla_fusion, conds: Sequence[Condition], seed: int) -> Path:
    """Where :func:`evaluate_cached` keeps one seed's rows: a file in the L2 SMLP's run folder.

    Its name hashes what the rows depend on beyond that run: the vanilla SMLP's run, the conditions, the
    seed and the source of this module and of :mod:`avsnn.degrade` (not part of the runs' code fingerprint).
    """
    source = Path(degrade.__file__).read_bytes() + Path(__file__).read_bytes()
    what = [Path(vanilla_fusion.path).name, [dataclasses.astuple(c) for c in conds], int(seed)]
    key = hashlib.sha256(json.dumps(what).encode() + hashlib.sha256(source).digest()).hexdigest()[:16]
    return Path(l2_fusion.path) / f"robustness_{key}.json"


def evaluate_cached(l2_fusion, vanilla_fusion, conds: Sequence[Condition], seed: int) -> list:
    """:func:`evaluate`, its rows kept in the L2 SMLP's run folder (:func:`cache_path`) and read back next time.

    The intro's headline claim and chapter 7c evaluate the same runs: the second reads the first's rows.
    """
    path = cache_path(l2_fusion, vanilla_fusion, conds, seed)
    rows = read_json_file(path)
    if rows is None:
        rows = evaluate(l2_fusion, vanilla_fusion, conds, seed)
        try:
            atomic_write_json(path, rows)
        except OSError as e:
            report(f"{path}: not kept ({type(e).__name__}: {e}); the evaluation runs again next time")
    return rows


def sweep(data: str, profile: str, seeds: Sequence[int], conds: Sequence[Condition] | None = None) -> list:
    """Every seed's rows: :func:`evaluate_cached` on chapter 7's runs (trained where the store lacks them)."""
    conds = conditions() if conds is None else list(conds)
    rows = []
    for seed in seeds:
        configs = fusion_configs(data, profile, int(seed))
        l2, vanilla = (load_finished(c) for c in configs)
        rows += evaluate_cached(l2, vanilla, conds, int(seed))
    return rows


def per_seed(table: Sequence[dict], model: str, cond: Condition) -> list:
    """The accuracies of ``model`` under ``cond``, one per seed in increasing seed order."""
    hits = sorted(
        (r["seed"], r["accuracy"])
        for r in table
        if (r["model"], r["modality"], r["kind"], r["level"]) == (model, cond.modality, cond.kind, cond.level)
    )
    if not hits:
        raise ValueError(f"the table holds no row of {model!r} under {cond.label!r}")
    return [a for _, a in hits]


def table_conditions(table: Sequence[dict]) -> list:
    """The conditions of a table, in the order they first appear."""
    return list(dict.fromkeys(Condition(r["modality"], r["kind"], r["level"]) for r in table))


def verdicts(table: Sequence[dict]) -> list:
    """Per degraded condition, the paired comparisons over seeds (:func:`avsnn.evidence.compare`).

    Returns ``[(condition, {question: Comparison})]``: the SMLP on L2 features against the one on vanilla
    features, and each fusion against the network of the surviving modality alone (intact).
    """
    out = []
    for cond in table_conditions(table):
        if cond.kind == "clean":
            continue
        alone = per_seed(table, NETWORK[cond.surviving], cond)
        found = {
            "L2 vs vanilla features": compare(per_seed(table, L2_FUSION, cond), per_seed(table, VANILLA_FUSION, cond))
        }
        for fusion in FUSIONS:
            found[f"{fusion} vs intact network"] = compare(per_seed(table, fusion, cond), alone)
        out.append((cond, found))
    return out


def degraded_mean(table: Sequence[dict], model: str) -> list:
    """Per seed, the mean accuracy of ``model`` over every degraded condition of the table (the headline)."""
    conds = [c for c in table_conditions(table) if c.kind != "clean"]
    columns = [per_seed(table, model, c) for c in conds]
    return [sum(col[i] for col in columns) / len(columns) for i in range(len(columns[0]))]


def accuracy_table(table: Sequence[dict]) -> str:
    """Markdown: one row per condition, one column per model, the test accuracy (%) as mean ± sd over seeds."""
    rows = [(c.label, *(summarize(per_seed(table, m, c)).format() for m in MODELS)) for c in table_conditions(table)]
    return markdown_table(rows, ["condition", *MODELS])


def verdict_table(found: Sequence[tuple]) -> str:
    """Markdown of :func:`verdicts`: per degraded condition, each comparison's difference (points, 95 % CI)."""
    questions = list(found[0][1]) if found else []
    rows = [(c.label, *(comparisons[q].format() for q in questions)) for c, comparisons in found]
    return markdown_table(rows, ["condition", *(f"{q} (points)" for q in questions)])


#: The panels of the figure: (degraded modality, kind) and the axis title; each ends with the modality removed.
PANELS = {
    ("audio", "snr"): "audio SNR (dB)",
    ("vision", "noise"): "image noise sd",
    ("vision", "occlusion"): "image area occluded",
}


def panels(table: Sequence[dict]) -> dict:
    """The figure's data: ``{axis title: (tick labels, {model: [[accuracy per level] per seed]})}``.

    One panel per degradation of :data:`PANELS` present in the table, its levels in sweep order, then the
    modality removed.
    """
    conds = table_conditions(table)
    out = {}
    for (modality, kind), title in PANELS.items():
        levels = [c for c in conds if (c.modality, c.kind) == (modality, kind)]
        if not levels:
            continue
        levels += [c for c in conds if (c.modality, c.kind) == (modality, "removed")]
        ticks = [c.label.split()[-1] if c.kind == "removed" else f"{c.level:g}" for c in levels]
        curves = {m: [list(s) for s in zip(*(per_seed(table, m, c) for c in levels))] for m in MODELS}
        out[title] = (ticks, curves)
    return out
