"""Test-time degradations of one modality: audio at a given SNR or silent, images noisy, occluded or blank.

Each function returns a degraded copy and draws its randomness from a ``torch.Generator`` of its own,
seeded by its ``seed`` argument, so a sweep is reproducible and a level does not depend on which levels
ran before it. Within one seed the noise of every level is the same draw scaled, and the occluding
squares of every area sit at the same random corners, so the levels of a sweep are nested.

* **Audio** is degraded as a waveform ``[N, n]`` (the physical reading; the log-mel input the audio
  network consumes is computed from it afterwards). White Gaussian noise is scaled per clip so the
  signal-to-noise ratio of the degraded clip is exactly the one asked for:
  ``10 log10(sum x^2 / sum (y - x)^2) = snr_db`` (:func:`snr_db`). A silent input is a waveform of zeros.
* **Images** are degraded on the ``[0, 1]`` pixel scale the datasets hand the vision network (uint8
  divided by 255), before the network's own input normalisation. The blank value :data:`BLANK` is 0,
  a black image: on AV-Digits the digits are bright strokes on a black ground, so a blank image is an
  empty scan. Gaussian pixel noise, drawn for every pixel of every channel, is clipped back into ``[0, 1]``,
  as a camera's reading would be.
"""

from __future__ import annotations

import math

import torch

__all__ = ["BLANK", "snr_db", "add_noise_at_snr", "silence", "gaussian_noise", "occlude", "blank"]

#: The pixel value of a blank (black, empty) image on the [0, 1] input scale, before input normalisation.
BLANK = 0.0


def _generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(int(seed))


def _power(x: torch.Tensor) -> torch.Tensor:
    return x.double().pow(2).flatten(1).mean(1)


def snr_db(clean: torch.Tensor, degraded: torch.Tensor) -> torch.Tensor:
    """Per-clip signal-to-noise ratio in dB of ``degraded`` against ``clean`` (both ``[N, n]``).

    ``10 log10(P(clean) / P(degraded - clean))`` with ``P`` the mean square; +inf where nothing was added.
    """
    return 10.0 * torch.log10(_power(clean) / _power(degraded - clean))


def add_noise_at_snr(wave: torch.Tensor, snr: float, seed: int) -> torch.Tensor:
    """``wave [N, n]`` plus white Gaussian noise scaled per clip to the SNR ``snr`` (dB, finite).

    The noise of each clip is drawn from ``N(0, 1)`` and rescaled so its mean square is exactly
    ``P(clip) / 10^(snr / 10)``; a clip of zeros stays zeros (it has no SNR). The result is not clipped.
    """
    if not math.isfinite(snr):
        raise ValueError(f"snr must be a finite number of dB (use silence() for a silent input), got {snr!r}")
    if wave.dim() != 2:
        raise ValueError(f"add_noise_at_snr expects waveforms [N, n], got shape {tuple(wave.shape)}")
    noise = torch.randn(wave.shape, generator=_generator(seed), dtype=torch.float64)
    target = _power(wave) / 10.0 ** (snr / 10.0)
    noise *= (target / _power(noise)).sqrt()[:, None]
    return (wave.double() + noise).to(wave.dtype)


def silence(wave: torch.Tensor) -> torch.Tensor:
    """A silent input: zeros shaped like ``wave``."""
    return torch.zeros_like(wave)


def _check_images(images: torch.Tensor) -> None:
    if images.dim() != 4 or not images.is_floating_point():
        raise ValueError(
            f"images must be float [N, C, H, W] on the [0, 1] scale, got {images.dtype} {tuple(images.shape)}"
        )


def gaussian_noise(images: torch.Tensor, sigma: float, seed: int) -> torch.Tensor:
    """``images`` (float ``[N, C, H, W]`` in [0, 1]) plus ``N(0, sigma^2)`` pixel noise, clipped to [0, 1]."""
    _check_images(images)
    if not sigma >= 0:
        raise ValueError(f"sigma (noise sd on the [0, 1] pixel scale) must be >= 0, got {sigma!r}")
    noise = torch.randn(images.shape, generator=_generator(seed), dtype=images.dtype)
    return (images + sigma * noise).clamp(0.0, 1.0)


def occlude(images: torch.Tensor, fraction: float, seed: int) -> torch.Tensor:
    """Set one random square per image, of area ``fraction`` of the image, to :data:`BLANK`.

    The square's side is ``round(sqrt(fraction) * side)`` pixels (``fraction`` 1: the whole image, blank);
    its corner is uniform over the positions that keep it inside the image, one draw per image.
    """
    _check_images(images)
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"fraction (occluded area) must be in [0, 1], got {fraction!r}")
    n, _, h, w = images.shape
    side = round(math.sqrt(fraction) * min(h, w))
    corners = torch.rand(n, 2, generator=_generator(seed), dtype=torch.float64)
    out = images.clone()
    for i, (u, v) in enumerate(corners.tolist()):
        y, x = int(u * (h - side + 1)), int(v * (w - side + 1))
        out[i, :, y : y + side, x : x + side] = BLANK
    return out


def blank(images: torch.Tensor) -> torch.Tensor:
    """A blank input: every pixel :data:`BLANK`, shaped like ``images``."""
    return torch.full_like(images, BLANK)
