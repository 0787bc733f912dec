"""The audio front end's settings, apart from :mod:`.audio` so that reading them needs no torch."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from ._util import stable_hash


@dataclass(frozen=True)
class AudioConfig:
    """Waveform and log-mel parameters.

    Attributes
    ----------
    sample_rate : int
        Rate every clip is resampled to (Hz).
    duration_s : float
        Clips are cropped (from the start) or zero-padded to this length.
    n_fft, hop_length, n_mels, f_max
        :class:`torchaudio.transforms.MelSpectrogram` parameters (``center=True``).
    top_db : float
        Dynamic range kept by :class:`torchaudio.transforms.AmplitudeToDB`.
    """

    sample_rate: int = 16000
    duration_s: float = 1.0
    n_fft: int = 512
    hop_length: int = 128
    n_mels: int = 64
    f_max: float = 8000.0
    top_db: float = 80.0

    def __post_init__(self):
        for name in ("sample_rate", "n_fft", "hop_length", "n_mels"):
            if int(getattr(self, name)) <= 0:
                raise ValueError(f"AudioConfig.{name} must be a positive integer, got {getattr(self, name)!r}")
        if not self.duration_s > 0:
            raise ValueError(f"AudioConfig.duration_s must be > 0, got {self.duration_s!r}")
        if not 0 < self.f_max <= self.sample_rate / 2:
            raise ValueError(
                f"AudioConfig.f_max must be in (0, sample_rate/2={self.sample_rate / 2}], got {self.f_max!r}"
            )
        if not self.top_db > 0:
            raise ValueError(f"AudioConfig.top_db must be > 0, got {self.top_db!r}")
        if self.n_samples < self.n_fft:  # a clip shorter than one FFT window has no spectrum to speak of
            raise ValueError(
                f"AudioConfig.duration_s={self.duration_s!r} gives {self.n_samples} samples at "
                f"sample_rate={self.sample_rate}, fewer than one FFT window (n_fft={self.n_fft}); expected "
                f"duration_s >= {self.n_fft / self.sample_rate:g} or a smaller n_fft"
            )
        if self.n_mels > self.n_fft // 2 + 1:  # more mel bands than frequency bins: some bands stay empty
            raise ValueError(
                f"AudioConfig.n_mels={self.n_mels} exceeds the {self.n_fft // 2 + 1} frequency bins of "
                f"n_fft={self.n_fft}; expected n_mels <= n_fft // 2 + 1"
            )

    @property
    def n_samples(self) -> int:
        """Waveform length after pad/crop."""
        return int(round(self.sample_rate * self.duration_s))

    @property
    def n_frames(self) -> int:
        """Spectrogram frames: ``1 + n_samples // hop_length`` (``center=True``)."""
        return 1 + self.n_samples // self.hop_length

    def key(self) -> str:
        """Stable hash of all fields (used to key cached spectrograms)."""
        return stable_hash(dataclasses.asdict(self))
