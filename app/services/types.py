"""Values that cross stage boundaries. Times are seconds.

Sign convention everywhere: a time map sends a dub time to an original time,
`orig_t = orig_start + (dub_t - dub_start) * speed`; speed > 1 means the dub runs
faster than the original (a PAL transfer of a 23.976 fps film: 1.0427).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args

# What the map is found from: "audio" the shared music and effects, "speech" the dialogue
# matched by meaning, "auto" the audio first and speech where it leaves the map unsure.
Mode = Literal["auto", "audio", "speech"]
MODES: tuple[str, ...] = get_args(Mode)
# What plays where the dub has nothing for the original's timeline (a cut in the dub):
# "silence", or the original's own audio.
GapFill = Literal["silence", "original"]
GAP_FILLS: tuple[str, ...] = get_args(GapFill)


@dataclass(frozen=True)
class Anchor:
    """One piece of evidence that `dub_t` (dub timeline) plays at `orig_t` (original).

    `score` is the evidence's strength: for audio anchors the correlation peak's
    z-score; for speech anchors a similarity-derived weight on the same scale
    (~5 weak, >= 10 strong). `source` is "audio" or "speech".
    """

    dub_t: float
    orig_t: float
    score: float
    source: str = "audio"


@dataclass(frozen=True)
class PhrasePair:
    """A dub phrase matched to an original phrase by meaning (speech path)."""

    dub_start: float
    dub_end: float
    dub_text: str
    orig_start: float
    orig_end: float
    orig_text: str
    similarity: float


@dataclass(frozen=True)
class SpeechResult:
    anchors: list[Anchor]
    pairs: list[PhrasePair]
    orig_language: str | None       # Whisper code, e.g. "en"
    dub_language: str | None
    timings: dict[str, float] = field(default_factory=dict)  # e.g. rtf per track
    # Every sentence Whisper heard on the dub (start, end, text), paired or not: what a
    # speech-placed map has to account for (app.services.evidence).
    dub_lines: tuple[tuple[float, float, str], ...] = ()


@dataclass(frozen=True)
class SyncRequest:
    original: Path
    dub: Path
    output: Path | None = None            # None: analyze only
    report_path: Path | None = None
    dub_lang: str | None = None           # ISO 639-2 tag forced by the user
    gap_fill: GapFill | None = None       # None: settings
    mode: Mode | None = None              # None: settings
    orig_audio_track: int | None = None   # N-th audio stream (0-based) of each file
    dub_audio_track: int | None = None
    title: str | None = None              # dub track title; default "<Language> (SyncDub)"


@dataclass
class SyncResult:
    output: Path | None
    confidence: float
    speed: float
    report: dict[str, Any]
