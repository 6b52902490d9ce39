"""ffmpeg for the tests: one runner, probing and decoding, and small films made with lavfi.

No tests here. The larger synthetic films with a known time map are in films.py; click
signals for the render and mux tests in clicks.py.
"""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np

SR = 48000                            # sample rate of the media made here


# ------------------------------------------------------------------ running ffmpeg

class FFmpegError(subprocess.CalledProcessError):
    """ffmpeg failed; the message carries stderr's tail and the command line."""

    def __str__(self) -> str:
        return (f"ffmpeg failed ({self.returncode}): {(self.stderr or '')[-2000:]}\n"
                f"argv: {' '.join(self.cmd)[:3000]}")


def ffmpeg(*args) -> None:
    """Run ffmpeg (argv without the program, any values str() can write; -y: overwrite);
    raise FFmpegError with stderr's tail when it fails."""
    argv = ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y",
            *map(str, args)]
    r = subprocess.run(argv, capture_output=True, text=True)
    if r.returncode != 0:
        raise FFmpegError(r.returncode, argv, r.stdout, r.stderr)


def ffprobe(path: Path, *args) -> dict:
    """ffprobe's JSON for `path` (args: what to show, e.g. "-show_streams")."""
    r = subprocess.run(["ffprobe", "-v", "error", "-print_format", "json", *map(str, args),
                        str(path)], capture_output=True, text=True, check=True)
    return json.loads(r.stdout)


def streams(path: Path, count_packets: bool = False) -> list[dict]:
    """ffprobe's streams (with nb_read_packets when count_packets)."""
    extra = ["-count_packets"] if count_packets else []
    return ffprobe(path, *extra, "-show_streams")["streams"]


def decode_mono(path: Path, stream: str = "0:a:0", rate: int = 16000,
                timestamps: bool = True) -> np.ndarray:
    """One audio stream as mono float32 at `rate`. timestamps=True: on the file's timeline
    (t=0 at the file's start, gaps and delays honoured) as a player would play it."""
    af = ["-af", "aresample=async=1:first_pts=0"] if timestamps else []
    r = subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-i", str(path), "-map", stream,
                        *af, "-ac", "1", "-ar", str(rate), "-f", "f32le", "-"],
                       capture_output=True, check=True)
    return np.frombuffer(r.stdout, dtype="<f4")


# ------------------------------------------------------------------ small films

# A sound bed that never repeats: noise and tone bursts gated by a product of sines with
# incommensurate periods (the engine matches onsets; a periodic bed would be ambiguous).
_GATE = "gt(sin(7.3*t)*sin(2.1*t+1)*sin(0.77*t+2),0.12)"
BED = (f"aevalsrc='{_GATE}*(0.5*sin(2*PI*(220+180*floor(mod(3.7*t,5)))*t)"
       f"+0.3*(random(0)-0.5))+0.02*(random(1)-0.5)':s=48000:d={{d}}")


def make_pair(folder: Path, seconds: float = 24.0, delay: float = 1.5) -> tuple[Path, Path]:
    """original.mkv (video + bed) and dubbed.mkv (the same bed `delay` s later, another
    lead-in), both small: 160x90 at 10 fps."""
    folder.mkdir(parents=True, exist_ok=True)
    bed = folder / "bed.wav"
    ffmpeg("-f", "lavfi", "-i", BED.format(d=seconds + delay + 1), "-ac", "2", str(bed))
    orig, dub = folder / "original.mkv", folder / "dubbed.mkv"
    video = f"testsrc2=s=160x90:r=10:d={seconds}"
    ffmpeg("-f", "lavfi", "-i", video, "-i", str(bed), "-t", str(seconds),
           "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", "-b:a", "96k",
           "-metadata:s:a:0", "language=eng", str(orig))
    # the dub: 1.5 s of a quiet hum, then the same bed
    ffmpeg("-f", "lavfi", "-i", video, "-f", "lavfi",
           "-i", f"sine=f=90:d={delay}:r=48000", "-i", str(bed),
           "-filter_complex", "[1:a]volume=0.05,aformat=channel_layouts=stereo[a0];"
                              "[a0][2:a]concat=n=2:v=0:a=1[a]",
           "-map", "0:v", "-map", "[a]", "-t", str(seconds),
           "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", "-b:a", "96k",
           "-metadata:s:a:0", "language=spa", str(dub))
    bed.unlink()
    return orig, dub


def make_unrelated(path: Path, seconds: float = 24.0, seed: int = 7) -> Path:
    """Another film's release: the same picture size and length as make_pair's, a
    different sound bed (gated pink noise); the engine must refuse it as a dub of
    make_pair's original."""
    ffmpeg("-f", "lavfi", "-i", f"testsrc2=s=160x90:r=10:d={seconds}",
           "-f", "lavfi", "-i", f"anoisesrc=d={seconds}:c=pink:r=48000:a=0.3:seed={seed}",
           "-af", "volume='0.2+0.8*gt(sin(3.1*t)*sin(1.3*t+2)*sin(0.53*t+1),0.1)'"
                  ":eval=frame", "-ac", "2", "-c:v", "libx264", "-preset",
           "ultrafast", "-c:a", "aac", "-b:a", "96k", str(path))
    return path


def make_video_only(path: Path, duration: float = 5.0) -> Path:
    ffmpeg("-f", "lavfi", "-i", f"testsrc2=size=160x90:rate=25:duration={duration}",
           "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", path)
    return path


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
