"""Audio loading and log-mel features (paper Section IV-D).

The audio network consumes log-mel spectrograms: STFT, 64 mel bins up to 8 kHz, power-to-dB.
WAV files are decoded with :mod:`scipy.io.wavfile` (``torchaudio.load`` needs torchcodec),
mixed to mono, resampled to one rate and padded/cropped to one duration, so every clip yields a
spectrogram of the same shape ``[1, n_mels, n_frames]``.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import struct
import warnings
from fractions import Fraction
from pathlib import Path

import numpy as np
import torch
import torchaudio
from scipy.io import wavfile

from avsnn.files import atomic_write_bytes

from ._util import is_not_writable, logger, warn_not_writable
from .audio_config import AudioConfig


def check_wav_data_size(path: str | os.PathLike) -> None:
    """Raise ``ValueError`` if the WAV's data chunk declares more bytes than the file holds (a cut file).

    Walks the RIFF chunks (``RIFF``/``RIFX``, and ``RF64`` with its ``ds64`` size) up to ``data``.
    :func:`scipy.io.wavfile.read` only warns about this and returns the samples that are there.
    Files without a RIFF/WAVE header are left for the decoder to reject.
    """
    path = Path(path)
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(12)
        if len(head) < 12 or head[:4] not in (b"RIFF", b"RIFX", b"RF64") or head[8:] != b"WAVE":
            return
        order = ">" if head[:4] == b"RIFX" else "<"
        pos, rf64_data = 12, None
        while pos + 8 <= size:
            f.seek(pos)
            cid, csize = struct.unpack(order + "4sI", f.read(8))
            if cid == b"ds64" and csize >= 16:
                rf64_data = struct.unpack("<8xQ", f.read(16))[0]
            elif cid == b"data":
                if head[:4] == b"RF64" and csize == 0xFFFFFFFF and rf64_data is not None:
                    csize = rf64_data
                held = size - pos - 8
                if csize > held:
                    raise ValueError(
                        f"{path}: damaged WAV file (cut short): its data chunk declares {csize} "
                        f"data bytes, file holds {held}"
                    )
                return
            pos += 8 + csize + (csize & 1)


#: largest float sample :func:`read_wav` accepts (12 dB over full scale); beyond it the file is mis-scaled
FLOAT_PEAK_LIMIT = 4.0


def read_wav(path: str | os.PathLike, mono: bool = False) -> tuple[np.ndarray, int]:
    """Decode a WAV file to float32 in [-1, 1].

    Handles 8-bit unsigned, 16/24/32-bit signed PCM and 32/64-bit float (finite, peak at most
    :data:`FLOAT_PEAK_LIMIT`).

    Parameters
    ----------
    path : path-like
        WAV file.
    mono : bool
        Average the channels into one.

    Returns
    -------
    samples : np.ndarray, float32, shape ``[channels, n]`` (``[1, n]`` when mono)
    sample_rate : int

    Raises
    ------
    FileNotFoundError
        ``path`` does not exist.
    ValueError
        Empty, unreadable or cut-short file, zero-length clip, unsupported sample format, NaN/inf samples,
        float samples beyond :data:`FLOAT_PEAK_LIMIT`.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: WAV file not found")
    if path.stat().st_size == 0:
        raise ValueError(f"{path}: empty file (0 bytes), expected a WAV file")
    try:
        with warnings.catch_warnings():  # a cut data chunk is checked below; the rest is harmless
            warnings.simplefilter("ignore", wavfile.WavFileWarning)
            sr, data = wavfile.read(path, mmap=False)
    except Exception as exc:  # scipy raises ValueError/EOFError/struct.error on bad headers
        raise ValueError(f"{path}: unreadable WAV file ({type(exc).__name__}: {exc})") from exc
    check_wav_data_size(path)
    data = np.asarray(data)
    if data.ndim == 1:
        data = data[:, None]
    if data.ndim != 2:
        raise ValueError(f"{path}: unexpected WAV data shape {data.shape}")
    if data.shape[0] == 0 or data.shape[1] == 0:
        raise ValueError(f"{path}: zero-length clip (no audio frames)")
    if sr <= 0:
        raise ValueError(f"{path}: invalid sample rate {sr}")
    if data.dtype == np.uint8:
        x = (data.astype(np.float32) - 128.0) / 128.0
    elif data.dtype == np.int16:
        x = data.astype(np.float32) / 32768.0
    elif data.dtype == np.int32:  # 32-bit, and 24-bit which scipy left-justifies into int32
        x = (data.astype(np.float64) / 2147483648.0).astype(np.float32)
    elif data.dtype in (np.float32, np.float64):
        bad = int(data.size - np.isfinite(data).sum())
        if bad:
            raise ValueError(f"{path}: {bad} of {data.size} samples are NaN or inf; expected finite samples")
        peak = float(np.abs(data).max())
        if peak > FLOAT_PEAK_LIMIT:
            raise ValueError(
                f"{path}: float samples reach {peak:.6g}; expected values in [-1, 1] "
                f"(up to {FLOAT_PEAK_LIMIT:g} tolerated): integer-scaled samples stored as float?"
            )
        x = data.astype(np.float32)
    else:
        raise ValueError(f"{path}: unsupported WAV sample type {data.dtype}")
    x = np.ascontiguousarray(x.T)
    if mono:
        x = x.mean(axis=0, keepdims=True)
    return x, int(sr)


