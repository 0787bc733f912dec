"""Writers of small on-disk datasets in every supported real layout (for tests and examples).

They produce the exact formats the readers expect: WAV files of any sample format (8-bit unsigned,
16/24/32-bit PCM, 32-bit float; mono or stereo), release folders (``vision/ + audio/`` with PNGs or
``Dataset_v3_vision/ + Dataset_v3_sound/`` with JPEGs), CIFAR-10 python pickles and UrbanSound8K.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import pickle
import wave
from pathlib import Path

import numpy as np
from PIL import Image
from scipy.io import wavfile

WAV_FORMATS = ("u8", "i16", "i24", "i32", "f32")


def write_wav(path: str | os.PathLike, samples: np.ndarray, sample_rate: int, fmt: str = "i16") -> Path:
    """Write float samples in [-1, 1] (``[n]`` or ``[n, channels]``) as a WAV of sample format ``fmt``."""
    if fmt not in WAV_FORMATS:
        raise ValueError(f"fmt must be one of {WAV_FORMATS}, got {fmt!r}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    x = np.asarray(samples, dtype=np.float64)
    x2 = x if x.ndim == 2 else x[:, None]
    if fmt == "f32":
        wavfile.write(path, sample_rate, x.astype(np.float32))
    elif fmt == "u8":
        wavfile.write(path, sample_rate, np.clip(np.round(x * 127 + 128), 0, 255).astype(np.uint8))
    elif fmt == "i16":
        wavfile.write(path, sample_rate, np.clip(np.round(x * 32767), -32768, 32767).astype(np.int16))
    elif fmt == "i32":
        wavfile.write(path, sample_rate, np.clip(np.round(x * 2147483647), -(2**31), 2**31 - 1).astype(np.int32))
    else:  # 24-bit little-endian PCM via the stdlib writer
        ints = np.clip(np.round(x2 * 8388607), -(2**23), 2**23 - 1).astype("<i4")
        raw = ints.reshape(-1).view(np.uint8).reshape(-1, 4)[:, :3].tobytes()
        with wave.open(str(path), "wb") as w:
            w.setnchannels(x2.shape[1])
            w.setsampwidth(3)
            w.setframerate(sample_rate)
            w.writeframes(raw)
    return path


def tone(freq: float, sample_rate: int, duration_s: float, channels: int = 1, amp: float = 0.5) -> np.ndarray:
    """Sine tone ``[n]`` (mono) or ``[n, channels]``."""
    t = np.arange(int(round(sample_rate * duration_s))) / sample_rate
    x = amp * np.sin(2 * np.pi * freq * t)
    return x if channels == 1 else np.stack([x] * channels, axis=1)


def solid_image(path: str | os.PathLike, colour, size: int = 32) -> Path:
    """Write a solid-colour RGB image (format from the suffix)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    arr = np.empty((size, size, 3), dtype=np.uint8)
    arr[:] = np.asarray(colour, dtype=np.uint8)
    Image.fromarray(arr, "RGB").save(path)
    return path


def write_release_fixture(
    root: str | os.PathLike,
    classes=("cat", "dog"),
    per_class: int = 4,
    layout: str = "release",
    formats=WAV_FORMATS,
    rates=(8000, 22050, 44100),
    duration_s: float = 0.3,
) -> Path:
    """Small paired release: image + wav per sample, cycling through WAV formats, rates and channels.

    Class ``k`` has solid images of a class colour and tones at ``300 * (k + 1)`` Hz. Returns ``root``.
    """
    root = Path(root)
    img_dir, aud_dir, ext = {
        "release": ("vision", "audio", ".png"),
        "dataset_v3": ("Dataset_v3_vision", "Dataset_v3_sound", ".jpg"),
    }[layout]
    i = 0
    for k, c in enumerate(classes):
        for j in range(per_class):
            name = f"{c}_{j:03d}"
            solid_image(root / img_dir / c / f"{name}{ext}", ((60 * k + 40) % 256, 100 + 10 * j, 200 - 50 * k))
            sr = rates[i % len(rates)]
            write_wav(
                root / aud_dir / c / f"{name}.wav",
                tone(300.0 * (k + 1), sr, duration_s, channels=1 + i % 2),
                sr,
                formats[i % len(formats)],
            )
            i += 1
    return root


def write_cifar10_fixture(root: str | os.PathLike, per_batch: int = 4, seed: int = 0) -> Path:
    """Tiny ``cifar-10-batches-py/`` (5 train batches + test batch + meta) in the original pickle format."""
    d = Path(root) / "cifar-10-batches-py"
    d.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    names = [b"airplane", b"automobile", b"bird", b"cat", b"deer", b"dog", b"frog", b"horse", b"ship", b"truck"]
    with open(d / "batches.meta", "wb") as f:
        pickle.dump({b"label_names": names, b"num_cases_per_batch": per_batch, b"num_vis": 3072}, f)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batch = {
            b"batch_label": name.encode(),
            b"labels": [int(v) for v in rng.integers(0, 10, per_batch)],
            b"data": rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8),
            b"filenames": [f"{name}_{i}.png".encode() for i in range(per_batch)],
        }
        with open(d / name, "wb") as f:
            pickle.dump(batch, f)
    return d


US8K_CLASSES = (
    "air_conditioner",
    "car_horn",
    "children_playing",
    "dog_bark",
    "drilling",
    "engine_idling",
    "gun_shot",
    "jackhammer",
    "siren",
    "street_music",
)


def write_urbansound8k_fixture(
    root: str | os.PathLike, per_fold: int = 2, folds=range(1, 11), sample_rate: int = 22050, duration_s: float = 0.25
) -> Path:
    """Tiny UrbanSound8K: ``metadata/UrbanSound8K.csv`` + ``audio/fold<k>/<fsID>-0-0.wav``."""
    root = Path(root)
    (root / "metadata").mkdir(parents=True, exist_ok=True)
    rows = []
    n = 0
    for fold in folds:
        for j in range(per_fold):
            cid = n % 10
            name = f"{1000 + n}-{cid}-0-{j}.wav"
            write_wav(
                root / "audio" / f"fold{fold}" / name,
                tone(200.0 + 100 * cid, sample_rate, duration_s),
                sample_rate,
                "i16",
            )
            rows.append([name, 1000 + n, 0.0, duration_s, 1, fold, cid, US8K_CLASSES[cid]])
            n += 1
    with open(root / "metadata" / "UrbanSound8K.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["slice_file_name", "fsID", "start", "end", "salience", "fold", "classID", "class"])
        w.writerows(rows)
    return root


def hash_as_embedded(cfg) -> str:
    """``cfg.hash()`` with the synthetic set under its first name, ``embedded`` (sub-configs too)."""

    def rename(d):
        d = {k: rename(v) if isinstance(v, dict) else v for k, v in d.items()}
        return {**d, "dataset": "embedded"} if d.get("dataset") == "synthetic" else d

    text = json.dumps(rename(cfg.canonical()), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:12]
