"""The time map: which part of the dub plays where on the original timeline.

Pure data, no I/O. Inside a segment `orig_t = orig_start + (dub_t - dub_start) * speed`
(seconds; speed > 1 = the dub runs faster, e.g. PAL 1.0427). Dub time outside every
segment is an *insert* (dropped); original time outside every segment's image is a *cut*
(filled with silence, or with the original audio).
"""
from __future__ import annotations

import bisect
from dataclasses import asdict, dataclass, field

#: Cuts and inserts shorter than this (s) are slivers of a few frames where the two files
#: simply end a little differently: kept in the map and the report, but not counted or
#: printed as edits (the CLI's map, the task list's counts).
NOTABLE_EDIT_S = 0.1


@dataclass(frozen=True)
class Segment:
    dub_start: float
    dub_end: float
    orig_start: float
    speed: float
    confidence: float = 1.0       # 0..1
    anchors: int = 0              # evidence behind it

    @property
    def orig_end(self) -> float:
        return self.orig_start + (self.dub_end - self.dub_start) * self.speed

    @property
    def offset(self) -> float:
        """orig_t - dub_t * speed: constant inside the segment (seconds)."""
        return self.orig_start - self.dub_start * self.speed

    def to_original(self, dub_t: float) -> float:
        return self.orig_start + (dub_t - self.dub_start) * self.speed

    def to_dub(self, orig_t: float) -> float:
        return self.dub_start + (orig_t - self.orig_start) / self.speed


@dataclass(frozen=True)
class TimeMap:
    """Segments sorted by dub_start, not overlapping on either timeline."""

    segments: tuple[Segment, ...]
    orig_duration: float
    dub_duration: float
    speed: float
    confidence: float = 0.0
    reasons: tuple[str, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_starts", [s.dub_start for s in self.segments])

    def segment_at(self, dub_t: float) -> Segment | None:
        i = bisect.bisect_right(self._starts, dub_t) - 1  # type: ignore[attr-defined]
        if i >= 0 and dub_t < self.segments[i].dub_end:
            return self.segments[i]
        return None

    def to_original(self, dub_t: float) -> float | None:
        """Original time of `dub_t`, or None when it lies in an insert."""
        s = self.segment_at(dub_t)
        return s.to_original(dub_t) if s else None

    @property
    def inserts(self) -> list[tuple[float, float]]:
        """Dub intervals [start, end) with no counterpart (dropped), lead-in included."""
        out, t = [], 0.0
        for s in self.segments:
            if s.dub_start - t > 1e-3:
                out.append((t, s.dub_start))
            t = s.dub_end
        if self.dub_duration - t > 1e-3:
            out.append((t, self.dub_duration))
        return out

    @property
    def cuts(self) -> list[tuple[float, float]]:
        """Original intervals [start, end) that the dub lacks (gaps on the original)."""
        out, t = [], 0.0
        for s in sorted(self.segments, key=lambda s: s.orig_start):
            if s.orig_start - t > 1e-3:
                out.append((t, s.orig_start))
            t = max(t, s.orig_end)
        if self.orig_duration - t > 1e-3:
            out.append((t, self.orig_duration))
        return out

    @property
    def is_single_shift(self) -> bool:
        """One segment at speed 1: the dub can be placed without re-encoding."""
        return len(self.segments) == 1 and abs(self.segments[0].speed - 1.0) < 1e-9

    def to_dict(self) -> dict:
        return {
            "speed": self.speed,
            "confidence": self.confidence,
            "reasons": list(self.reasons),
            "orig_duration": self.orig_duration,
            "dub_duration": self.dub_duration,
            "segments": [dict(asdict(s), orig_end=s.orig_end, offset=s.offset)
                         for s in self.segments],
            "cuts": [list(c) for c in self.cuts],
            "inserts": [list(i) for i in self.inserts],
        }
