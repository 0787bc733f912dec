"""Speech from eSpeak NG, the library and voice data shipped in the ``espeakng-loader`` wheel (ctypes).

Nothing is needed from the system. The calls, from ``speak_lib.h``::

    espeak_Initialize(AUDIO_OUTPUT_SYNCHRONOUS=2, 0, data_path, 0)   -> sample rate (22050 Hz)
    espeak_SetSynthCallback(cb)              cb(short *wav, int n, espeak_EVENT *events) gets int16 samples
    espeak_SetVoiceByName(b"en+f3")           language voice "+" variant (voices/!v in the data)
    espeak_SetParameter(espeakRATE=1, words_per_minute, 0), espeak_SetParameter(espeakPITCH=3, 0..100, 0)
    espeak_Synth(text, len + 1, 0, POS_CHARACTER=0, 0, espeakCHARS_AUTO=0, NULL, NULL); espeak_Synchronize()

Determinism: the noise sources of some voices (whisper, breath, Klatt) draw from eSpeak's own random
generator and from libc ``rand()``, which the library may seed from the clock, so both are seeded
after initialisation (``espeak_ng_SetRandSeed``, ``srand``). The library also keeps state between
utterances that neither reseeding nor ``espeak_Terminate``/``espeak_Initialize`` resets, so the same
requests give the same samples only in a fresh process: :func:`synthesize` runs them in a child
process (this file run as a script), which also keeps a crash of the C library from taking the
caller down. This file imports only the standard library and numpy.
"""

from __future__ import annotations

import ctypes
import itertools
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

AUDIO_OUTPUT_SYNCHRONOUS = 2
ESPEAK_RATE, ESPEAK_PITCH = 1, 3
RATE_RANGE = (80, 450)  # words per minute accepted by espeak_SetParameter(espeakRATE)
PITCH_RANGE = (0, 100)
WORKER_TIMEOUT_S = 600


class EspeakError(RuntimeError):
    """The eSpeak NG library or its data cannot be used (message names the file and the cause)."""


def wheel_paths() -> tuple[str, str]:
    """``(library_path, data_path)`` of the ``espeakng-loader`` wheel.

    Raises
    ------
    EspeakError
        The package is not installed, or its library or data folder is missing.
    """
    try:
        import espeakng_loader
    except ImportError as exc:
        raise EspeakError(
            f"eSpeak NG is unavailable: the espeakng-loader package is not installed "
            f"(pip install espeakng-loader): {exc}"
        ) from exc
    lib = espeakng_loader.get_library_path()
    if not Path(lib).is_file():
        raise EspeakError(f"eSpeak NG library {lib} not found (reinstall espeakng-loader)")
    try:
        data = espeakng_loader.get_data_path()
    except RuntimeError as exc:
        raise EspeakError(f"eSpeak NG voice data is missing: {exc} (reinstall espeakng-loader)") from exc
    return lib, data


def voice_variants(data_path: str | os.PathLike) -> list[str]:
    """Sorted names of the voice variants in ``<data_path>/voices/!v`` (used as ``"<language>+<variant>"``)."""
    folder = Path(data_path) / "voices" / "!v"
    if not folder.is_dir():
        raise EspeakError(f"eSpeak NG data {data_path} has no voice variants folder voices/!v")
    return sorted(p.name for p in folder.iterdir() if p.is_file())


