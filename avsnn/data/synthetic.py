"""The synthetic set: 10-class audio-visual data with designed modality complementarity (``data="synthetic"``).

It stands in for CIFAR10-AV / UrbanSound8K-AV when those are not available: same release layout
(``vision/<class>/<id>.png`` 32x32 RGB, ``audio/<class>/<id>.wav`` 16-bit mono), small, fast to make
and deterministic in ``seed``.

Design
------
Every class has an image generator (shape or texture, colour, per-sample position / scale / colour
jitter / background / pixel noise) and a sound generator (time-frequency pattern, per-sample pitch /
onset / length / gain / background noise). Classes come in pairs built so that neither modality
alone reaches 100 % but their fusion can:

* ``vision_confusable`` (0, 1) and (2, 3): the two classes share one image generator; only a subtle
  cue separates them (class 1's disc is slightly greener, class 3's stripes are rotated), while their
  sounds are clearly different (hum vs chirp, rhythmic noise bursts vs whistle).
* ``audio_confusable`` (4, 5) and (6, 7): the two classes share one sound generator; only a subtle
  cue separates them (class 5's buzz is pitched higher, class 7's hiss band is higher), while their
  images are clearly different (square vs triangle, ring vs cross).
* (8, 9): moderately different in both (checkerboard vs dot grid, in similar reds; broadband clicks
  vs tonal knocks at overlapping rates).

The subtle cues scale with ``1 - confusion``: ``confusion=1`` makes each confusable pair identical in
that modality (chance within the pair), ``confusion=0`` makes the cue large. At the default 0.5 the
cue is about one to one-and-a-half per-sample standard deviations.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

import numpy as np
from PIL import Image
from scipy.io import wavfile

from ._util import generate_folder, logger, resolve_cache_dir, stable_hash

#: the generator's settings and their defaults (:func:`make_synthetic`, :func:`ensure_synthetic`)
DEFAULTS = {
    "seed": 0,
    "per_class": 300,
    "image_noise": 0.15,
    "audio_noise": 0.3,
    "confusion": 0.5,
    "sample_rate": 16000,
    "duration_s": 1.0,
}
# Stored names, kept from the set's first name ("embedded") so that folders and caches generated
# before stay valid: the generator recorded in the metadata, the metadata file, the cache folder prefix
GENERATOR_NAME = "avsnn.data.embedded"
META_FILE = "embedded.json"
CACHE_PREFIX = "embedded-"
GENERATOR_VERSION = 1  # bump when the output for a given seed changes
IMAGE_SIZE = 32

# The digit prefix makes the sorted folder names (the release-layout labels) follow this order.
SYNTHETIC_CLASSES = (
    "0_disc_hum",
    "1_disc_chirp",  # same image (disc), different sounds
    "2_stripes_beat",
    "3_stripes_whistle",  # same image (stripes), different sounds
    "4_square_buzz",
    "5_triangle_buzz",  # same sound (buzz), different images
    "6_ring_hiss",
    "7_cross_hiss",  # same sound (hiss), different images
    "8_checker_clicks",
    "9_dots_knocks",  # moderately different in both
)
COMPLEMENTARY_PAIRS = {
    "vision_confusable": [(0, 1), (2, 3)],
    "audio_confusable": [(4, 5), (6, 7)],
    "moderate": [(8, 9)],
}

# Base foreground colours (RGB in [0, 1]).
_COLOURS = {
    0: (0.95, 0.55, 0.15),
    1: (0.95, 0.55, 0.15),
    2: (0.20, 0.45, 0.95),
    3: (0.20, 0.45, 0.95),
    4: (0.20, 0.85, 0.30),
    5: (0.90, 0.25, 0.85),
    6: (0.95, 0.90, 0.20),
    7: (0.15, 0.85, 0.90),
    8: (0.90, 0.20, 0.20),
    9: (0.95, 0.35, 0.25),
}


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def _images(label: int, n: int, rng: np.random.Generator, image_noise: float, confusion: float) -> np.ndarray:
    """``n`` images of class ``label`` as uint8 ``[n, 32, 32, 3]``."""
    cue = 1.0 - confusion
    g = (np.arange(IMAGE_SIZE) + 0.5) / IMAGE_SIZE
    y, x = g[None, :, None], g[None, None, :]
    cx = rng.uniform(0.35, 0.65, (n, 1, 1))
    cy = rng.uniform(0.35, 0.65, (n, 1, 1))
    scale = rng.uniform(0.8, 1.2, (n, 1, 1))
    theta = rng.normal(0.0, np.deg2rad(12), (n, 1, 1))
    colour = np.asarray(_COLOURS[label]) + rng.normal(0.0, 0.06, (n, 3))
    bg_colour = rng.uniform(0.05, 0.45, (n, 3))
    bg_slope = rng.normal(0.0, 0.15, (n, 2))
    phase = rng.uniform(0.0, 2 * np.pi, (n, 1, 1))
    period = rng.uniform(0.18, 0.28, (n, 1, 1))
    noise = rng.normal(0.0, 1.0, (n, IMAGE_SIZE, IMAGE_SIZE, 3))

    dx, dy = x - cx, y - cy
    u = np.cos(theta) * dx + np.sin(theta) * dy  # rotated coordinates
    v = -np.sin(theta) * dx + np.cos(theta) * dy
    r = 0.22 * scale
    sharp = 60.0
    if label in (0, 1):
        mask = _sigmoid(sharp * (r - np.hypot(dx, dy)))
        if label == 1:  # subtle cue: greener, less red
            colour = colour + cue * np.array([-0.04, 0.12, 0.0])
    elif label in (2, 3):
        ang = theta * 1.7 + (np.deg2rad(60.0) * cue if label == 3 else 0.0)
        s = np.sin(2 * np.pi * (np.cos(ang) * x + np.sin(ang) * y) / (period * 0.8) + phase)
        mask = _sigmoid(6.0 * s)
    elif label == 4:
        mask = _sigmoid(sharp * (0.85 * r - np.maximum(np.abs(u), np.abs(v))))
    elif label == 5:
        # equilateral triangle pointing up: intersection of three half-planes
        d = np.minimum.reduce(
            [
                v + 0.5 * r * 1.2 - 0 * u,
                -np.sqrt(3) / 2 * u - 0.5 * v + 0.5 * r * 1.2,
                np.sqrt(3) / 2 * u - 0.5 * v + 0.5 * r * 1.2,
            ]
        )
        mask = _sigmoid(sharp * d)
    elif label == 6:
        mask = _sigmoid(sharp * (0.06 - np.abs(np.hypot(dx, dy) - r)))
    elif label == 7:
        w = 0.07 * scale
        bar1 = np.minimum(w - np.abs(u), 1.1 * r - np.abs(v))
        bar2 = np.minimum(1.1 * r - np.abs(u), w - np.abs(v))
        mask = _sigmoid(sharp * np.maximum(bar1, bar2))
    elif label == 8:
        k = 2 * np.pi / (period * 0.9)
        mask = _sigmoid(8.0 * np.sin(k * u + phase) * np.sin(k * v + phase))
    elif label == 9:
        p = period * 0.9
        du = (u / p + phase / (2 * np.pi)) % 1.0 - 0.5
        dv = (v / p) % 1.0 - 0.5
        mask = _sigmoid(sharp * p * (0.3 - np.hypot(du, dv)))
    else:
        raise ValueError(f"label must be in 0..9, got {label}")

    bg = (
        bg_colour[:, None, None, :]
        + (bg_slope[:, 0, None, None] * (x - 0.5) + bg_slope[:, 1, None, None] * (y - 0.5))[..., None]
    )
    img = bg + mask[..., None] * (colour[:, None, None, :] - bg)
    img = img + image_noise * noise
    return np.clip(np.round(img * 255.0), 0, 255).astype(np.uint8)


def _unit_rms(s: np.ndarray) -> np.ndarray:
    s = s.astype(np.float32, copy=False)
    return s / np.sqrt(np.mean(s * s, axis=1, keepdims=True, dtype=np.float64) + 1e-12).astype(np.float32)


def _band_noise(rng, n, n_samples, sr, centre, width_oct):
    """White noise shaped by a Gaussian (in log2 frequency) band around ``centre`` [n, 1] Hz."""
    spec = np.fft.rfft(rng.standard_normal((n, n_samples), dtype=np.float32), axis=1)
    f = np.fft.rfftfreq(n_samples, 1.0 / sr)[None, :]
    logf = np.log2(np.maximum(f, 1.0) / centre)
    spec *= np.exp(-0.5 * (logf / width_oct) ** 2)
    return _unit_rms(np.fft.irfft(spec, n=n_samples, axis=1))


def _audio(
    label: int, n: int, rng: np.random.Generator, audio_noise: float, confusion: float, sr: int, duration_s: float
) -> np.ndarray:
    """``n`` clips of class ``label`` as int16 ``[n, samples]``."""
    cue = 1.0 - confusion
    ns = int(round(sr * duration_s))
    t = (np.arange(ns, dtype=np.float64)[None, :] / sr).astype(np.float32)
    nyq = sr / 2
    f32 = np.float32
    onset = (rng.uniform(0.0, 0.25, (n, 1)) * duration_s).astype(f32)
    length = (rng.uniform(0.5, 0.75, (n, 1)) * duration_s).astype(f32)
    gain = rng.uniform(0.5, 1.0, (n, 1)).astype(f32)
    bg_gain = rng.uniform(0.5, 1.5, (n, 1)).astype(f32)
    pitch = rng.normal(0.0, 1.0, (n, 1)).astype(f32)  # generic per-sample pitch variation (z-score)
    aux = rng.uniform(0.0, 1.0, (n, 1)).astype(f32)  # generic per-sample variation (rate, phase, ...)
    fade = 0.02
    rel = t - onset
    env = np.clip(np.minimum(rel, length - rel) / fade, 0.0, 1.0)
    env = 0.5 - 0.5 * np.cos(np.pi * env)

    def tone_phase(freq):  # cumulative phase (cycles) of an instantaneous frequency [n, ns]
        return (np.cumsum(np.broadcast_to(freq, (n, ns)), axis=1, dtype=np.float64) / sr % 1.0).astype(f32)

    if label == 0:  # hum: harmonic tone, f0 ~ 220 Hz
        f0 = 220.0 * 2 ** (0.1 * pitch)
        ph = 2 * np.pi * f0 * t
        sig = sum(np.sin(k * ph) / k for k in range(1, 6))
    elif label == 1:  # rising chirp ~650 -> ~2500 Hz over the sound's length
        fa, fb = 650.0 * 2 ** (0.15 * pitch), 2500.0 * 2 ** (0.3 * (aux - 0.5))
        freq = fa + (fb - fa) * np.clip(rel / length, 0.0, 1.0)
        sig = np.sin(2 * np.pi * tone_phase(freq))
    elif label == 2:  # rhythmic bursts of 1-3 kHz noise at 3-5 Hz
        rate = 3.0 + 2.0 * aux
        am = (0.5 + 0.5 * np.cos(2 * np.pi * rate * rel)) ** 4
        sig = _band_noise(rng, n, ns, sr, 1800.0 * 2 ** (0.1 * pitch), 0.5) * am
    elif label == 3:  # whistle ~3 kHz with 5-7 Hz vibrato
        f = min(3000.0, 0.4 * sr) * 2 ** (0.1 * pitch)
        freq = f * (1.0 + 0.03 * np.sin(2 * np.pi * (5.0 + 2.0 * aux) * t))
        sig = np.sin(2 * np.pi * tone_phase(freq))
    elif label in (4, 5):  # buzz (sawtooth) ~120 Hz; class 5 pitched higher by the cue
        f0 = 120.0 * 2 ** (0.08 * pitch + (0.16 * cue if label == 5 else 0.0))
        saw = (f0 * t + aux) % 1.0
        sig = 2.0 * saw - 1.0
    elif label in (6, 7):  # hiss: noise band ~4 kHz; class 7 band higher by the cue
        centre = min(4000.0, 0.45 * nyq) * 2 ** (0.1 * pitch + (0.2 * cue if label == 7 else 0.0))
        sig = _band_noise(rng, n, ns, sr, centre, 0.25)
    elif label in (8, 9):  # click trains: broadband clicks 3-6 Hz (8) / tonal knocks 5-8 Hz (9)
        rate = (3.0 + 3.0 * aux) if label == 8 else (5.0 + 3.0 * aux)
        since = (rel * rate % 1.0) / rate  # seconds since the last click
        if label == 8:
            sig = np.exp(-since / 0.004) * rng.standard_normal((n, ns), dtype=np.float32)
        else:
            sig = np.exp(-since / 0.015) * np.sin(2 * np.pi * 1200.0 * 2 ** (0.1 * pitch) * since)
    else:
        raise ValueError(f"label must be in 0..9, got {label}")

    sig = _unit_rms(np.asarray(sig) * env)
    bg = rng.standard_normal((n, ns), dtype=np.float32)
    y = f32(0.2) * gain * sig + f32(0.2 * audio_noise) * bg_gain * bg
    return np.clip(np.round(y * f32(32767.0)), -32768, 32767).astype(np.int16)


def _settings(seed, per_class, image_noise, audio_noise, confusion, sample_rate, duration_s) -> dict:
    if int(per_class) < 1:
        raise ValueError(f"per_class must be >= 1, got {per_class!r}")
    if not 0.0 <= float(confusion) <= 1.0:
        raise ValueError(f"confusion must be in [0, 1], got {confusion!r}")
    if float(image_noise) < 0 or float(audio_noise) < 0:
        raise ValueError(f"image_noise and audio_noise must be >= 0, got {image_noise!r}, {audio_noise!r}")
    if int(sample_rate) < 8000:
        raise ValueError(f"sample_rate must be >= 8000 Hz, got {sample_rate!r}")
    if not float(duration_s) > 0:
        raise ValueError(f"duration_s must be > 0, got {duration_s!r}")
    return {
        "seed": int(seed),
        "per_class": int(per_class),
        "image_noise": float(image_noise),
        "audio_noise": float(audio_noise),
        "confusion": float(confusion),
        "sample_rate": int(sample_rate),
        "duration_s": float(duration_s),
    }


def _sample_id(i: int) -> str:
    return f"{i:05d}"


def _files(settings: dict) -> list:
    """Relative paths of the dataset's files, in a fixed order."""
    return [
        f"{side}/{c}/{_sample_id(i)}{ext}"
        for c in SYNTHETIC_CLASSES
        for side, ext in (("vision", ".png"), ("audio", ".wav"))
        for i in range(settings["per_class"])
    ]


