"""WAV decoding, waveform preparation, log-mel and the spectrogram cache."""

import numpy as np
import pytest
import torch
from fixtures import WAV_FORMATS, tone, write_wav

from avsnn.data import AudioConfig, LogMel, SpectrogramCache, load_waveform, read_wav

TOL = {"u8": 1e-2, "i16": 1e-4, "i24": 1e-6, "i32": 1e-6, "f32": 1e-7}


@pytest.mark.parametrize("fmt", WAV_FORMATS)
@pytest.mark.parametrize("channels", [1, 2])
def test_read_wav_formats(tmp_path, fmt, channels):
    x = tone(440.0, 8000, 0.1, channels=channels)
    p = write_wav(tmp_path / f"t_{fmt}.wav", x, 8000, fmt)
    y, sr = read_wav(p)
    assert sr == 8000 and y.dtype == np.float32 and y.shape == (channels, 800)
    ref = x.T if channels == 2 else x[None]
    assert np.abs(y - ref).max() < TOL[fmt]
    mono, _ = read_wav(p, mono=True)
    assert mono.shape == (1, 800)


def test_read_wav_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.wav"):
        read_wav(tmp_path / "missing.wav")
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    with pytest.raises(ValueError, match="empty.wav.*empty file"):
        read_wav(empty)
    zero = write_wav(tmp_path / "zero.wav", np.zeros(0), 16000, "i16")
    with pytest.raises(ValueError, match="zero.wav.*zero-length"):
        read_wav(zero)
    bad = np.full(100, np.nan)
    nan = write_wav(tmp_path / "nan.wav", bad, 16000, "f32")
    with pytest.raises(ValueError, match="nan.wav.*NaN"):
        read_wav(nan)
    junk = tmp_path / "junk.wav"
    junk.write_bytes(b"this is not a RIFF file at all" * 10)
    with pytest.raises(ValueError, match="junk.wav.*unreadable"):
        read_wav(junk)
    trunc = tmp_path / "trunc.wav"
    trunc.write_bytes(write_wav(tmp_path / "ok.wav", tone(440, 8000, 0.1), 8000).read_bytes()[:30])
    with pytest.raises(ValueError, match="trunc.wav"):
        read_wav(trunc)


@pytest.mark.parametrize("sr,dur", [(8000, 0.5), (22050, 1.3), (44100, 1.0), (16000, 2.0)])
def test_load_waveform_resamples_and_fits_length(tmp_path, sr, dur):
    cfg = AudioConfig()
    p = write_wav(tmp_path / "a.wav", tone(1000.0, sr, dur, channels=2), sr, "i16")
    w = load_waveform(p, cfg)
    assert w.shape == (cfg.n_samples,) and w.dtype == torch.float32
    n_sig = min(int(dur * cfg.sample_rate), cfg.n_samples)
    if n_sig < cfg.n_samples:
        assert torch.all(w[n_sig + 8 :] == 0)
    # the 1 kHz tone survives resampling: dominant FFT bin at 1000 Hz
    seg = w[: n_sig - 64].numpy()
    f = np.fft.rfftfreq(seg.size, 1 / cfg.sample_rate)[np.argmax(np.abs(np.fft.rfft(seg)))]
    assert abs(f - 1000.0) < 5


def _tone_frequency(x: np.ndarray, sr: int) -> float:
    """Frequency of a clean tone from the slope of its analytic signal's phase (ends dropped)."""
    from scipy.signal import hilbert

    phase = np.unwrap(np.angle(hilbert(x)))[200:-200]
    return float(np.polyfit(np.arange(phase.size) / sr, phase, 1)[0] / (2 * np.pi))


@pytest.mark.parametrize("sr", [44101, 16001, 15999, 192001, 8001])
def test_odd_sample_rates_resample_with_a_bounded_kernel(tmp_path, sr, monkeypatch):
    """An odd rate used to build a sinc kernel of its gcd-reduced ratio (44,101 Hz: 16,000 x 44,101 taps, 2.8 GB)."""
    import torchaudio

    from avsnn.data.audio import RESAMPLE_LIMIT, resample_factors

    calls, real = [], torchaudio.functional.resample
    monkeypatch.setattr(torchaudio.functional, "resample", lambda w, o, n: calls.append((o, n)) or real(w, o, n))
    cfg, f0 = AudioConfig(), 1000.0
    w = load_waveform(write_wav(tmp_path / "a.wav", tone(f0, sr, 1.0), sr, "f32"), cfg)
    assert w.shape == (cfg.n_samples,)
    assert all(max(o, n) <= RESAMPLE_LIMIT for o, n in calls)
    up, down = resample_factors(sr, cfg.sample_rate)
    assert max(up, down) <= RESAMPLE_LIMIT and abs(sr / cfg.sample_rate - up / down) * cfg.sample_rate / sr < 2e-4
    # the approximation error: the tone plays at the approximated ratio, off by at most 2e-4 of its frequency
    f = _tone_frequency(w[: cfg.n_samples - 200].numpy().astype(np.float64), cfg.sample_rate)
    assert f == pytest.approx(f0 * cfg.sample_rate * up / (sr * down), abs=0.01)
    assert abs(f - f0) / f0 < 2e-4


