"""Helpers shared by the render and mux tests: small media made with ffmpeg, decoding as
the corpus scorer does, and click finding. (No tests here.)"""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np

SR = 48000
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


def ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", *map(str, args)], check=True)


def ffprobe(path: Path, *args: str) -> dict:
    r = subprocess.run(["ffprobe", "-v", "error", "-of", "json", *args, str(path)],
                       capture_output=True, text=True, check=True)
    return json.loads(r.stdout)


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
    m = ["-map", f"0:{stream_index}" if stream_index is not None else "0:a:0"]
    af = ["-af", "aresample=async=1:first_pts=0"] if scorer else []
    r = subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-i", str(path), *m, *af,
                        "-ac", "1", "-ar", str(SR), "-f", "f32le", "-"],
                       capture_output=True, check=True)
    return np.frombuffer(r.stdout, dtype="<f4")


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


def make_original(path: Path, seconds: float, tmp: Path, *, tone_hz: float = 1000.0,
                  with_extras: bool = True) -> Path:
    """A tiny film: H.264 video, AAC audio (a sine at 1/8 of full scale), and with
    `with_extras` a second audio stream, SRT subtitles, two chapters, a title and an
    attachment (Matroska) or mov_text subtitles (MP4)."""
    inputs = ["-f", "lavfi", "-i", f"testsrc=size=96x64:rate=24:duration={seconds}",
              "-f", "lavfi", "-i", f"sine=f={tone_hz}:sample_rate={SR}:duration={seconds}"]
    maps = ["-map", "0:v", "-map", "1:a"]
    extra: list[str] = []
    if with_extras:
        srt = tmp / "subs.srt"
        srt.write_text("1\n00:00:00,500 --> 00:00:01,500\nHello\n\n"
                       "2\n00:00:02,000 --> 00:00:03,000\nWorld\n", encoding="utf-8")
        meta = tmp / "meta.txt"
        half = int(seconds * 500)
        meta.write_text(";FFMETADATA1\ntitle=Test Film\n"
                        f"[CHAPTER]\nTIMEBASE=1/1000\nSTART=0\nEND={half}\ntitle=One\n"
                        f"[CHAPTER]\nTIMEBASE=1/1000\nSTART={half}\nEND={int(seconds * 1000)}\n"
                        "title=Two\n", encoding="utf-8")
        inputs += ["-f", "lavfi", "-i", f"sine=f=300:sample_rate={SR}:duration={seconds}",
                   "-i", str(srt), "-f", "ffmetadata", "-i", str(meta)]
        maps += ["-map", "2:a", "-map", "3:s", "-map_metadata", "4", "-map_chapters", "4"]
        if path.suffix == ".mp4":
            extra += ["-c:s", "mov_text"]
        else:
            font = tmp / "font.ttf"
            font.write_bytes(b"\0\1\0\0fake font")
            extra += ["-c:s", "srt", "-attach", str(font),
                      "-metadata:s:t", "mimetype=application/x-truetype-font"]
        extra += ["-metadata:s:a:0", "language=eng", "-metadata:s:a:1", "language=eng",
                  "-metadata:s:a:1", "title=Commentary"]
    ffmpeg(*inputs, *maps, "-c:v", "libx264", "-preset", "ultrafast", "-g", "48",
           "-c:a", "aac", "-b:a", "64k", *extra, path)
    return path