def _content(out: Path, settings: dict) -> dict:
    """``{"files", "bytes", "sha256"}`` of the dataset's files (sha256 over each relative path and its bytes)."""
    h, total, files = hashlib.sha256(), 0, _files(settings)
    for rel in files:
        data = (out / rel).read_bytes()
        h.update(f"{rel}\0{len(data)}\0".encode())
        h.update(data)
        total += len(data)
    return {"files": len(files), "bytes": total, "sha256": h.hexdigest()}


def _why_incomplete(out: Path, settings: dict) -> str | None:
    """None if ``out`` holds a finished, intact dataset generated with exactly ``settings``, else why not.

    Intact: the files' count, total size and sha256 match those recorded in :data:`META_FILE` when written.
    """
    try:
        meta = json.loads((out / META_FILE).read_text())
    except (OSError, ValueError):
        return f"{META_FILE} missing or unreadable"
    if meta.get("generator") != GENERATOR_NAME or meta.get("version") != GENERATOR_VERSION:
        return "generated by another version"
    if meta.get("settings") != settings:
        return "generated with other settings"
    ids = {_sample_id(i) for i in range(settings["per_class"])}
    for c in SYNTHETIC_CLASSES:
        for side, ext in (("vision", ".png"), ("audio", ".wav")):
            d = out / side / c
            if not d.is_dir() or {p[:-4] for p in os.listdir(d) if p.endswith(ext)} != ids:
                return f"files missing in {side}/{c}/"
    want = meta.get("content")
    if not isinstance(want, dict):
        return f"no content checksum in {META_FILE}"
    have = _content(out, settings)
    if have != want:
        return (
            f"its {have['files']} files hold {have['bytes']} bytes, written with {want.get('bytes')} bytes"
            f"{'' if have['sha256'] == want.get('sha256') else ', checksum differs'}"
        )
    return None


