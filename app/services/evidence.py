"""Does the evidence account for the dub? The acceptance rule. Pure: no I/O, no models.

A fit always finds *some* map: a handful of phrase pairs that happen to agree in time, a
shared opening theme or a stock music cue give a map with strong, consistent anchors.
What separates two releases of one film from two films is how much of the DUB the map
explains, not how well the kept evidence agrees with itself. So a map is written only
when one of the two ways of hearing the dub accounts for it:

* its sound: of the dub's windows that have sound (12 s every 4 s), the share matched
  at the map's offset (music and effects shared by both releases), or
* its speech: of the dub's transcribed lines (sentences long enough to mean something),
  the share paired by meaning with an original line where the map puts them.

Each edit (an edge between two segments) must also be held from both sides: an edge
with no evidence for many seconds on either side is a guess, which lowers the map's
confidence, and the report says which edge.

The figures are shares of the dub, so they do not depend on the film's length, and the
bars sit far from both populations (bench/bench_calibration.py, 57 pairs: unrelated
pairs and wrong episodes explain at most 11 % of a dub, the same film at least 76 %), so
float rounding, thread counts or a word heard otherwise by Whisper on another processor
(a line in forty) cannot flip a verdict.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, replace

from app.services.align import WIN_S
from app.services.speech import SHORT_PHRASE_CHARS, letters
from app.services.timemap import TimeMap

MIN_SOUND_SHARE = 0.30   # share of the dub's sounding windows matched on the map
MIN_LINE_SHARE = 0.35    # share of the dub's transcribed lines paired on the map
MIN_LINES = 3            # ... and at least this many lines (a 20 s clip has 3-5)
LINE_LETTERS = SHORT_PHRASE_CHARS  # a shorter line ("Yes.", "Thank you.") means little
LINE_TOL_S = 1.5         # a pair is on the map within this (actors' timing, Whisper's)
WINDOW_TOL_S = 0.5       # a window is on the map when its offset is within this
EDGE_SUPPORT_S = 15.0    # an edge with no anchor this close on a side is a guess ...
EDGE_SPAN_S = 60.0       # ... costing up to half the confidence over this much more
AUDIO_HALF_S = WIN_S / 2  # an audio anchor stands for its window around its centre


@dataclass(frozen=True)
class EdgeSupport:
    dub_t: float             # the edge (end of one segment / start of the next), dub s
    before_s: float          # distance to the nearest anchor on the earlier side
    after_s: float           # ... on the later side

    @property
    def unsupported_s(self) -> float:
        return max(self.before_s, self.after_s)


@dataclass(frozen=True)
class Evidence:
    sound_windows: int = 0           # dub windows with sound (audio scan)
    sound_on_map: int = 0            # of them, matched at the map's offset
    dub_lines: int = 0               # dub lines heard by Whisper (>= LINE_LETTERS letters)
    lines_on_map: int = 0            # of them, paired with an original line on the map
    edges: tuple[EdgeSupport, ...] = ()

    @property
    def sound_share(self) -> float:
        return self.sound_on_map / self.sound_windows if self.sound_windows else 0.0

    @property
    def line_share(self) -> float:
        return self.lines_on_map / self.dub_lines if self.dub_lines else 0.0

    @property
    def by_sound(self) -> bool:
        return self.sound_windows > 0 and self.sound_share >= MIN_SOUND_SHARE

    @property
    def by_speech(self) -> bool:
        return self.lines_on_map >= MIN_LINES and self.line_share >= MIN_LINE_SHARE

    @property
    def accounts_for_dub(self) -> bool:
        return self.by_sound or self.by_speech

    def to_dict(self) -> dict:
        d = asdict(self)
        d.update(sound_share=round(self.sound_share, 3), line_share=round(self.line_share, 3),
                 accounts_for_dub=self.accounts_for_dub,
                 edges=[dict(asdict(e), unsupported_s=round(e.unsupported_s, 1))
                        for e in self.edges])
        return d


def gather(tmap: TimeMap, *, windows_active: int = 0,
           windows_matched: tuple[tuple[float, float], ...] = (),
           dub_lines: tuple[tuple[float, float, str], ...] = (),
           pairs: tuple = (), anchors: tuple = ()) -> Evidence:
    """Count what of the dub `tmap` explains.

    `windows_matched`: (dub_t, offset) of the audio windows the decode matched;
    `dub_lines`: (start, end, text) of every dub sentence heard; `pairs`: PhrasePair-like
    objects (dub_start, orig_start, dub_text); `anchors`: Anchor-like objects (dub_t,
    source) that the map kept.
    """
    on_sound = 0
    for t, off in windows_matched:
        seg = tmap.segment_at(t)
        if seg is not None and abs(seg.offset - off) <= WINDOW_TOL_S:
            on_sound += 1
    lines = [ln for ln in dub_lines if letters(ln[2]) >= LINE_LETTERS]
    on_lines = 0
    for p in pairs:
        if letters(p.dub_text) < LINE_LETTERS:
            continue
        got = tmap.to_original(p.dub_start)
        if got is not None and abs(got - p.orig_start) <= LINE_TOL_S:
            on_lines += 1
    return Evidence(windows_active, on_sound, len(lines), min(on_lines, len(lines)),
                    _edges(tmap, anchors))


def _edges(tmap: TimeMap, anchors) -> tuple[EdgeSupport, ...]:
    """For each edit between two consecutive segments: how far the nearest kept anchor of
    each side lies from it (an audio anchor covers its window's half-length)."""
    segs = [s for s in tmap.segments if s.dub_end > s.dub_start]
    out = []
    for a, b in zip(segs, segs[1:]):
        before = [a.dub_end - (x.dub_t + (AUDIO_HALF_S if x.source == "audio" else 0.0))
                  for x in anchors if a.dub_start <= x.dub_t < a.dub_end]
        after = [(x.dub_t - (AUDIO_HALF_S if x.source == "audio" else 0.0)) - b.dub_start
                 for x in anchors if b.dub_start <= x.dub_t < b.dub_end]
        lim_a, lim_b = a.dub_end - a.dub_start, b.dub_end - b.dub_start
        out.append(EdgeSupport(round(a.dub_end, 2),
                               round(max(0.0, min(before)) if before else lim_a, 2),
                               round(max(0.0, min(after)) if after else lim_b, 2)))
    return tuple(out)


def _clock(t: float) -> str:
    t = max(0.0, t)
    return f"{int(t // 3600)}:{int(t % 3600 // 60):02d}:{int(t % 60):02d}" if t >= 3600 \
        else f"{int(t // 60)}:{int(t % 60):02d}"


def judge(tmap: TimeMap, ev: Evidence, *, speech_heard: bool) -> tuple[TimeMap, bool]:
    """The map with its confidence and reasons revised by the evidence, and whether the
    evidence accounts for the dub (False: refuse, whatever the confidence).

    `speech_heard`: the dub was transcribed (else only its sound can speak for it)."""
    reasons = list(tmap.reasons)
    conf = tmap.confidence
    ok = ev.accounts_for_dub
    if not ok:
        parts = []
        if ev.sound_windows:
            parts.append(_sound_words(ev))
        if speech_heard:
            parts.append(f"{ev.lines_on_map} of {ev.dub_lines} dub lines found a counterpart "
                         f"where the map puts them (at least {MIN_LINE_SHARE:.0%} and "
                         f"{MIN_LINES} lines expected for the same film)")
        reasons.insert(0, "the map explains too little of the dub: " + "; ".join(parts))
        # The figure says so too: at most half of the bar's way to the least share needed.
        share = max(ev.sound_share / MIN_SOUND_SHARE if ev.sound_windows else 0.0,
                    ev.line_share / MIN_LINE_SHARE if speech_heard else 0.0)
        conf = min(conf, round(0.45 * min(1.0, share), 3))
    for e in ev.edges:
        if e.unsupported_s > EDGE_SUPPORT_S:
            side = "before" if e.before_s >= e.after_s else "after"
            reasons.append(f"the edit at dub {_clock(e.dub_t)} is uncertain: nothing matched "
                           f"for {e.unsupported_s:.0f} s {side} it")
            conf *= 1.0 - 0.5 * min(1.0, (e.unsupported_s - EDGE_SUPPORT_S) / EDGE_SPAN_S)
    seen: set[str] = set()
    reasons = [r for r in reasons if not (r in seen or seen.add(r))]
    return replace(tmap, confidence=round(conf, 3), reasons=tuple(reasons)), ok


def _sound_words(ev: Evidence) -> str:
    return (f"{ev.sound_on_map} of {ev.sound_windows} stretches of its sound match the "
            f"original where the map puts them ({ev.sound_share:.0%}; at least "
            f"{MIN_SOUND_SHARE:.0%} expected for the same film)")
