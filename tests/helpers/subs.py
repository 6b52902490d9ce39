"""Subtitle files for the tests: write cues to a file, read the cues of an MKV's
subtitle stream back (in ms). No tests here."""
from __future__ import annotations

from pathlib import Path

import pysubs2

from tests.helpers.media import ffmpeg

DELAY = 1.5            # the conftest clips' dub plays this much later than the original
TOLERANCE_MS = 42      # issue 12's bar for a re-timed cue: about a frame


def write_subs(path: Path, cues: list[tuple[float, float, str]]) -> Path:
    """`cues` ((start, end) in seconds, text) saved to `path` in the format its
    extension names (.srt, .ass, .vtt)."""
    subs = pysubs2.SSAFile()
    for start, end, text in cues:
        subs.append(pysubs2.SSAEvent(start=round(start * 1000), end=round(end * 1000),
                                     text=text))
    subs.save(str(path), format_=path.suffix[1:])
    return path


def mkv_cues(mkv: Path, n: int, tmp: Path, ext: str) -> list[tuple[int, int, str]]:
    """The cues of subtitle stream `n` (0-based among subtitles) of `mkv`, extracted to
    `tmp` as `ext`: (start ms, end ms, plain text), comments left out."""
    out = tmp / f"extracted{n}.{ext}"
    ffmpeg("-i", mkv, "-map", f"0:s:{n}", out)
    return [(e.start, e.end, e.plaintext) for e in pysubs2.load(str(out)) if not e.is_comment]


def assert_retimed(got: list[tuple[int, int, str]], cues: list[tuple[float, float, str]],
                   delay: float = DELAY) -> None:
    """`got` (mkv_cues) holds `cues` (dub seconds) moved `delay` s earlier, in order,
    each edge within TOLERANCE_MS."""
    want = [(round((a - delay) * 1000), round((b - delay) * 1000), t) for a, b, t in cues]
    assert [t for _, _, t in got] == [t for _, _, t in want], (got, want)
    for (a, b, _), (wa, wb, _) in zip(got, want):
        assert abs(a - wa) <= TOLERANCE_MS and abs(b - wb) <= TOLERANCE_MS, (got, want)
