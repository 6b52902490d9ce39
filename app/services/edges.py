"""Edit edges on the waveforms: a second, finer look at every cut and insert boundary.

The onset envelopes place an edge from the shared bed's transients; where dialogue
masks the bed right at the edit (a line running into an inserted logo), they have
nothing to say for a second or two. The bed is still there under the voices, and two
releases of one film carry the same bed *waveform* (codecs keep the low band's phase):
the local correlation of the two band-passed signals stays well above zero while
speech plays over it, and falls to zero the moment the dub stops following the
original. This module re-places each edge on that evidence, within a few seconds of the
envelope's answer, and only where the waveforms prove to match beside the edge (a
pitch-corrected PAL transfer, or a remastered bed, has no usable phase: the envelope's
edge then stands).

Pure numpy; the audio comes from two loader callables, so tests feed arrays.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Callable, Sequence

import numpy as np
from scipy.signal import butter, resample, sosfiltfilt

from app.services.anchors import change_point
from app.services.features import HOP, SAMPLE_RATE
from app.services.timemap import Segment, TimeMap

BAND_HZ = (60.0, 1500.0)     # where a bed keeps its phase through lossy codecs
WINDOW_S = 0.05              # local correlation window
REACH_S = 3.0                # how far an edge may move from the envelope's answer
MIN_MATCH = 0.3              # coherence that proves the waveforms match beside an edge,
MIN_MATCH_BLOCKS = 4         # ... in at least this many 0.25 s blocks of each side
NULL_COST = 0.02             # per frame of dub left without a counterpart
PRIOR_COST = 1e-3            # per frame away from the envelope's edge (breaks ties only)
MAX_LAG_S = 0.01             # residual lag searched per side (anchors, decoder delays)
MAX_REACH_S = 30.0           # an edge never moves further than this

Loader = Callable[[float, float], np.ndarray]   # (start s, duration s) -> mono 16 kHz


def local_coherence(x: np.ndarray, y: np.ndarray, window_s: float = WINDOW_S,
                    rate: int = SAMPLE_RATE) -> np.ndarray:
    """Per 10 ms frame, the normalized correlation of x and y (equal length) over a
    window centred on the frame: ~1 where they carry the same waveform, ~0 where not,
    and 0 in silence."""
    n = min(len(x), len(y))
    hop = rate * HOP // SAMPLE_RATE
    frames = n // hop
    if frames == 0:
        return np.zeros(0)
    x = x[:n].astype(np.float64)
    y = y[:n].astype(np.float64)
    w = max(2, int(window_s * rate))

    def movsum(v):
        c = np.concatenate([[0.0], np.cumsum(v)])
        centre = np.arange(frames) * hop + hop // 2
        a = np.clip(centre - w // 2, 0, n)
        b = np.clip(centre + w // 2, 0, n)
        return c[b] - c[a]
    xy, xx, yy = movsum(x * y), movsum(x * x), movsum(y * y)
    floor = 1e-6 * max(float(np.mean(x * x)), float(np.mean(y * y)), 1e-12) * w
    return xy / np.sqrt((xx + floor) * (yy + floor))


def best_lag(dub: np.ndarray, orig: np.ndarray, max_lag_s: float = MAX_LAG_S) -> int:
    """Whole-sample lag L (|L| <= max_lag_s) with orig[t + L] best matching dub[t]: what
    is left of the anchors' error and of the decoders' delays, which the waveform is
    far less tolerant of than the envelope."""
    n = min(len(dub), len(orig))
    m = int(max_lag_s * SAMPLE_RATE)
    if n < 4 * m or m < 1:
        return 0
    size = 1 << int(np.ceil(np.log2(2 * n)))
    xc = np.fft.irfft(np.fft.rfft(orig[:n], size) * np.conj(np.fft.rfft(dub[:n], size)), size)
    lags = np.concatenate([xc[: m + 1], xc[-m:]])          # lag 0..m, then -m..-1
    j = int(np.argmax(lags))
    return j if j <= m else j - len(lags)


def shift(orig: np.ndarray, lag: int) -> np.ndarray:
    """out[t] = orig[t + lag], zero-filled."""
    out = np.zeros_like(orig)
    if lag >= 0:
        out[: len(orig) - lag] = orig[lag:]
    else:
        out[-lag:] = orig[: len(orig) + lag]
    return out


def _bandpass(x: np.ndarray) -> np.ndarray:
    if len(x) < 64:
        return x.astype(np.float64)
    sos = butter(4, BAND_HZ, btype="band", fs=SAMPLE_RATE, output="sos")
    return sosfiltfilt(sos, x.astype(np.float64))


def _load(loader: Loader, start: float, dur: float) -> np.ndarray:
    """`loader` over [start, start + dur), zero-padded where that is outside the file."""
    n = int(round(dur * SAMPLE_RATE))
    out = np.zeros(n)
    s0 = max(start, 0.0)
    if start + dur <= 0:
        return out
    x = np.asarray(loader(s0, start + dur - s0), dtype=np.float64)
    k = int(round((s0 - start) * SAMPLE_RATE))
    m = min(len(x), n - k)
    if m > 0:
        out[k:k + m] = x[:m]
    return out


def refine_edge(a: Segment, b: Segment, load_orig: Loader, load_dub: Loader,
                reach: float = REACH_S, bounds: tuple[float, float] | None = None,
                max_lag_s: float = MAX_LAG_S, one_sided: bool = False
                ) -> tuple[float, float] | None:
    """New (end of a, start of b) in dub seconds, or None to keep the envelope's edge.

    The edge is searched within `reach` s of the current one, and further out as far as
    `bounds` (dub s: the last anchor of `a`, the first of `b`: the evidence that placed
    the edge says nothing finer); `max_lag_s`: how far off the segments' offsets may be.
    `one_sided`: when only one side shows the shared waveform, the edge moves out to
    where that side's coherent stretches end (never inward).
    """
    speed = a.speed
    x1, x2 = a.dub_end, b.dub_start
    lo, hi = x1 - reach, x2 + reach
    if bounds is not None:
        lo = max(min(lo, bounds[0]), x1 - MAX_REACH_S)
        hi = min(max(hi, bounds[1]), x2 + MAX_REACH_S)
    lo = max(a.dub_start, lo)
    hi = min(b.dub_end, hi)
    if hi - lo < 0.5 or x1 - lo < 0.2 or hi - x2 < 0.2:
        return None
    dub = _load(load_dub, lo, hi - lo)
    if abs(speed - 1.0) > 1e-9:        # onto the original's clock
        dub = resample(dub, max(1, int(round(len(dub) * speed))))
    dur = len(dub) / SAMPLE_RATE
    dub = _bandpass(dub)
    fr = SAMPLE_RATE // HOP            # 10 ms frames
    p1 = int(round((x1 - lo) * speed * fr))
    p2 = int(round((x2 - lo) * speed * fr))
    hop = HOP
    oa = _bandpass(_load(load_orig, a.to_original(lo), dur))
    ob = _bandpass(_load(load_orig, b.to_original(lo), dur))
    # The residual lag of each side, measured where that side surely plays.
    cut_a, cut_b = max(p1, 1) * hop, min(p2 * hop, len(dub) - 1)
    oa = shift(oa, best_lag(dub[:cut_a], oa[:cut_a], max_lag_s))
    ob = shift(ob, best_lag(dub[cut_b:], ob[cut_b:], max_lag_s))
    sa = local_coherence(dub, oa)
    sb = local_coherence(dub, ob)
    n = min(len(sa), len(sb))
    if n < 20:
        return None
    sa, sb = sa[:n], sb[:n]

    def strong(v: np.ndarray) -> bool:
        if len(v) < 25:
            return False
        blocks = v[: len(v) // 25 * 25].reshape(-1, 25).mean(axis=1)
        return int((blocks >= MIN_MATCH).sum()) >= MIN_MATCH_BLOCKS
    gap = int(math.ceil(max(0.0, a.offset - b.offset) * fr - 1e-6))
    ok_a, ok_b = strong(sa[:max(p1, 0)]), strong(sb[min(p2, n):])
    if one_sided and ok_a != ok_b:
        # Only one side shows the shared waveform (the other is silent or masked): its
        # segment provably plays as far as its coherent stretches reach.
        blocks_a = sa[: n // 25 * 25].reshape(-1, 25).mean(axis=1) >= MIN_MATCH
        blocks_b = sb[: n // 25 * 25].reshape(-1, 25).mean(axis=1) >= MIN_MATCH
        if ok_a and blocks_a.any():
            end = (int(np.flatnonzero(blocks_a)[-1]) + 1) * 25
            if end > p1:
                return lo + end / fr / speed, lo + (end + gap) / fr / speed
        if ok_b and blocks_b.any():
            start = int(np.flatnonzero(blocks_b)[0]) * 25
            if start < p2:
                return lo + max(0, start - gap) / fr / speed, lo + start / fr / speed
        return None
    if not (ok_a and ok_b):
        return None                     # no shared waveform beside the edge: keep it
    n1, n2 = change_point(sa, sb, gap, NULL_COST, prior=(p1, p2), prior_cost=PRIOR_COST)
    return lo + n1 / fr / speed, lo + n2 / fr / speed


def refine_edges(tmap: TimeMap, load_orig: Loader, load_dub: Loader,
                 reach: float = REACH_S,
                 anchors: Sequence[tuple[float, float]] = (),
                 max_lag_s: float = MAX_LAG_S,
                 widen: bool = False) -> tuple[TimeMap, list[dict]]:
    """Every interior edge of `tmap` re-placed on the waveforms where they allow it.
    `anchors`: (dub_t, orig_t) of the anchors behind the map; each belongs to the side
    whose offset it fits, and an edge may move anywhere between the last anchor of the
    segment before it and the first of the segment after it, never past them. With
    `widen` (speech-placed maps, whose edges may be a line or two off), a side without
    the shared waveform within `reach` makes the search widen (x2, x4, <= MAX_REACH_S).
    Returns the new map and, per edge, what moved (for the report)."""
    pts = sorted(anchors)
    segs = list(tmap.segments)
    moves: list[dict] = []
    for k in range(len(segs) - 1):
        a, b = segs[k], segs[k + 1]
        if a.dub_end <= a.dub_start or b.dub_end <= b.dub_start:
            continue
        near = [(d, abs(o - a.to_original(d)) <= abs(o - b.to_original(d)))
                for d, o in pts if a.dub_start <= d <= b.dub_end]
        last_a = max([d for d, is_a in near if is_a], default=None)
        first_b = min([d for d, is_a in near if not is_a], default=None)
        if last_a is not None and first_b is not None and first_b < last_a:
            last_a = first_b = None    # anchors that disagree: no bound from them
        # No shared waveform within reach (silence, or a line on each side): look
        # twice and four times as far before keeping the envelope's edge.
        got = None
        r = reach
        while got is None and r <= (MAX_REACH_S if widen else reach):
            got = refine_edge(a, b, load_orig, load_dub, r,
                              (a.dub_end if last_a is None else last_a,
                               b.dub_start if first_b is None else first_b), max_lag_s,
                              one_sided=widen)
            r *= 2
        if got is None:
            moves.append({"dub_t": round(a.dub_end, 3), "moved_s": 0.0, "evidence": "envelope"})
            continue
        e1, e2 = got
        # Never past an anchor: the last one of `a` and the first of `b` prove their sides.
        lo_e = a.dub_start + 0.05 if last_a is None else max(a.dub_start + 0.05, last_a)
        hi_e = b.dub_end - 0.05 if first_b is None else min(b.dub_end - 0.05, first_b)
        e1 = min(max(e1, lo_e), hi_e)
        e2 = min(max(e2, e1), max(hi_e, e1))
        moves.append({"dub_t": round(e1, 3), "moved_s": round(e1 - a.dub_end, 3),
                      "evidence": "waveform"})
        segs[k] = dataclasses.replace(a, dub_end=e1)
        segs[k + 1] = dataclasses.replace(b, dub_start=e2, orig_start=b.to_original(e2))
    return dataclasses.replace(tmap, segments=tuple(segs)), moves
