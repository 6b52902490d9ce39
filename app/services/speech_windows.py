"""What the fit needs of a long film's dialogue, and no more (speech path, stage 4).

Both tracks of a 2-hour film transcribed whole take Whisper base 12-16 minutes on two
cores. A map is a speed, a few offsets and the edits between them; the speech path hears:

1. **windows** spread over the dub (WindowParams.window_s every spacing_s or less, the
   first at its start and the last at its end), each with the stretch of the original
   where the windows before it say it plays (± margin_s, and the speed's uncertainty over
   the distance); the first window, with no offset known yet, with ± seed_margin_s around
   the speed hint's place. A window is *located* when at least min_pairs of its lines pair
   by meaning (cosine >= min_sim) with original lines at one offset (a *cluster*); a
   window that pairs nowhere is heard again against wide_margin_s more on each side (an
   edit of minutes since the last window); a window with fewer than min_lines lines
   (music, action) says nothing and is passed;
2. **edits**: two consecutive clusters at offsets more than edit_tol_s apart hold an edit
   between them. The middle bisect_s of the dub between them is heard with the original
   at both offsets and tells which side the edit is on, until the gap is fill_s or less;
   then the gap is heard whole (with the original at both offsets), so lines pair right
   up to the edit from both sides (evidence.py wants anchors within 15 s of an edit);
3. **the pairs**: each connected stretch of the dub heard is matched with the original
   heard for it by the monotonic matcher (speech.match_transcripts): a local alignment,
   where a line said twice in the film cannot be paired with the wrong occurrence.

When that does not settle the map (no window located, or more than max_unmatched of the
windows with lines paired nowhere: another film, a dub too unlike its original, poor
transcripts), both tracks are heard whole and matched as one (what every dub shorter
than SPARSE_AFTER_S gets): nothing heard is heard twice, and a refusal stays a refusal.
What the windows skip is not checked: two edits that cancel out (a cut and an insert of
the same length) between two windows would go unseen.

The driver holds no I/O of its own: two `speech_track.Listener`s (anything with `hear`,
`phrases_in`, `duration`) and an embedding function; tests drive it with fakes.
"""
from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

from app.services.progress import safe_fraction
from app.services.speech import (SHORT_PHRASE_CHARS, Match, Phrase, letters,
                                 match_transcripts)
from app.services.transcribe import Region, normalize_regions
from app.services.types import Anchor, PhrasePair, SpeechResult

logger = logging.getLogger(__name__)

#: Dubs this long or longer are heard in windows; shorter ones whole (a window schedule
#: saves little on a short film, and the whole transcript is what the probe's 5 minutes
#: and a TV episode's 20 need anyway).
SPARSE_AFTER_S = 1800.0


@dataclass(frozen=True)
class WindowParams:
    """The window schedule (module doc). Seconds unless said."""

    window_s: float = 90.0         # a window of the dub: ~13 lines at 9 a minute
    spacing_s: float = 900.0       # windows at most this far apart (start to start)
    margin_s: float = 20.0         # original heard around a window's predicted place
    seed_margin_s: float = 180.0   # ... around the first window's (logos, recaps, lead-ins)
    wide_margin_s: float = 300.0   # ... a second time, when a window paired nowhere
    speed_slack: float = 0.002     # relative: the hint's uncertainty (0.06 without one)
    min_pairs: int = 3             # pairs at one offset to locate a window
    min_sim: float = 0.5           # a pair this similar is a translation, not chance
    min_lines: int = 3             # fewer lines (of SHORT_PHRASE_CHARS letters) say nothing
    edit_tol_s: float = 1.0        # offsets further apart: an edit (actors' timing ±0.3 s)
    bisect_s: float = 60.0         # dub heard at the middle of a gap holding an edit
    fill_s: float = 150.0          # a gap this short is heard whole
    max_unmatched: float = 0.25    # windows with lines that may pair nowhere (share)


