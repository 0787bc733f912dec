"""AV-Digits: handwritten digit scans paired with spoken digit names, both degraded (in the spirit of AV-MNIST).

Written in the paired release layout (``vision/<class>/<id>.png`` 16x16 RGB, ``audio/<class>/<id>.wav``
16 kHz 16-bit mono, 1 s), so :func:`avsnn.data.build_datasets` and ``avsnn train --data DIR`` read it.

Images
    scikit-learn's bundled handwritten digits (:func:`sklearn.datasets.load_digits`: 1,797 scans of
    8x8 pixels of values 0..16; the UCI "optdigits" test set, whose writers are not identified).
    Each scan is upscaled bilinearly to :data:`SIDE` x :data:`SIDE` (16: twice the scan's resolution;
    CIFAR-10's 32 would only quadruple the vision network's cost for the same information), one
    square patch (side ``occlusion`` of the image side, at a random place) is painted a random grey,
    Gaussian noise of std ``image_noise`` is added (pixel values in [0, 1]) and the grey image is
    stored as RGB.
Audio
    The digit's name ("zero" ... "nine") spoken by eSpeak NG (:mod:`avsnn.data.espeak`): each
    speaker is one voice variant of the wheel's ``voices/!v`` (104) with an English accent drawn
    for it; each utterance draws its pitch and rate. Resampled 22,050 -> 16,000 Hz, trimmed of
    silence, placed near the start of the 1 s clip (a random onset within the first ``onset_spread``
    share of the free time, as the trimmed recordings of AV-MNIST's spoken digits start) at a random
    level, and mixed with pink noise at ``snr_db`` (speech power over the spoken part against noise
    power). The paper's audio network flattens its time axis, so it reads *where* a word is: with
    words anywhere in the clip (``onset_spread=1``, version 1) it underfits this small set, ANN twin
    included, while a probe on time-pooled statistics does not (the book's data chapter shows both).
Pairing and split
    Every scan gets its own utterance of the same class. The split is the one
    :func:`avsnn.data.make_split` draws with its defaults (70 % train per class, split seed 0, the
    ``RunConfig`` defaults); it is also written to ``split.csv``, which ``build_datasets`` uses for a
    folder that ships one. **Test utterances come from held-out speakers**: a ``held_out`` fraction
    of the voice variants speaks only test samples and no training sample, so the audio test
    accuracy measures generalisation to unheard voices. The images carry no writer identity, so
    the image split is a random one.

The noise and occlusion defaults (``DEFAULTS``) are set so that neither modality alone is near
perfect, chosen with the logistic-regression probes of :mod:`avsnn.baseline`; ``onset_spread`` so
that the default audio network can learn the words at all (see above).
Generation is deterministic in ``seed`` (same seed and settings: byte-identical files)
and takes seconds. The metadata file records the content fingerprint of the files a run reads
(:mod:`avsnn.data.identity`); a folder whose files no longer match it is not reused as it is.
"""

from __future__ import annotations

import json
import os
import time
from math import gcd
from pathlib import Path

import numpy as np
from PIL import Image
from scipy.io import wavfile

from ._util import generate_folder, logger, resolve_cache_dir, shown, stable_hash
from .audio_config import AudioConfig
from .espeak import synthesize, voice_variants, wheel_paths
from .identity import content_fingerprint, file_sha256, fingerprint_of
from .manifests import SHIPPED_SPLIT, write_manifest
from .scan import ReleaseIndex, Sample
from .splits import make_split

GENERATOR_NAME = "avsnn.data.avdigits"
GENERATOR_VERSION = 3  # bump when the output for a given seed changes (2: onset_spread; 3: 16x16 images)
SIDE = 16  # stored image side (the loaders read a dataset at its stored side)
WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
AVDIGITS_CLASSES = tuple(f"{k}_{w}" for k, w in enumerate(WORDS))  # sorted folder names = labels 0..9
ACCENTS = ("en", "en-029", "en-GB-scotland", "en-GB-x-gbclan", "en-GB-x-gbcwmd", "en-GB-x-rp", "en-US", "en-US-nyc")
PITCH = (25, 75)  # eSpeak pitch 0..100 (default 50), uniform per utterance
RATE = (130, 230)  # words per minute (default 175), uniform per utterance
LEVEL_DB = (-6.0, 0.0)  # speech level (dB re. RMS 0.1), uniform per utterance
META_FILE = "avdigits.json"
DEFAULTS = {
    "seed": 0,
    "image_noise": 0.15,
    "occlusion": 0.4,
    "snr_db": 6.0,
    "onset_spread": 0.1,
    "held_out": 0.3,
    "per_class": None,
}


