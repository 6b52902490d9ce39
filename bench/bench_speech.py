"""Transcription speed: real-time factor per audio track of a media file.

    .venv/bin/python bench/bench_speech.py FILE [FILE...] [--seconds 300] [--model base]
        [--backend faster-whisper|openai] [--device auto|cpu|cuda] [--threads N]

Each audio stream is decoded to mono 16 kHz (ffmpeg), transcribed with the configured
Whisper (settings from the environment / .env, overridden by the options), and a line is
printed per track: language, audio seconds, wall seconds, RTF (wall / audio; 0.09 means a
2-hour track takes ~11 minutes), segments. The model load is timed separately.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from app.services.transcribe import SAMPLE_RATE, get_transcriber  # noqa: E402
from config import load_settings  # noqa: E402


def audio_streams(path: Path) -> list[dict]:
    """ffprobe's audio streams of `path` (index, codec, language tag)."""
    out = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "a", "-show_entries",
                          "stream=index,codec_name:stream_tags=language", "-of", "json",
                          str(path)], check=True, capture_output=True, timeout=60).stdout
    return json.loads(out).get("streams", [])


def decode(path: Path, nth: int, seconds: float | None) -> np.ndarray:
    """The `nth` audio stream as mono float32 at 16 kHz (first `seconds` only when given)."""
    cmd = ["ffmpeg", "-v", "error", "-nostdin", "-i", str(path), "-map", f"0:a:{nth}"]
    if seconds:
        cmd += ["-t", str(seconds)]
    cmd += ["-ac", "1", "-ar", str(SAMPLE_RATE), "-f", "f32le", "-"]
    return np.frombuffer(subprocess.run(cmd, check=True, capture_output=True).stdout,
                         dtype=np.float32)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("files", nargs="+", type=Path)
    ap.add_argument("--seconds", type=float, default=None, help="only the first N seconds")
    ap.add_argument("--model", default=None, help="WHISPER_MODEL (default: settings)")
    ap.add_argument("--backend", default=None, choices=["faster-whisper", "openai"])
    ap.add_argument("--device", default=None, choices=["auto", "cpu", "cuda"])
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--models-dir", type=Path, default=None)
    args = ap.parse_args(argv)

    eng = load_settings().engine
    over = {k: v for k, v in {"whisper_model": args.model, "whisper_backend": args.backend,
                              "device": args.device, "threads": args.threads,
                              "models_dir": args.models_dir}.items() if v is not None}
    eng = replace(eng, **over)
    tr = get_transcriber(eng)
    t0 = time.monotonic()
    tr.transcribe(np.zeros(SAMPLE_RATE, dtype=np.float32))  # loads the model
    print(f"model {tr.name} device={eng.device} threads={eng.threads}: "
          f"load {time.monotonic() - t0:.1f} s")
    for path in args.files:
        for nth, st in enumerate(audio_streams(path)):
            audio = decode(path, nth, args.seconds)
            t = tr.transcribe(audio)
            tag = st.get("tags", {}).get("language", "und")
            print(f"{path.name} a:{nth} ({st.get('codec_name')}, tag {tag}): "
                  f"language {t.language} ({t.language_probability:.2f}), "
                  f"{t.audio_seconds:.1f} s audio in {t.elapsed:.1f} s -> RTF {t.rtf:.3f}, "
                  f"{len(t.segments)} segments")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