#: largest factor the resampler up- or down-samples by after reducing the rate ratio (see resample_factors)
RESAMPLE_LIMIT = 1000


def resample_factors(orig: int, new: int) -> tuple[int, int]:
    """``(up, down)`` factors for resampling ``orig`` Hz to ``new`` Hz, both at most :data:`RESAMPLE_LIMIT`.

    The polyphase sinc resampler (:func:`torchaudio.functional.resample`) builds a kernel of about
    ``new * orig / gcd(orig, new)**2`` taps: 160 x 441 for 44,100 -> 16,000 Hz, but 16,000 x 44,101
    (2.8 GB) for a file at 44,101 Hz. When the reduced ratio has a factor above the limit, the
    closest ratio with factors up to the limit is used instead (:meth:`fractions.Fraction.limit_denominator`),
    so the kernel stays below about ``RESAMPLE_LIMIT**2`` taps. The signal then plays at that ratio:
    a tone's frequency is off by the ratio's relative error, below ``1 / (k * RESAMPLE_LIMIT)`` for the
    smaller factor ``k`` (16,001 Hz: factors 1:1, 6e-5; 44,101 Hz: 328:119, 4e-6). Ratios of common
    rates are exact.

    Returns
    -------
    (orig_factor, new_factor) : tuple of int
        Pass as ``orig_freq, new_freq`` to the resampler.
    """
    ratio = Fraction(new, orig)  # > 1: upsampling
    if max(ratio.numerator, ratio.denominator) <= RESAMPLE_LIMIT:
        return ratio.denominator, ratio.numerator
    small = (1 / ratio if ratio > 1 else ratio).limit_denominator(RESAMPLE_LIMIT)
    if small.numerator == 0:
        raise ValueError(f"sample rates {orig} Hz and {new} Hz differ more than {RESAMPLE_LIMIT}-fold")
    return (small.numerator, small.denominator) if ratio > 1 else (small.denominator, small.numerator)


def load_waveform(path: str | os.PathLike, cfg: AudioConfig = AudioConfig()) -> torch.Tensor:
    """Mono waveform at ``cfg.sample_rate``, cropped from the start or zero-padded to ``cfg.n_samples``.

    Resampled with the factors of :func:`resample_factors` (exact for common rates).

    Returns
    -------
    torch.Tensor, float32, shape ``[cfg.n_samples]``
    """
    x, sr = read_wav(path, mono=True)
    try:
        up_down = resample_factors(sr, cfg.sample_rate)
    except ValueError as e:
        raise ValueError(f"{path}: {e}; expected audio near {cfg.sample_rate} Hz") from None
    need = int(np.ceil(cfg.duration_s * sr)) + 64  # small margin so the resampler sees context
    wav = torch.from_numpy(x[0, :need].copy())
    if up_down[0] != up_down[1]:
        wav = torchaudio.functional.resample(wav, *up_down)
    n = cfg.n_samples
    if wav.numel() >= n:
        return wav[:n].contiguous()
    return torch.nn.functional.pad(wav, (0, n - wav.numel()))


class LogMel:
    """Waveform ``[n]`` (or ``[B, n]``) to log-mel ``[1, n_mels, n_frames]`` (or ``[B, 1, ...]``), float32.

    ``MelSpectrogram(sample_rate, n_fft, hop_length, n_mels, f_max)`` (power 2) followed by
    ``AmplitudeToDB(stype="power", top_db)``; ``top_db`` clamps each clip separately.
    """

    def __init__(self, cfg: AudioConfig = AudioConfig()):
        self.cfg = cfg
        self.mel = torchaudio.transforms.MelSpectrogram(
            sample_rate=cfg.sample_rate,
            n_fft=cfg.n_fft,
            hop_length=cfg.hop_length,
            n_mels=cfg.n_mels,
            f_max=cfg.f_max,
            power=2.0,
        )
        self.to_db = torchaudio.transforms.AmplitudeToDB(stype="power", top_db=cfg.top_db)

    @torch.no_grad()
    def __call__(self, wav: torch.Tensor) -> torch.Tensor:
        """Waveform ``[n]`` or ``[B, n]`` -> log-mel in dB, ``[1, n_mels, n_frames]`` or ``[B, 1, ...]``."""
        wav = torch.as_tensor(wav, dtype=torch.float32)
        if wav.dim() not in (1, 2):
            raise ValueError(f"LogMel expects a waveform [n] or [B, n], got shape {tuple(wav.shape)}")
        spec = self.mel(wav).unsqueeze(-3)  # [1, M, T] or [B, 1, M, T]
        return self.to_db(spec).to(torch.float32).contiguous()