def avdigits_settings(**kwargs) -> dict:
    """Validated full settings (``DEFAULTS`` filled in) for :func:`make_avdigits`."""
    unknown = sorted(set(kwargs) - set(DEFAULTS))
    if unknown:
        raise ValueError(f"unknown AV-Digits option(s) {unknown}; expected some of {sorted(DEFAULTS)}")
    s = {**DEFAULTS, **kwargs}
    per_class = None if s["per_class"] is None else int(s["per_class"])
    s = {
        "seed": int(s["seed"]),
        **{k: float(s[k]) for k in ("image_noise", "occlusion", "snr_db", "onset_spread", "held_out")},
        "per_class": per_class,
    }
    if per_class is not None and per_class < 2:
        raise ValueError(f"per_class must be >= 2 (a train and a test sample) or None (all), got {per_class!r}")
    if s["image_noise"] < 0:
        raise ValueError(f"image_noise must be >= 0, got {s['image_noise']!r}")
    if not 0.0 <= s["occlusion"] < 1.0:
        raise ValueError(f"occlusion (patch side / image side) must be in [0, 1), got {s['occlusion']!r}")
    if not np.isfinite(s["snr_db"]):
        raise ValueError(f"snr_db must be a finite number of dB, got {s['snr_db']!r}")
    if not 0.0 <= s["onset_spread"] <= 1.0:
        raise ValueError(
            f"onset_spread (share of the free time the onset spans) must be in [0, 1], got {s['onset_spread']!r}"
        )
    if not 0.0 < s["held_out"] < 1.0:
        raise ValueError(f"held_out (fraction of voices kept for test) must be in (0, 1), got {s['held_out']!r}")
    return s


def _upscale_matrix(n_in: int, n_out: int) -> np.ndarray:
    """``[n_out, n_in]`` bilinear interpolation weights (pixel centres aligned, edges clamped)."""
    src = np.clip((np.arange(n_out) + 0.5) * n_in / n_out - 0.5, 0, n_in - 1)
    lo = np.floor(src).astype(int)
    hi = np.minimum(lo + 1, n_in - 1)
    m = np.zeros((n_out, n_in))
    np.add.at(m, (np.arange(n_out), lo), 1.0 - (src - lo))
    np.add.at(m, (np.arange(n_out), hi), src - lo)
    return m


def degrade_image(scan: np.ndarray, rng: np.random.Generator, image_noise: float, occlusion: float) -> np.ndarray:
    """8x8 scan with values in [0, 1] -> uint8 RGB ``[SIDE, SIDE, 3]`` (upscale, occluding patch, noise)."""
    m = _upscale_matrix(scan.shape[0], SIDE)
    img = m @ scan @ m.T
    side = int(round(occlusion * SIDE))
    y, x = rng.integers(0, SIDE - side + 1, size=2)
    img[y : y + side, x : x + side] = rng.uniform(0.0, 1.0)
    img = img + rng.normal(0.0, image_noise, img.shape)
    grey = np.clip(np.round(img * 255.0), 0, 255).astype(np.uint8)
    return np.repeat(grey[:, :, None], 3, axis=2)


def pink_noise(rng: np.random.Generator, n: int) -> np.ndarray:
    """Unit-RMS noise with a 1/f power spectrum."""
    spec = np.fft.rfft(rng.standard_normal(n))
    spec[1:] /= np.sqrt(np.arange(1, spec.size))
    spec[0] = 0.0
    x = np.fft.irfft(spec, n=n)
    return x / np.sqrt(np.mean(x**2))