def _write(tmp: Path, settings: dict) -> None:
    s = settings
    for label, name in enumerate(SYNTHETIC_CLASSES):
        img_rng = np.random.default_rng([s["seed"], label, 0])
        aud_rng = np.random.default_rng([s["seed"], label, 1])
        images = _images(label, s["per_class"], img_rng, s["image_noise"], s["confusion"])
        clips = _audio(
            label, s["per_class"], aud_rng, s["audio_noise"], s["confusion"], s["sample_rate"], s["duration_s"]
        )
        vdir, adir = tmp / "vision" / name, tmp / "audio" / name
        vdir.mkdir(parents=True)
        adir.mkdir(parents=True)
        for i in range(s["per_class"]):
            sid = _sample_id(i)
            Image.fromarray(images[i], "RGB").save(vdir / f"{sid}.png", format="PNG", compress_level=6)
            wavfile.write(adir / f"{sid}.wav", s["sample_rate"], clips[i])
    meta = {
        "generator": GENERATOR_NAME,
        "version": GENERATOR_VERSION,
        "seed": s["seed"],
        "per_class": s["per_class"],
        "settings": s,
        "classes": list(SYNTHETIC_CLASSES),
        "complementary_pairs": {k: [list(p) for p in v] for k, v in COMPLEMENTARY_PAIRS.items()},
        "content": _content(tmp, s),
    }
    (tmp / META_FILE).write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")


