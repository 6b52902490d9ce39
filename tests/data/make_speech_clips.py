"""Regenerate the committed speech clips (run once by hand; CI only reads the output).

Needs espeak-ng and ffmpeg. Writes speech_en.flac and speech_es.flac (16 kHz mono): the
same four sentences, English and Spanish, each starting at the times in SENTENCE_STARTS
(seconds, speech onset to within ~10 ms), over faint white noise (-80 dBFS), and
speech_clips.json with the texts and the measured onset/end of every sentence.

    python tests/data/make_speech_clips.py
"""
from __future__ import annotations

import json
import subprocess
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
SR = 16000
DURATION = 21.0  # s
SENTENCE_STARTS = [1.0, 6.0, 11.0, 16.0]  # s
SENTENCES = {
    "en": ["Where did you put the keys to the car?",
           "My grandmother lives in a small house near the sea.",
           "We have to leave before the train arrives.",
           "Thank you very much for your help."],
    "es": ["¿Dónde pusiste las llaves del coche?",
           "Mi abuela vive en una casa pequeña cerca del mar.",
           "Tenemos que irnos antes de que llegue el tren.",
           "Muchas gracias por tu ayuda."],
}


def speak(text: str, voice: str) -> np.ndarray:
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "s.wav"
        subprocess.run(["espeak-ng", "-v", voice, "-s", "150", "-w", str(wav), text], check=True)
        raw = subprocess.run(["ffmpeg", "-v", "error", "-i", str(wav), "-ac", "1", "-ar", str(SR),
                              "-f", "f32le", "-"], check=True, capture_output=True).stdout
    x = np.frombuffer(raw, dtype=np.float32)
    loud = np.flatnonzero(np.abs(x) > 0.01)
    return x[loud[0]:loud[-1] + 1]  # trim espeak's silences: onset = first loud sample


def main() -> None:
    rng = np.random.default_rng(3)
    meta: dict = {"sample_rate": SR, "duration": DURATION, "tracks": {}}
    for lang in ("en", "es"):
        track = (1e-4 * rng.standard_normal(int(DURATION * SR))).astype(np.float32)
        lines = []
        for start, text in zip(SENTENCE_STARTS, SENTENCES[lang]):
            s = speak(text, lang)
            i = int(start * SR)
            track[i:i + len(s)] += 0.5 * s / np.max(np.abs(s))
            lines.append({"text": text, "start": start, "end": round(start + len(s) / SR, 3)})
        track = np.clip(track, -1, 1)
        out = HERE / f"speech_{lang}.flac"
        subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "f32le", "-ar", str(SR), "-ac", "1",
                        "-i", "-", "-sample_fmt", "s16", "-compression_level", "12", str(out)],
                       input=track.tobytes(), check=True)
        meta["tracks"][lang] = {"file": out.name, "lines": lines}
    (HERE / "speech_clips.json").write_text(json.dumps(meta, indent=1, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