@dataclass(frozen=True)
class Cluster:
    """Pairs of one stretch that agree on one offset: the first and last pair's dub
    times, the median pair (dub_t, orig_t) and how many."""

    t0: float
    t1: float
    dub_t: float
    orig_t: float
    n: int

    def offset(self, speed: float) -> float:
        """orig - speed * dub (s) of its median pair."""
        return self.orig_t - speed * self.dub_t


@dataclass
class Plan:
    """What the windows found: the stretches heard (dub spans, with the original heard
    for them), the clusters in dub order, the speed; counts for the report."""

    stretches: list[tuple[list[Region], list[Region]]] = field(default_factory=list)
    clusters: list[Cluster] = field(default_factory=list)
    speed: float = 1.0
    windows: int = 0
    with_lines: int = 0
    unmatched: int = 0
    edits: int = 0
    settled: bool = False


class Embeddings:
    """Texts to unit vectors, each text embedded once (a line said again costs nothing)."""

    def __init__(self, embed: Callable[[list[str]], np.ndarray]):
        self._embed = embed
        self._cache: dict[str, np.ndarray] = {}
        self.seconds = 0.0

    def prepare(self, *lists: Sequence[Phrase]) -> None:
        """Embed the texts of `lists` not seen yet, in one call (each call costs a fixed
        ~10 ms to ~0.2 s on top of its sentences)."""
        new = sorted({p.text for ph in lists for p in ph} - self._cache.keys())
        if new:
            t0 = time.monotonic()
            for t, v in zip(new, np.asarray(self._embed(new), dtype=np.float32)):
                self._cache[t] = v
            self.seconds += time.monotonic() - t0

    def __call__(self, phrases: Sequence[Phrase]) -> np.ndarray:
        self.prepare(phrases)
        if not phrases:
            return np.zeros((0, 1), np.float32)
        return np.stack([self._cache[p.text] for p in phrases])


def _t(p: Phrase) -> float:
    return p.onset if p.onset is not None else p.start


def lines(phrases: Sequence[Phrase]) -> int:
    """Phrases long enough to mean something (evidence.py counts the same)."""
    return sum(1 for p in phrases if letters(p.text) >= SHORT_PHRASE_CHARS)