def test_rates_of_common_files_are_resampled_exactly():
    from avsnn.data.audio import resample_factors

    for sr, want in [(44100, (441, 160)), (22050, (441, 320)), (48000, (3, 1)), (8000, (1, 2)), (16000, (1, 1))]:
        assert resample_factors(sr, 16000) == want


def test_a_rate_far_from_the_target_is_one_line(tmp_path):
    p = write_wav(tmp_path / "slow.wav", np.zeros(10), 8, "i16")
    with pytest.raises(ValueError, match=r"slow\.wav: sample rates 8 Hz and 16000 Hz differ more than 1000-fold"):
        load_waveform(p)


@pytest.mark.parametrize("peak", [40.0, 32767.0])
def test_float_wav_far_beyond_full_scale_is_named(tmp_path, peak):
    p = write_wav(tmp_path / "loud.wav", tone(440.0, 16000, 0.1, amp=peak), 16000, "f32")
    with pytest.raises(ValueError, match=r"loud\.wav: float samples reach .*; expected values in \[-1, 1\]"):
        read_wav(p)
    ok = write_wav(tmp_path / "hot.wav", tone(440.0, 16000, 0.1, amp=1.5), 16000, "f32")  # mildly clipped: kept
    assert abs(read_wav(ok)[0]).max() == pytest.approx(1.5, rel=1e-3)


def test_inf_samples_are_counted_and_named(tmp_path):
    x = tone(440.0, 16000, 0.1)
    x[[3, 7]] = np.inf
    p = write_wav(tmp_path / "inf.wav", x, 16000, "f32")
    with pytest.raises(ValueError, match=r"inf\.wav: 2 of 1600 samples are NaN or inf; expected finite samples"):
        read_wav(p)


def test_audio_config_frames_and_key():
    cfg = AudioConfig()
    assert cfg.n_frames == 1 + 16000 // 128 == 126
    assert cfg.key() == AudioConfig().key() != AudioConfig(n_mels=32).key()
    with pytest.raises(ValueError, match="f_max"):
        AudioConfig(f_max=9000.0)
    with pytest.raises(ValueError, match="n_mels"):
        AudioConfig(n_mels=0)


def test_logmel_shape_and_range():
    cfg = AudioConfig()
    lm = LogMel(cfg)
    w = torch.from_numpy(tone(500.0, 16000, 1.0).astype(np.float32))
    s = lm(w)
    assert s.shape == (1, 64, cfg.n_frames) and s.dtype == torch.float32
    assert float(s.max() - s.min()) <= cfg.top_db + 1e-3
    b = lm(torch.stack([w, 0.1 * w]))
    assert b.shape == (2, 1, 64, cfg.n_frames)
    assert torch.allclose(b[0], s, atol=1e-4)


def test_spectrogram_cache_hits_and_rebuilds_corrupt_entries(tmp_path):
    cfg = AudioConfig()
    wav = write_wav(tmp_path / "x.wav", tone(700.0, 22050, 0.8), 22050, "i16")
    cache = SpectrogramCache(tmp_path / "cache", cfg)
    a = cache.get(wav)
    entry = cache.entry_path(wav)
    assert entry.is_file() and cache.misses == 1
    b = cache.get(wav)
    assert cache.hits == 1 and torch.equal(a, b)
    assert torch.equal(a, cache.compute(wav))
    # flip payload bytes: checksum mismatch -> deleted and recomputed, never used
    raw = bytearray(entry.read_bytes())
    raw[-100:-90] = b"\x00" * 10
    entry.write_bytes(bytes(raw))
    c = cache.get(wav)
    assert cache.rebuilt == 1 and torch.equal(a, c)
    assert entry.read_bytes() != bytes(raw)
    # truncated entry
    entry.write_bytes(entry.read_bytes()[:50])
    assert torch.equal(cache.get(wav), a) and cache.rebuilt == 2
    # a new cache object reads the repaired entry
    fresh = SpectrogramCache(tmp_path / "cache", cfg)
    assert torch.equal(fresh.get(wav), a) and fresh.hits == 1
    # no leftover temp files
    assert not [p for p in (tmp_path / "cache").rglob("*.tmp")]


def test_spectrogram_cache_invalidated_by_file_change_and_config(tmp_path):
    wav = write_wav(tmp_path / "x.wav", tone(700.0, 16000, 0.5), 16000, "i16")
    cache = SpectrogramCache(tmp_path / "c", AudioConfig())
    e1 = cache.entry_path(wav)
    cache.get(wav)
    write_wav(wav, tone(1500.0, 16000, 0.6), 16000, "i16")
    assert cache.entry_path(wav) != e1
    other = SpectrogramCache(tmp_path / "c", AudioConfig(n_mels=32))
    assert other.get(wav).shape == (1, 32, 126)
    assert SpectrogramCache(None, AudioConfig()).get(wav).shape == (1, 64, 126)
