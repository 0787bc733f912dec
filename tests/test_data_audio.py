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