def clusters_of(d_ph: Sequence[Phrase], o_ph: Sequence[Phrase], matches: Sequence[Match],
                speed: float, params: WindowParams) -> list[Cluster]:
    """The runs of consecutive strong pairs (similarity >= min_sim) that agree on one
    offset within edit_tol_s, at least min_pairs long, in dub order. Pure."""
    pts = [(_t(d_ph[m.dub]), _t(o_ph[m.orig])) for m in matches
           if m.similarity >= params.min_sim]
    out: list[Cluster] = []
    run: list[tuple[float, float]] = []

    def close() -> None:
        if len(run) >= params.min_pairs:
            d, o = np.array(run).T
            k = int(np.argsort(o - speed * d)[len(run) // 2])
            out.append(Cluster(run[0][0], run[-1][0], float(d[k]), float(o[k]), len(run)))

    for d, o in pts:
        if run:
            offs = [oo - speed * dd for dd, oo in run]
            if abs((o - speed * d) - float(np.median(offs))) > params.edit_tol_s:
                close()
                run = []
        run.append((d, o))
    close()
    return out


def window_grid(duration: float, params: WindowParams) -> list[Region]:
    """Windows of window_s over the dub, the first at 0, the last ending at its end, at
    most spacing_s apart."""
    w = min(params.window_s, duration)
    n = max(1, math.ceil((duration - w) / params.spacing_s)) if duration > w else 0
    starts = np.linspace(0.0, duration - w, n + 1) if n else np.array([0.0])
    return [(float(a), float(a + w)) for a in starts]


def _union(ranges: Sequence[Region], duration: float) -> list[Region]:
    return normalize_regions(ranges, duration, pad=0.0, merge_gap=1.0)


class SparseListening:
    """The window schedule over two listeners (module doc)."""

    def __init__(self, orig, dub, vectors: Embeddings, speed_hint: float | None,
                 params: WindowParams = WindowParams(),
                 progress: Callable[[float], None] | None = None):
        self.orig, self.dub, self.vec, self.p = orig, dub, vectors, params
        self.hint = speed_hint
        self.progress = progress
        self.plan = Plan(speed=speed_hint or 1.0)

    # ---------------------------------------------------------------- one stretch
    def _locate(self, dub_span: Region, orig_ranges: list[Region]) -> list[Cluster]:
        self.orig.hear(orig_ranges)
        d_ph = self.dub.phrases_in([dub_span])
        o_ph = self.orig.phrases_in(orig_ranges)
        if not d_ph or not o_ph:
            return []
        self.vec.prepare(o_ph, d_ph)
        _, _, matches = match_transcripts(o_ph, d_ph, self.vec(o_ph), self.vec(d_ph))
        return clusters_of(d_ph, o_ph, matches, self.plan.speed, self.p)

    def _range(self, span: Region, at: Cluster | None, margin: float) -> Region:
        """Where `span` of the dub plays on the original by `at`'s offset (the hint's
        place when None), ± `margin` plus the speed's uncertainty over the distance."""
        s = self.plan.speed
        a, b = span
        if at is None:
            slack = self._slack() * b
            return (s * a - margin - slack, s * b + margin + slack)
        slack = self._slack() * max(abs(a - at.dub_t), abs(b - at.dub_t))
        o = at.orig_t - s * at.dub_t
        return (o + s * a - margin - slack, o + s * b + margin + slack)

    def _slack(self) -> float:
        known = len(self._slopes()) >= 2
        return self.p.speed_slack if (known or self.hint) else 0.06

    def _slopes(self) -> list[float]:
        cs = self.plan.clusters
        return [(c2.orig_t - c1.orig_t) / (c2.dub_t - c1.dub_t) for c1, c2 in zip(cs, cs[1:])
                if c2.dub_t - c1.dub_t >= 300.0]

    def _update_speed(self) -> None:
        slopes = self._slopes()
        if not slopes:
            return
        s = float(np.median(slopes))
        if len(slopes) >= 2 or self.hint is None:
            self.plan.speed = self.hint if self.hint and abs(s - self.hint) < 0.001 else s

    # ---------------------------------------------------------------- the schedule
    def windows(self) -> None:
        grid = window_grid(self.dub.duration, self.p)
        for k, span in enumerate(grid):
            safe_fraction(self.progress, 0.8 * k / len(grid))
            self.plan.windows += 1
            self.dub.hear([span])
            if lines(self.dub.phrases_in([span])) < self.p.min_lines:
                continue
            self.plan.with_lines += 1
            last = self.plan.clusters[-1] if self.plan.clusters else None
            margin = self.p.margin_s if last else self.p.seed_margin_s
            ranges = _union([self._range(span, last, margin)], self.orig.duration)
            found = self._locate(span, ranges)
            if not found:                       # an edit of minutes since `last`
                ranges = _union([self._range(span, last, margin - self.p.margin_s
                                             + self.p.wide_margin_s)], self.orig.duration)
                found = self._locate(span, ranges)
            if not found:
                self.plan.unmatched += 1
                if self.plan.unmatched >= 2 and \
                        self.plan.unmatched > self.p.max_unmatched * self.plan.with_lines:
                    return                     # not settling: everything will be heard
                continue
            self.plan.stretches.append(([span], ranges))
            self.plan.clusters.extend(found)
            self._update_speed()
        self.plan.settled = bool(self.plan.clusters) and \
            self.plan.unmatched <= self.p.max_unmatched * self.plan.with_lines

    def edits(self) -> None:
        cs, s = self.plan.clusters, self.plan.speed
        gaps = [(a, b) for a, b in zip(cs, cs[1:])
                if abs(a.offset(s) - b.offset(s)) > self.p.edit_tol_s]
        for i, (a, b) in enumerate(gaps):
            safe_fraction(self.progress, 0.8 + 0.15 * i / len(gaps))
            self._bisect(a, b)

    def _both(self, span: Region, a: Cluster, b: Cluster) -> list[Region]:
        m = self.p.margin_s
        return _union([self._range(span, a, m), self._range(span, b, m)], self.orig.duration)

    def _bisect(self, a: Cluster, b: Cluster, depth: int = 0) -> None:
        """The edit between clusters `a` and `b` (different offsets) narrowed down to
        fill_s of the dub, which is then heard whole."""
        self.plan.edits += 1
        s, tol = self.plan.speed, self.p.edit_tol_s
        t_a, t_b = a.t1, b.t0
        while t_b - t_a > self.p.fill_s:
            mid = (t_a + t_b) / 2
            span = (mid - self.p.bisect_s / 2, mid + self.p.bisect_s / 2)
            self.dub.hear([span])
            ranges = self._both(span, a, b)
            found = self._locate(span, ranges)
            if not found:
                break                           # no lines there to tell: hear the gap
            self.plan.stretches.append(([span], ranges))
            side_a = [c for c in found if abs(c.offset(s) - a.offset(s)) <= tol]
            side_b = [c for c in found if abs(c.offset(s) - b.offset(s)) <= tol]
            other = [c for c in found if c not in side_a and c not in side_b]
            if other and depth < 4:             # a third offset: an edit on each side
                self._bisect(a, other[0], depth + 1)
                self._bisect(other[-1], b, depth + 1)
                return
            if side_a:
                t_a = max(c.t1 for c in side_a)
            if side_b:
                t_b = min(c.t0 for c in side_b)
            if (side_a and side_b) or not (side_a or side_b):
                break                           # the edit is inside this span, or the
                                                # span cannot tell: hear the gap
        gap = (t_a - 1.0, t_b + 1.0)
        self.dub.hear([gap])
        ranges = self._both(gap, a, b)
        self.orig.hear(ranges)
        self.plan.stretches.append(([gap], ranges))

    def run(self) -> Plan:
        self.windows()
        if self.plan.settled:
            self.edits()
        safe_fraction(self.progress, 0.95)
        return self.plan


def merge_stretches(stretches: Sequence[tuple[list[Region], list[Region]]]
                    ) -> list[tuple[list[Region], list[Region]]]:
    """Stretches whose dub spans overlap or touch, as one (their original ranges
    joined): the matcher then sees an edit's both sides together."""
    items = sorted(((min(a for a, _ in d), max(b for _, b in d), o) for d, o in stretches),
                   key=lambda x: x[0])
    out: list[list] = []
    for a, b, o in items:
        if out and a <= out[-1][1] + 1.0:
            out[-1][1] = max(out[-1][1], b)
            out[-1][2] = out[-1][2] + list(o)
        else:
            out.append([a, b, list(o)])
    return [([(a, b)], normalize_regions(o, math.inf, pad=0.0, merge_gap=1.0))
            for a, b, o in out]


def match_stretches(orig, dub, vectors: Embeddings,
                    stretches: Sequence[tuple[list[Region], list[Region]]]
                    ) -> tuple[list[Anchor], list[PhrasePair]]:
    """Each stretch's dub lines matched with the original heard for it; all the pairs."""
    anchors: list[Anchor] = []
    pairs: list[PhrasePair] = []
    vectors.prepare(*(ph for d, o in stretches for ph in (dub.phrases_in(d),
                                                          orig.phrases_in(o))))
    for d_spans, o_spans in stretches:
        d_ph, o_ph = dub.phrases_in(d_spans), orig.phrases_in(o_spans)
        if not d_ph or not o_ph:
            continue
        a, p, _ = match_transcripts(o_ph, d_ph, vectors(o_ph), vectors(d_ph))
        anchors += a
        pairs += p
    order = np.argsort([a.dub_t for a in anchors], kind="stable")
    return [anchors[i] for i in order], sorted(pairs, key=lambda p: p.dub_start)


def hear_and_match(orig, dub, embed: Callable[[list[str]], np.ndarray], *,
                   orig_regions: Sequence[Region] | None = None,
                   dub_regions: Sequence[Region] | None = None,
                   speed_hint: float | None = None, sparse_after_s: float = SPARSE_AFTER_S,
                   params: WindowParams = WindowParams(),
                   progress: Callable[[float], None] | None = None) -> SpeechResult:
    """Speech anchors from two listeners: inside the regions when given ((start, end)
    seconds of each track, padded by REGION_PAD; None: the whole track); for whole
    tracks of a dub of `sparse_after_s` or longer, the window schedule first (module
    doc). `embed(texts)`: unit vectors. Timings and counts in `SpeechResult.timings`."""
    t_start = time.monotonic()
    vec = Embeddings(embed)
    sub = _sub_progress
    plan: Plan | None = None
    whole_o, whole_d = [(0.0, orig.duration)], [(0.0, dub.duration)]
    stretches = None
    if orig_regions is not None or dub_regions is not None:
        o_spans = whole_o if orig_regions is None else normalize_regions(orig_regions,
                                                                         orig.duration)
        d_spans = whole_d if dub_regions is None else normalize_regions(dub_regions,
                                                                        dub.duration)
    else:
        o_spans, d_spans = whole_o, whole_d
        if dub.duration >= sparse_after_s:
            plan = SparseListening(orig, dub, vec, speed_hint, params,
                                   sub(progress, 0.0, 0.8)).run()
            if plan.settled:
                stretches = merge_stretches(plan.stretches)
    if stretches is None:                      # everything asked for, matched as one
        lo = 0.0 if plan is None else 0.8
        share = sum(b - a for a, b in o_spans)
        mid = lo + (0.9 - lo) * share / max(share + sum(b - a for a, b in d_spans), 1e-9)
        orig.hear(o_spans, sub(progress, lo, mid))
        dub.hear(d_spans, sub(progress, mid, 0.9))
        stretches = [(d_spans, o_spans)]
    anchors, pairs = match_stretches(orig, dub, vec, stretches)
    d_all = dub.phrases_in(d_spans)
    safe_fraction(progress, 1.0)
    o_lang, d_lang = orig.detected[0], dub.detected[0]
    timings = {
        "orig_rtf": round(orig.elapsed / orig.seconds, 4) if orig.seconds else 0.0,
        "dub_rtf": round(dub.elapsed / dub.seconds, 4) if dub.seconds else 0.0,
        "orig_transcribed_s": round(orig.seconds, 2),
        "dub_transcribed_s": round(dub.seconds, 2),
        "orig_transcribe_s": round(orig.elapsed, 2), "dub_transcribe_s": round(dub.elapsed, 2),
        "embed_s": round(vec.seconds, 3), "total_s": round(time.monotonic() - t_start, 2),
    }
    if plan is not None:
        timings.update(windows=plan.windows, windows_with_lines=plan.with_lines,
                       windows_unmatched=plan.unmatched, edits=plan.edits,
                       sparse=1.0 if plan.settled else 0.0)
    logger.info("speech: %s %d phrases, %s %d phrases, %d pairs; heard %.0f s of the "
                "original, %.0f s of the dub%s", o_lang, len(orig.phrases), d_lang,
                len(d_all), len(pairs), orig.seconds, dub.seconds,
                "" if plan is None else f" ({'windows' if plan.settled else 'whole'}: "
                f"{plan.windows} windows, {plan.unmatched} unmatched, {plan.edits} edits)")
    return SpeechResult(anchors, pairs, o_lang, d_lang, timings,
                        dub_lines=tuple((p.start, p.end, p.text) for p in d_all))


def _sub_progress(progress: Callable[[float], None] | None, lo: float, hi: float):
    if progress is None:
        return None
    return lambda f: safe_fraction(progress, lo + (hi - lo) * min(1.0, max(0.0, f)))
