"""Linear probes: the floor a network should beat on a dataset (``avsnn baseline``).

Logistic regressions (scikit-learn, features standardised with training-split statistics) on

* ``vision``: the raw pixels, ``[3 x S x S]`` (the dataset's stored side) scaled to [0, 1];
* ``audio``: log-mel statistics, the mean and the standard deviation over time of each mel band of
  the log-mel spectrogram the audio network reads (:class:`avsnn.data.LogMel`, same settings);
* ``fusion`` (when both are probed): the two feature sets side by side.

The datasets come from :func:`avsnn.train.load_datasets` of the profile's configs, so the
probes see exactly the train/test split (and the samples) the networks of that profile see.

    avsnn baseline --data avdigits|synthetic|FOLDER [--modality vision|audio|both] [--profile default] [--set KEY=VALUE]
"""

from __future__ import annotations

import argparse
import dataclasses
import time
import warnings

import numpy as np

from avsnn.train.cli import add_config_arguments

PROBE_MODALITIES = ("vision", "audio", "both")


def pixel_features(ds) -> np.ndarray:
    """``[N, 3*32*32]`` float32 pixels in [0, 1] of an :class:`avsnn.data.AVDataset`."""
    return (ds.images.reshape(len(ds.images), -1).numpy() / 255.0).astype(np.float32)


def logmel_features(ds) -> np.ndarray:
    """``[N, 2 * n_mels]``: per-mel-band mean and std over time of the raw log-mel spectrograms."""
    spec = ds.spectrograms[:, 0].numpy().astype(np.float64)  # [N, n_mels, n_frames]
    return np.concatenate([spec.mean(axis=2), spec.std(axis=2)], axis=1).astype(np.float32)


def fit_probe(
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_test: np.ndarray,
    y_test: np.ndarray,
    C: float = 1.0,
    max_iter: int = 2000,
) -> dict:
    """Standardise (training statistics) and fit a multinomial logistic regression.

    L-BFGS on one BLAS thread: these problems are small, and threads spinning against a busy CPU
    make fits many times slower.

    Returns a dict: ``test_accuracy``, ``train_accuracy`` (fractions), ``n_features``, ``n_train``, ``n_test``
    and ``seconds`` (fit and predict).
    """
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from threadpoolctl import threadpool_limits

    t0 = time.perf_counter()
    model = make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=max_iter))
    with warnings.catch_warnings(), threadpool_limits(1):
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(x_train, y_train)
        test_acc, train_acc = model.score(x_test, y_test), model.score(x_train, y_train)
    return {
        "test_accuracy": float(test_acc),
        "train_accuracy": float(train_acc),
        "n_features": int(x_train.shape[1]),
        "n_train": len(y_train),
        "n_test": len(y_test),
        "seconds": time.perf_counter() - t0,
    }


FEATURES = {"vision": pixel_features, "audio": logmel_features}


def linear_probes(splits: dict, C: float = 1.0) -> dict:
    """Probe each modality of ``splits`` (``{"vision": (train, test), "audio": (train, test)}``, either or both).

    With both, the datasets must hold the same samples in the same order (as ``build_datasets`` gives for
    one data folder and split), and a ``fusion`` probe on the concatenated features is added.

    Returns ``{modality: fit_probe(...) result}``.
    """
    unknown = sorted(set(splits) - set(FEATURES))
    if unknown or not splits:
        raise ValueError(f"linear_probes: modalities must be some of {sorted(FEATURES)}, got {sorted(splits)}")
    feats = {m: tuple(FEATURES[m](ds) for ds in pair) for m, pair in splits.items()}
    labels = {m: tuple(ds.labels.numpy() for ds in pair) for m, pair in splits.items()}
    out = {m: fit_probe(feats[m][0], labels[m][0], feats[m][1], labels[m][1], C=C) for m in splits}
    if len(splits) == 2:
        v, a = splits["vision"], splits["audio"]
        if any(v[i].keys != a[i].keys for i in range(2)):
            raise ValueError(
                "linear_probes: the vision and audio datasets hold different samples; "
                "build both from the same data, split and per_class"
            )
        fused = [np.concatenate([feats["vision"][i], feats["audio"][i]], axis=1) for i in range(2)]
        out["fusion"] = fit_probe(fused[0], labels["vision"][0], fused[1], labels["vision"][1], C=C)
    return out