def make_synthetic(
    out: str | os.PathLike,
    seed: int = DEFAULTS["seed"],
    per_class: int = DEFAULTS["per_class"],
    *,
    image_noise: float = DEFAULTS["image_noise"],
    audio_noise: float = DEFAULTS["audio_noise"],
    confusion: float = DEFAULTS["confusion"],
    sample_rate: int = DEFAULTS["sample_rate"],
    duration_s: float = DEFAULTS["duration_s"],
    overwrite: bool = False,
) -> Path:
    """Generate the synthetic set at ``out`` (see module docstring) and return ``out``.

    Files are written into a hidden sibling folder renamed to ``out`` at the end
    (:func:`avsnn.data._util.generate_folder`), so an interrupted run never leaves a dataset that looks
    complete. :data:`META_FILE` records the files' count, size and sha256; if ``out`` already holds a
    complete dataset with the same settings and intact files it is returned untouched.

    Parameters
    ----------
    out : path-like
        Destination folder (created).
    seed : int
        Same seed and settings give byte-identical files.
    per_class : int
        Samples per class (ids ``00000`` ...).
    image_noise : float
        Std of Gaussian pixel noise (image values in [0, 1]).
    audio_noise : float
        Background noise level relative to the signal level.
    confusion : float in [0, 1]
        How hard the confusable pairs are in their weak modality (1: identical).
    sample_rate, duration_s
        WAV format.
    overwrite : bool
        Replace an ``out`` that holds something else (other settings, incomplete, foreign files).

    Raises
    ------
    ValueError
        Bad parameter, or ``out`` holds something else (or a damaged dataset) and ``overwrite`` is False.
    CacheNotWritableError
        The folder of ``out`` cannot be written (a ``ValueError``: one line naming the folder).
    """
    out = Path(out).expanduser()
    settings = _settings(seed, per_class, image_noise, audio_noise, confusion, sample_rate, duration_s)
    t0 = time.perf_counter()
    if not generate_folder(
        out,
        lambda tmp: _write(tmp, settings),
        lambda o: _why_incomplete(o, settings),
        "the synthetic dataset",
        overwrite=overwrite,
        describe=f"a complete synthetic dataset with these settings {settings}",
        fix="pass overwrite=True (CLI: choose another --out) to replace it",
    ):
        return out
    logger.info(
        "generated synthetic dataset %s (%d samples) in %.2fs",
        out,
        len(SYNTHETIC_CLASSES) * settings["per_class"],
        time.perf_counter() - t0,
    )
    return out


def synthetic_settings(**kwargs) -> dict:
    """Validated full settings of :func:`make_synthetic` for ``kwargs`` (defaults filled in)."""
    unknown = sorted(set(kwargs) - set(DEFAULTS))
    if unknown:
        raise ValueError(f"unknown synthetic dataset option(s) {unknown}; expected some of {sorted(DEFAULTS)}")
    return _settings(**{**DEFAULTS, **kwargs})


def ensure_synthetic(cache_dir: str | os.PathLike | None = None, **kwargs) -> Path:
    """Generate (once) and return the synthetic set in the cache.

    The folder is ``<cache_dir>/embedded-<hash of settings>`` (:data:`CACHE_PREFIX`); ``cache_dir`` defaults to
    :func:`~avsnn.data.default_cache_dir`. ``kwargs`` are :func:`make_synthetic` options.
    """
    settings = synthetic_settings(**kwargs)
    out = resolve_cache_dir(cache_dir) / f"{CACHE_PREFIX}{stable_hash([GENERATOR_VERSION, settings], 12)}"
    # A cache heals itself: a stale or half-written folder under this name is regenerated.
    return make_synthetic(out, overwrite=True, **settings)