class Engine:
    """In-process eSpeak NG synthesiser (one per process: the library is a singleton)."""

    def __init__(self, library_path: str, data_path: str, seed: int = 0):
        try:
            self.lib = lib = ctypes.CDLL(library_path)
        except OSError as exc:
            raise EspeakError(f"eSpeak NG library {library_path} cannot be loaded ({exc})") from exc
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_Synth.argtypes = [
            ctypes.c_char_p,
            ctypes.c_size_t,
            ctypes.c_uint,
            ctypes.c_int,
            ctypes.c_uint,
            ctypes.c_uint,
            ctypes.c_void_p,
            ctypes.c_void_p,
        ]
        self.sample_rate = lib.espeak_Initialize(AUDIO_OUTPUT_SYNCHRONOUS, 0, str(data_path).encode(), 0)
        if self.sample_rate <= 0:
            raise EspeakError(f"eSpeak NG could not initialise with data {data_path} (code {self.sample_rate})")
        # its noise sources (whisper, breath, Klatt) draw from its own generator and from libc rand(),
        # which initialisation may seed from the clock: seed both
        lib.espeak_ng_SetRandSeed.argtypes = [ctypes.c_long]
        lib.espeak_ng_SetRandSeed(seed)
        ctypes.CDLL(None).srand(ctypes.c_uint(seed))
        self._chunks: list = []
        proto = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)
        self._callback = proto(self._collect)  # keep a reference: the library calls it later
        lib.espeak_SetSynthCallback(self._callback)

    def _collect(self, wav, n, events) -> int:
        if n > 0:
            self._chunks.append(np.ctypeslib.as_array(wav, shape=(n,)).copy())
        return 0  # 0: continue synthesis

    def say(self, text: str, voice: str, rate: int = 175, pitch: int = 50) -> np.ndarray:
        """int16 samples at :attr:`sample_rate` of ``text`` spoken by ``voice`` (e.g. ``"en+f3"``)."""
        if self.lib.espeak_SetVoiceByName(voice.encode()) != 0:
            raise EspeakError(f"eSpeak NG has no voice {voice!r}")
        self.lib.espeak_SetParameter(ESPEAK_RATE, int(rate), 0)
        self.lib.espeak_SetParameter(ESPEAK_PITCH, int(pitch), 0)
        self._chunks = []
        raw = text.encode()
        self.lib.espeak_Synth(raw, len(raw) + 1, 0, 0, 0, 0, None, None)
        self.lib.espeak_Synchronize()
        return np.concatenate(self._chunks) if self._chunks else np.zeros(0, np.int16)


def _check_request(r: dict) -> None:
    for key, (lo, hi) in (("rate", RATE_RANGE), ("pitch", PITCH_RANGE)):
        if not lo <= int(r[key]) <= hi:
            raise ValueError(f"eSpeak request {r}: {key} must lie in [{lo}, {hi}]")


def synthesize(
    requests: list[dict], library_path: str | None = None, data_path: str | None = None, seed: int = 0
) -> tuple[list[np.ndarray], int]:
    """Speak each ``{"text", "voice", "rate", "pitch"}`` request in a fresh child process.

    The same requests and ``seed`` (of the noise sources) always give the same samples (see the module docstring).

    Returns
    -------
    (clips, sample_rate) : list of int16 arrays, int

    Raises
    ------
    EspeakError
        The library cannot be loaded or initialised, a voice is unknown, or the child process fails.
    """
    for r in requests:
        _check_request(r)
    if library_path is None or data_path is None:
        lib, data = wheel_paths()
        library_path, data_path = library_path or lib, data_path or data
    job = json.dumps(
        {"library": str(library_path), "data": str(data_path), "seed": int(seed), "requests": requests}
    ).encode()
    try:  # -I: isolated (no user site-packages; the script's folder is not put on sys.path)
        proc = subprocess.run(
            [sys.executable, "-I", str(Path(__file__).resolve())],
            input=job,
            capture_output=True,
            timeout=WORKER_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise EspeakError(f"eSpeak NG synthesis did not finish within {WORKER_TIMEOUT_S} s") from exc
    if proc.returncode != 0:
        lines = proc.stderr.decode(errors="replace").strip().splitlines()
        reason = lines[-1] if lines else f"exit status {proc.returncode}"
        raise EspeakError(reason if reason.startswith("eSpeak NG") else f"eSpeak NG synthesis failed: {reason}")
    header, _, payload = proc.stdout.partition(b"\n")
    meta = json.loads(header)
    samples = np.frombuffer(payload, dtype="<i2")
    bounds = np.cumsum([0] + meta["lengths"])
    return [samples[a:b].copy() for a, b in itertools.pairwise(bounds)], int(meta["sample_rate"])


def _worker() -> int:
    """Child process: JSON job on stdin; stdout gets a JSON header line then the int16 samples."""
    job = json.loads(sys.stdin.buffer.read())
    try:
        engine = Engine(job["library"], job["data"], job["seed"])
        clips = [engine.say(r["text"], r["voice"], r["rate"], r["pitch"]) for r in job["requests"]]
    except EspeakError as exc:
        print(exc, file=sys.stderr)
        return 2
    out = sys.stdout.buffer
    out.write(json.dumps({"sample_rate": engine.sample_rate, "lengths": [len(c) for c in clips]}).encode() + b"\n")
    for c in clips:
        out.write(c.astype("<i2").tobytes())
    out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(_worker())