def probe_keys(modality: str) -> tuple:
    """The settings the probes of ``modality`` read.

    :data:`avsnn.train.profiles.DATA_KEYS`, and for audio the front end's fields (:class:`avsnn.data.AudioConfig`).
    """
    from avsnn.data import AudioConfig
    from avsnn.train.profiles import DATA_KEYS

    audio = tuple(f.name for f in dataclasses.fields(AudioConfig)) if modality != "vision" else ()
    return (*DATA_KEYS, *audio)


def check_data_overrides(overrides, modality: str) -> None:
    """A ``ValueError`` for an override the probes of ``modality`` would ignore (anything but :func:`probe_keys`)."""
    from avsnn.train.config import check_key, parse_overrides

    used = probe_keys(modality)
    for key in parse_overrides(overrides):
        check_key(key)
        if key not in used:
            raise ValueError(
                f"--set {key}: avsnn baseline --modality {modality} does not use it; it reads only {list(used)}"
            )


def run_baseline(
    data: str = "synthetic", modality: str = "both", profile: str = "default", overrides=None, C: float = 1.0
) -> dict:
    """Load the split a ``profile`` trains on (``avsnn train --data DATA --profile PROFILE``) and probe it.

    ``overrides`` (``"key=value"`` strings or a dict) change the data keys as ``avsnn train --set`` does
    (``per_class``, ``train_frac``, ``split_seed``, audio front end fields).
    """
    from avsnn.train import load_datasets, make_config  # (torch: here, so that `--help` is fast)

    if modality not in PROBE_MODALITIES:
        raise ValueError(f"modality must be one of {PROBE_MODALITIES}, got {modality!r}")
    from avsnn.train.config import parse_overrides, reads

    check_data_overrides(overrides, modality)
    raw = parse_overrides(overrides)
    names = ("vision", "audio") if modality == "both" else (modality,)
    splits = {
        m: load_datasets(make_config(m, profile, data, {k: v for k, v in raw.items() if reads(m, k)})) for m in names
    }
    return linear_probes(splits, C=C)


def format_probes(results: dict) -> str:
    """One line per probe: test and train accuracy, sizes, seconds."""
    return "\n".join(
        f"linear probe {m:6s} test_accuracy {r['test_accuracy']:.4f}  train_accuracy "
        f"{r['train_accuracy']:.4f}  features {r['n_features']}  train/test {r['n_train']}/{r['n_test']}"
        f"  ({r['seconds']:.1f}s)"
        for m, r in results.items()
    )


def cmd_baseline(args: argparse.Namespace) -> int:
    """``avsnn baseline``: print the probes' accuracies."""
    print(format_probes(run_baseline(args.data, args.modality, args.profile, args.overrides, C=args.C)))
    return 0


def add_baseline_parser(subparsers) -> argparse.ArgumentParser:
    """Register ``baseline`` on an argparse ``subparsers`` object."""
    p = subparsers.add_parser(
        "baseline",
        help="logistic-regression probes on pixels and log-mel statistics",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--modality", default="both", choices=PROBE_MODALITIES)
    add_config_arguments(
        p,
        profile_help="the profile whose data settings (per_class, split) to use (default: default)",
        set_help="override a data setting as in avsnn train (e.g. per_class=100, split_seed=1)",
    )
    p.add_argument("--C", type=float, default=1.0, help="inverse L2 regularisation strength (default 1.0)")
    p.set_defaults(func=cmd_baseline)
    return p