def trimmed_speech(clip: np.ndarray, rate_in: int, rate: int) -> np.ndarray:
    """An int16 eSpeak utterance at ``rate_in`` as float samples at ``rate``, leading and trailing silence cut."""
    from scipy.signal import resample_poly  # (1 s to import: here, so that `avsnn data --help` is fast)

    g = gcd(int(rate_in), rate)
    x = resample_poly(clip.astype(np.float64) / 32768.0, rate // g, int(rate_in) // g)
    loud = np.flatnonzero(np.abs(x) > 0.02 * np.abs(x).max()) if x.size and np.abs(x).max() > 0 else []
    if len(loud) == 0:
        raise ValueError("eSpeak NG returned a silent utterance")
    return x[loud[0] : loud[-1] + 1]


def degrade_speech(
    clip: np.ndarray,
    rate_in: int,
    rng: np.random.Generator,
    snr_db: float,
    cfg: AudioConfig = AudioConfig(),
    onset_spread: float = 1.0,
) -> np.ndarray:
    """int16 utterance at ``rate_in`` -> int16 clip of ``cfg.n_samples`` at ``cfg.sample_rate``.

    Silence is trimmed, the speech is placed at a random onset (uniform over the first ``onset_spread``
    share of the time the clip leaves free) and level, and pink noise is added so that speech power
    (over the spoken part) / noise power is ``snr_db``.
    """
    x = trimmed_speech(clip, rate_in, cfg.sample_rate)[: cfg.n_samples]
    speech_rms = 0.1 * 10 ** (rng.uniform(*LEVEL_DB) / 20)
    onset = rng.integers(0, int(onset_spread * (cfg.n_samples - x.size)) + 1)
    out = np.zeros(cfg.n_samples)
    out[onset : onset + x.size] = x * (speech_rms / np.sqrt(np.mean(x**2)))
    out += pink_noise(rng, cfg.n_samples) * (speech_rms * 10 ** (-snr_db / 20))
    return np.clip(np.round(out * 32767.0), -32768, 32767).astype(np.int16)


def _plan(settings: dict, variants: list, labels: np.ndarray, root: Path) -> tuple:
    """Index, split, speakers and one utterance request per sample (all drawn from ``settings['seed']``)."""
    limit = settings["per_class"] or len(labels)
    chosen = [i for i, y in enumerate(labels) if np.count_nonzero(labels[:i] == y) < limit]
    keys = {i: f"{AVDIGITS_CLASSES[labels[i]]}/{i:04d}" for i in chosen}
    index = ReleaseIndex(
        root,
        "release",
        list(AVDIGITS_CLASSES),
        [
            Sample(
                keys[i],
                int(labels[i]),
                AVDIGITS_CLASSES[labels[i]],
                root / "vision" / f"{keys[i]}.png",
                root / "audio" / f"{keys[i]}.wav",
            )
            for i in chosen
        ],
    )
    split = make_split(index)  # the defaults of build_datasets / RunConfig: the same split either way
    rng = np.random.default_rng([settings["seed"], 1])
    order = rng.permutation(len(variants))
    n_test = max(1, int(round(settings["held_out"] * len(variants))))
    accent = {v: ACCENTS[a] for v, a in zip(variants, rng.integers(0, len(ACCENTS), len(variants)))}
    speakers = {
        "test": sorted(variants[i] for i in order[:n_test]),
        "train": sorted(variants[i] for i in order[n_test:]),
    }
    requests = []
    for i in chosen:
        r = np.random.default_rng([settings["seed"], 2, i])
        pool = speakers[split[keys[i]]]
        variant = pool[r.integers(len(pool))]
        requests.append(
            {
                "text": WORDS[labels[i]],
                "voice": f"{accent[variant]}+{variant}",
                "rate": int(r.integers(RATE[0], RATE[1] + 1)),
                "pitch": int(r.integers(PITCH[0], PITCH[1] + 1)),
                "scan": i,
                "speaker": variant,
            }
        )
    return index, split, speakers, requests


def _write(tmp: Path, settings: dict) -> None:
    from sklearn.datasets import load_digits

    digits = load_digits()
    lib, data = wheel_paths()
    index, split, speakers, requests = _plan(settings, voice_variants(data), digits.target, tmp)
    clips, rate = synthesize(
        [{k: r[k] for k in ("text", "voice", "rate", "pitch")} for r in requests], lib, data, seed=settings["seed"]
    )
    cfg = AudioConfig()
    for sample, r, clip in zip(index.samples, requests, clips):
        i = r["scan"]
        sample.image_path.parent.mkdir(parents=True, exist_ok=True)
        sample.audio_path.parent.mkdir(parents=True, exist_ok=True)
        img = degrade_image(
            digits.images[i] / 16.0,
            np.random.default_rng([settings["seed"], 3, i]),
            settings["image_noise"],
            settings["occlusion"],
        )
        Image.fromarray(img, "RGB").save(sample.image_path, format="PNG", compress_level=6)
        rng = np.random.default_rng([settings["seed"], 4, i])
        wav = degrade_speech(clip, rate, rng, settings["snr_db"], cfg, settings["onset_spread"])
        wavfile.write(sample.audio_path, cfg.sample_rate, wav)
    write_manifest(tmp / SHIPPED_SPLIT, index, split)
    files = _content_files(s.key for s in index.samples)
    meta = {
        "content": fingerprint_of({rel: file_sha256(tmp / rel) for rel in files}),
        "generator": GENERATOR_NAME,
        "version": GENERATOR_VERSION,
        "settings": settings,
        "classes": list(AVDIGITS_CLASSES),
        "speakers": speakers,
        "espeak_sample_rate": rate,
        "utterances": {
            s.key: {k: r[k] for k in ("voice", "speaker", "rate", "pitch")} for s, r in zip(index.samples, requests)
        },
    }
    (tmp / META_FILE).write_text(json.dumps(meta, indent=1, sort_keys=True) + "\n")


def _content_files(keys) -> list:
    """Relative paths of the files a run reads: each sample's image and audio, and the split."""
    return [f"{side}/{k}{ext}" for k in keys for side, ext in (("vision", ".png"), ("audio", ".wav"))] + [SHIPPED_SPLIT]


def _why_incomplete(out: Path, settings: dict, cache_dir=None) -> str | None:
    """None if ``out`` holds AV-Digits generated with exactly ``settings`` and its files are intact, else why not.

    Intact: the :func:`avsnn.data.identity.content_fingerprint` of the files matches the one recorded
    in the metadata file when they were written (hashes of unchanged files come from the cache's index).
    """
    try:
        meta = json.loads((out / META_FILE).read_text())
    except (OSError, ValueError):
        return f"{META_FILE} missing or unreadable"
    if meta.get("generator") != GENERATOR_NAME or meta.get("version") != GENERATOR_VERSION:
        return "generated by another version"
    if meta.get("settings") != settings:
        return "generated with other settings"
    if not isinstance(meta.get("content"), str) or not isinstance(meta.get("utterances"), dict):
        return f"no content fingerprint in {META_FILE}"
    try:
        have = content_fingerprint(out, _content_files(meta["utterances"]), cache_dir)
    except OSError as e:
        return f"a file is missing or unreadable ({e.strerror}: {shown(e.filename)})"
    return None if have == meta["content"] else "its files differ from those written (content fingerprint)"


def make_avdigits(
    out: str | os.PathLike,
    seed: int = DEFAULTS["seed"],
    *,
    image_noise: float = DEFAULTS["image_noise"],
    occlusion: float = DEFAULTS["occlusion"],
    snr_db: float = DEFAULTS["snr_db"],
    onset_spread: float = DEFAULTS["onset_spread"],
    held_out: float = DEFAULTS["held_out"],
    per_class: int | None = DEFAULTS["per_class"],
    overwrite: bool = False,
    cache_dir: str | os.PathLike | None = None,
) -> Path:
    """Generate AV-Digits at ``out`` (see the module docstring) and return ``out``.

    Files are written into a hidden sibling folder renamed to ``out`` at the end (the metadata file
    last), so an interrupted run never leaves a folder that looks complete. An ``out`` that already
    holds AV-Digits with the same settings and intact files (their content fingerprint, recorded in
    the metadata file, unchanged) is returned untouched.

    Parameters
    ----------
    out : path-like
        Destination folder.
    seed : int
        Same seed and settings give byte-identical files.
    image_noise : float
        Std of the Gaussian pixel noise (pixel values in [0, 1]).
    occlusion : float in [0, 1)
        Side of the occluding square patch as a fraction of the image side (0: none).
    snr_db : float
        Speech-to-noise power ratio of the audio, dB.
    onset_spread : float in [0, 1]
        The utterance starts at a uniform random time within this share of the time the 1-s clip
        leaves free (0: at the start; 1: anywhere it fits).
    held_out : float in (0, 1)
        Fraction of the voices that speak only test samples.
    per_class : int or None
        Use only the first ``per_class`` scans of each class (quick runs, tests); None: all 1,797.
    overwrite : bool
        Replace an ``out`` that holds something else (or damaged AV-Digits).
    cache_dir : path-like, optional
        Cache root whose index keeps the files' hashes (default :func:`~avsnn.data.default_cache_dir`).

    Raises
    ------
    ValueError
        Bad option, or ``out`` holds something else and ``overwrite`` is False.
    EspeakError
        The eSpeak NG library of the ``espeakng-loader`` wheel cannot be loaded or run.
    CacheNotWritableError
        The folder of ``out`` cannot be written (a ``ValueError``: one line naming the folder).
    """
    out = Path(out).expanduser()
    settings = avdigits_settings(
        seed=seed,
        image_noise=image_noise,
        occlusion=occlusion,
        snr_db=snr_db,
        onset_spread=onset_spread,
        held_out=held_out,
        per_class=per_class,
    )
    t0 = time.perf_counter()
    if not generate_folder(
        out,
        lambda tmp: _write(tmp, settings),
        lambda o: _why_incomplete(o, settings, cache_dir),
        "AV-Digits",
        overwrite=overwrite,
        describe=f"AV-Digits generated with {settings}",
        fix="choose another folder or pass overwrite=True (CLI: --overwrite)",
    ):
        return out
    logger.info("generated AV-Digits %s in %.1fs", out, time.perf_counter() - t0)
    return out


def ensure_avdigits(cache_dir: str | os.PathLike | None = None, **kwargs) -> Path:
    """Generate (once) and return AV-Digits in ``<cache_dir>/avdigits-<hash of settings>``.

    ``cache_dir`` defaults to :func:`~avsnn.data.default_cache_dir`; ``kwargs`` are :func:`make_avdigits` options.
    """
    settings = avdigits_settings(**kwargs)
    out = resolve_cache_dir(cache_dir) / f"avdigits-{stable_hash([GENERATOR_VERSION, settings], 12)}"
    return make_avdigits(out, overwrite=True, cache_dir=cache_dir, **settings)
