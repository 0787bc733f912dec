"""avsnn.degrade: the SNR asked for is the SNR measured, blank is blank, and a seed fixes the draw."""

from __future__ import annotations

import math

import pytest
import torch

from avsnn import degrade


def _waves(n=4, length=4000):
    t = torch.arange(length) / 16000.0
    amps = torch.tensor([0.5, 0.05, 1.0, 0.2])[:n, None]
    return (amps * torch.sin(2 * math.pi * 440.0 * t)).float()


def _images(n=5, side=16):
    return torch.rand(n, 3, side, side, generator=torch.Generator().manual_seed(7))


@pytest.mark.parametrize("snr", [30.0, 10.0, 0.0, -7.5, -20.0])
def test_the_measured_snr_of_the_degraded_audio_is_the_one_asked_for(snr):
    clean = _waves()
    noisy = degrade.add_noise_at_snr(clean, snr, seed=0)
    assert noisy.dtype == clean.dtype and noisy.shape == clean.shape
    measured = degrade.snr_db(clean, noisy)
    assert torch.all((measured - snr).abs() < 0.1), measured  # every clip, whatever its loudness


def test_noise_at_snr_leaves_a_silent_clip_silent_and_refuses_an_infinite_snr():
    clean = torch.cat([_waves(1), torch.zeros(1, 4000)])
    noisy = degrade.add_noise_at_snr(clean, 0.0, seed=0)
    assert torch.equal(noisy[1], torch.zeros(4000))
    with pytest.raises(ValueError, match="finite"):
        degrade.add_noise_at_snr(clean, -math.inf, seed=0)


def test_silent_and_blank_inputs_are_exactly_silent_and_blank():
    assert torch.equal(degrade.silence(_waves()), torch.zeros(4, 4000))
    assert degrade.BLANK == 0.0  # black, before the network's input normalisation
    assert torch.equal(degrade.blank(_images()), torch.zeros(5, 3, 16, 16))
    assert torch.equal(degrade.occlude(_images(), 1.0, seed=3), torch.zeros(5, 3, 16, 16))


def test_occlusion_blanks_one_square_of_the_area_asked_for_per_image():
    images = _images() + 0.5  # no pixel is blank before
    out = degrade.occlude(images, 0.25, seed=1)
    blanked = (out == degrade.BLANK).all(1)  # [N, H, W]
    assert blanked.flatten(1).sum(1).tolist() == [64] * 5  # an 8 x 8 square of 16 x 16
    for mask in blanked:
        rows, cols = mask.any(1).nonzero().flatten(), mask.any(0).nonzero().flatten()
        assert len(rows) == len(cols) == 8 and rows[-1] - rows[0] == cols[-1] - cols[0] == 7
    assert torch.equal(out[~blanked[:, None].expand_as(out)], images[~blanked[:, None].expand_as(images)])
    assert torch.equal(degrade.occlude(images, 0.0, seed=1), images)


def test_gaussian_noise_stays_on_the_pixel_scale_and_grows_with_sigma():
    images = _images()
    small, large = (degrade.gaussian_noise(images, s, seed=2) for s in (0.05, 0.5))
    assert small.min() >= 0 and large.max() <= 1
    assert (small - images).abs().mean() < (large - images).abs().mean()
    assert torch.equal(degrade.gaussian_noise(images, 0.0, seed=2), images)
    with pytest.raises(ValueError, match="float"):
        degrade.gaussian_noise((images * 255).to(torch.uint8), 0.1, seed=0)


@pytest.mark.parametrize(
    "fn, x",
    [
        (lambda x, s: degrade.add_noise_at_snr(x, 5.0, seed=s), _waves()),
        (lambda x, s: degrade.gaussian_noise(x, 0.2, seed=s), _images()),
        (lambda x, s: degrade.occlude(x, 0.3, seed=s), _images()),
    ],
    ids=["snr", "noise", "occlusion"],
)
def test_the_same_seed_gives_the_same_output_and_another_seed_another(fn, x):
    torch.manual_seed(0)
    first = fn(x, 11)
    torch.manual_seed(1)  # the global generator plays no part
    assert torch.equal(fn(x, 11), first)
    assert not torch.equal(fn(x, 12), first)
