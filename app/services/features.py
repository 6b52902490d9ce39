"""Short-time features for matching (pure numpy: arrays in, arrays out).

The matching feature is an onset envelope: spectral flux of a log-mel spectrogram
(25 ms window, 10 ms hop), half-wave rectified and summed over bands. It keeps the
transients of the music-and-effects bed that two mixes share, and survives EQ, gain
changes, lossy codecs and the pitch shift of a PAL transfer.

`OnsetExtractor` consumes the decoded signal block by block, so a two-hour track never
needs to be held in memory: only its envelope (100 values per second).
"""
from __future__ import annotations

import numpy as np
import scipy.fft as sp_fft
from scipy.ndimage import uniform_filter1d

SAMPLE_RATE = 16000   # Hz: what every analysis stage works on (media decodes to it)
HOP = 160             # samples: 10 ms frames
WIN = 400             # 25 ms analysis window
NFFT = 512
N_MELS = 40
N_BANDS = 8           # band groups kept separately for boundary evidence
FRAME_RATE = SAMPLE_RATE / HOP   # 100.0 frames per second
LOG_FLOOR = 1e-7      # ~ -70 dB: quieter is treated as silence


def mel_filterbank(sr: int = SAMPLE_RATE, n_fft: int = NFFT, n_mels: int = N_MELS,
                   fmin: float = 60.0, fmax: float = 7600.0) -> np.ndarray:
    """Triangular mel filters, shape (n_mels, n_fft // 2 + 1)."""
    def hz_to_mel(f):
        return 2595.0 * np.log10(1.0 + np.asarray(f) / 700.0)

    def mel_to_hz(m):
        return 700.0 * (10 ** (np.asarray(m) / 2595.0) - 1.0)

    mels = np.linspace(hz_to_mel(fmin), hz_to_mel(fmax), n_mels + 2)
    hz = mel_to_hz(mels)
    bins = np.fft.rfftfreq(n_fft, 1.0 / sr)
    fb = np.zeros((n_mels, len(bins)), dtype=np.float32)
    for i in range(n_mels):
        lo, c, hi = hz[i], hz[i + 1], hz[i + 2]
        up = (bins - lo) / max(c - lo, 1e-9)
        down = (hi - bins) / max(hi - c, 1e-9)
        fb[i] = np.maximum(0.0, np.minimum(up, down))
    return fb


class OnsetExtractor:
    """Streaming onset envelope at 100 frames/s. Feed blocks, then `finish()`.

    Frame k covers samples [k*HOP, k*HOP + WIN): its time is k / FRAME_RATE seconds
    (the window's start; every track is treated the same way, so lags are unbiased).
    """

    def __init__(self, sr: int = SAMPLE_RATE):
        if sr != SAMPLE_RATE:
            raise ValueError("features are defined at 16 kHz")
        self._fb = mel_filterbank(sr)
        self._window = np.hanning(WIN).astype(np.float32)
        self._carry = np.zeros(0, dtype=np.float32)
        self._frames = np.zeros((0, NFFT), dtype=np.float32)
        self._prev: np.ndarray | None = None
        self._flux: list[np.ndarray] = []
        self._energy: list[np.ndarray] = []
        self._bands: list[np.ndarray] = []

    def feed(self, x: np.ndarray) -> None:
        buf = np.concatenate([self._carry, np.asarray(x, dtype=np.float32)])
        n_frames = (len(buf) - WIN) // HOP + 1 if len(buf) >= WIN else 0
        if n_frames <= 0:
            self._carry = buf
            return
        # The windowed frames go straight into a zero-padded NFFT-wide buffer kept between
        # calls (a strided view of the block, no index array, no padding copy in the FFT).
        if len(self._frames) < n_frames:
            self._frames = np.zeros((n_frames, NFFT), dtype=np.float32)
        frames = self._frames[:n_frames]
        view = np.lib.stride_tricks.sliding_window_view(buf, WIN)[::HOP][:n_frames]
        np.multiply(view, self._window, out=frames[:, :WIN])
        # scipy's FFT keeps float32 and batches the frames ~3x faster than numpy's
        spec = np.abs(sp_fft.rfft(frames, axis=1)) ** 2
        mel = spec @ self._fb.T
        logmel = np.log(mel + LOG_FLOOR)
        prev = logmel[:1] if self._prev is None else self._prev[None, :]
        diff = np.diff(np.concatenate([prev, logmel]), axis=0)
        pos = np.maximum(diff, 0.0)
        self._flux.append(pos.sum(axis=1).astype(np.float32))
        self._bands.append(pos.reshape(len(pos), N_BANDS, -1).sum(axis=2).astype(np.float32))
        self._energy.append(np.log(spec.sum(axis=1) / NFFT + LOG_FLOOR).astype(np.float32))
        self._prev = logmel[-1]
        self._carry = buf[n_frames * HOP:]

    def finish(self) -> tuple[np.ndarray, np.ndarray]:
        """(onset envelope, log energy), both float32 at FRAME_RATE."""
        if not self._flux:
            return np.zeros(0, np.float32), np.zeros(0, np.float32)
        return np.concatenate(self._flux), np.concatenate(self._energy)

    def bands(self) -> np.ndarray:
        """Onset envelope per band group, shape (frames, N_BANDS): where dialogue masks
        the bed in some bands, the others still carry it (boundary evidence)."""
        if not self._bands:
            return np.zeros((0, N_BANDS), np.float32)
        return np.concatenate(self._bands)


def onset_envelope(x: np.ndarray, sr: int = SAMPLE_RATE) -> tuple[np.ndarray, np.ndarray]:
    """Whole-array twin of OnsetExtractor."""
    ex = OnsetExtractor(sr)
    step = sr * 30
    for i in range(0, len(x), step):
        ex.feed(x[i:i + step])
    return ex.finish()


def normalize(env: np.ndarray, span: int = 300) -> np.ndarray:
    """Local z-normalization: remove the moving mean and divide by the moving std over
    `span` frames, so loud and quiet passages weigh alike; spikes are clipped."""
    e = env.astype(np.float64)
    if len(e) == 0:
        return env.astype(np.float32)
    span = max(3, min(span, len(e)))
    m = uniform_filter1d(e, span, mode="nearest")
    v = uniform_filter1d((e - m) ** 2, span, mode="nearest")
    z = (e - m) / np.sqrt(v + 1e-6 + 1e-3 * np.mean(v))
    return np.clip(z, -3.0, 8.0).astype(np.float32)


def decimate(env: np.ndarray, factor: int) -> np.ndarray:
    """Average groups of `factor` frames (a coarse view for global search)."""
    n = len(env) // factor
    if n == 0:
        return np.zeros(0, np.float32)
    return env[: n * factor].reshape(n, factor).mean(axis=1).astype(np.float32)


def warp(env: np.ndarray, speed: float, n_out: int | None = None) -> np.ndarray:
    """Resample a feature sequence from dub time to `speed`-scaled time.

    out[k] = env(k / speed) (linear interpolation): out is indexed by u = dub_t * speed,
    the original's clock, so a dub that runs `speed` times faster lines up by a pure shift.
    """
    if abs(speed - 1.0) < 1e-12:
        return env
    n = int(len(env) * speed) if n_out is None else n_out
    pos = np.arange(n, dtype=np.float64) / speed
    return np.interp(pos, np.arange(len(env)), env, right=0.0).astype(np.float32)
