"""Click signals for the render and mux tests: audio of clicks written with each codec,
decoded as the corpus scorer does, and the clicks found again. (No tests here.)"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from tests.helpers.media import SR, decode_mono, ffmpeg

CLICK = (0.8 * np.hanning(48)).astype(np.float32)

#: codec -> ffmpeg output args used to make test dubs
CODEC_ARGS = {
    "ac3": ["-c:a", "ac3", "-b:a", "192k"],
    "eac3": ["-c:a", "eac3", "-b:a", "192k"],
    "aac": ["-c:a", "aac", "-b:a", "128k"],
    "opus": ["-c:a", "libopus", "-b:a", "96k"],
    "mp3": ["-c:a", "libmp3lame", "-b:a", "128k"],
    "flac": ["-c:a", "flac"],
}


def click_signal(seconds: float, clicks: list[float], channels: int = 2,
                 tone: tuple[float, float] | None = None) -> np.ndarray:
    """(samples, channels) float32: hanning clicks starting at `clicks` (s), plus an
    optional quiet sine `tone` = (Hz, amplitude)."""
    n = round(seconds * SR)
    x = np.zeros(n, dtype=np.float32)
    if tone is not None:
        x += (tone[1] * np.sin(2 * np.pi * tone[0] * np.arange(n) / SR)).astype(np.float32)
    for t in clicks:
        i = round(t * SR)
        x[i:i + len(CLICK)] += CLICK
    return np.repeat(x[:, None], channels, axis=1)


def write_audio(path: Path, signal: np.ndarray, codec: str, tmp: Path) -> Path:
    raw = tmp / (path.name + ".f32")
    raw.write_bytes(signal.astype("<f4").tobytes())
    ffmpeg("-f", "f32le", "-ar", SR, "-ac", signal.shape[1], "-i", raw, *CODEC_ARGS[codec], path)
    raw.unlink()
    return path


def decode(path: Path, stream_index: int | None = None, *, scorer: bool = True) -> np.ndarray:
    """Mono float32 at SR. scorer=True: like the corpus scorer (timestamps honoured, t=0 at
    the file's start); False: like media.extract_args (t=0 at the first decoded sample)."""
    stream = f"0:{stream_index}" if stream_index is not None else "0:a:0"
    return decode_mono(path, stream, rate=SR, timestamps=scorer)


def find_clicks(x: np.ndarray, n: int, min_gap: float = 0.2) -> list[float]:
    """Times (s) of the `n` strongest CLICK matches, sorted; sub-sample by parabola."""
    c = np.correlate(x.astype(np.float64), CLICK.astype(np.float64), mode="valid")
    c = np.abs(c)
    out: list[float] = []
    work = c.copy()
    gap = int(min_gap * SR)
    for _ in range(n):
        i = int(np.argmax(work))
        frac = 0.0
        if 0 < i < len(c) - 1:
            a, b, d = c[i - 1], c[i], c[i + 1]
            den = a - 2 * b + d
            frac = 0.5 * (a - d) / den if den else 0.0
        out.append((i + frac) / SR)
        work[max(0, i - gap):i + gap] = 0
    return sorted(out)


def rms(x: np.ndarray, t0: float, t1: float) -> float:
    seg = x[round(t0 * SR):round(t1 * SR)].astype(np.float64)
    return float(np.sqrt(np.mean(seg ** 2))) if len(seg) else 0.0