_MAGIC = b"AVSNNSPEC1\n"


class SpectrogramCache:
    """Compute log-mel spectrograms once per (file, config) and store them on disk.

    Entries live under ``cache_dir/<cfg.key()>/<aa>/<hash>.spec`` where the hash covers the absolute
    path, file size, ``mtime_ns`` and ``cfg.key()``, so editing a file invalidates its entry. Each
    entry holds a JSON header (shape, dtype, sha256 of the payload) and the raw float32 payload; it is
    written atomically. An entry whose checksum or length does not match is recomputed and replaced.
    ``cache_dir=None`` disables the disk cache (always compute); a cache folder that cannot be written
    is used for reading only, with one warning (``read_only`` becomes True).

    Attributes
    ----------
    hits, misses, rebuilt : int
        Counters: served from disk, computed, corrupt entries replaced.
    read_only : bool
        Set when writing an entry failed for lack of permission; later entries are not written.
    """

    def __init__(self, cache_dir: str | os.PathLike | None, cfg: AudioConfig = AudioConfig()):
        self.cfg = cfg
        self.cache_dir = Path(cache_dir).expanduser() / cfg.key() if cache_dir is not None else None
        self.logmel = LogMel(cfg)
        self.hits = self.misses = self.rebuilt = 0
        self.read_only = False

    def compute(self, path: str | os.PathLike) -> torch.Tensor:
        """Log-mel of ``path`` without touching the cache."""
        return self.logmel(load_waveform(path, self.cfg))

    def entry_path(self, path: str | os.PathLike) -> Path:
        """Cache file for ``path`` (depends on its current size and mtime)."""
        if self.cache_dir is None:
            raise ValueError("SpectrogramCache was created with cache_dir=None (no disk cache)")
        p = Path(path).resolve()
        st = p.stat()
        h = hashlib.sha256(f"{p}\0{st.st_size}\0{st.st_mtime_ns}\0{self.cfg.key()}".encode()).hexdigest()
        return self.cache_dir / h[:2] / f"{h}.spec"

    def get(self, path: str | os.PathLike) -> torch.Tensor:
        """Spectrogram ``[1, n_mels, n_frames]`` float32 for ``path``, from the cache when valid."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: WAV file not found")
        if self.cache_dir is None:
            self.misses += 1
            return self.compute(path)
        entry = self.entry_path(path)
        if entry.exists():
            spec = self._read_entry(entry)
            if spec is not None:
                self.hits += 1
                return spec
            self.rebuilt += 1
            logger.warning("corrupt spectrogram cache entry %s for %s: recomputing", entry, path)
        spec = self.compute(path)
        self.misses += 1
        if not self.read_only:
            try:
                self._write_entry(entry, spec)
            except OSError as exc:
                if not is_not_writable(exc):
                    raise
                self.read_only = True
                warn_not_writable(self.cache_dir, exc, "spectrograms")
        return spec

    @staticmethod
    def _write_entry(entry: Path, spec: torch.Tensor) -> None:
        payload = spec.numpy().astype("<f4", copy=False).tobytes()
        header = (
            json.dumps(
                {"shape": list(spec.shape), "dtype": "<f4", "sha256": hashlib.sha256(payload).hexdigest()}
            ).encode()
            + b"\n"
        )
        atomic_write_bytes(entry, _MAGIC + header + payload, durable=False)  # a cache

    def _read_entry(self, entry: Path) -> torch.Tensor | None:
        """Decoded entry, or None if it is truncated, corrupt or of the wrong shape."""
        try:
            buf = io.BytesIO(entry.read_bytes())
            if buf.read(len(_MAGIC)) != _MAGIC:
                return None
            header = json.loads(buf.readline())
            payload = buf.read()
            shape = tuple(int(s) for s in header["shape"])
            expected = (1, self.cfg.n_mels, self.cfg.n_frames)
            if shape != expected or len(payload) != 4 * int(np.prod(shape)):
                return None
            if hashlib.sha256(payload).hexdigest() != header["sha256"]:
                return None
            arr = np.frombuffer(payload, dtype="<f4").reshape(shape).astype(np.float32)
            return torch.from_numpy(arr)
        except (OSError, ValueError, KeyError, TypeError):
            return None
