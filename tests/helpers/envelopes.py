"""Synthetic onset envelopes with a known time map, for the pure engine modules (align,
anchors, fit) on small arrays: no ffmpeg. (No tests here.)

The "original bed" is a sparse onset-like envelope: Poisson events, each a short
attack/decay bump, sampled at 100 Hz from a continuous-time definition, so a dub can be
made *exactly* by its time map (shift, speed, cut, insert) at any sub-frame position.
Both tracks also carry independent "speech" events (their own dialogue), and the dub's
lead-in and inserts are fresh material the original does not have.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from app.services import features
from app.services.align import align_envelopes
from app.services.timemap import TimeMap

RATE = features.FRAME_RATE          # 100 frames per second
TAU = 0.015                  # s: rise time of one onset bump
BED_RATE = 4.0               # bed events per second
SPEECH_RATE = 1.5            # dialogue events per second (different on each track)
PAL = 25 * 1001 / 24000      # 1.0427083...


# ------------------------------------------------------------------ synthetic envelopes

@dataclass(frozen=True)
class Events:
    t: np.ndarray
    a: np.ndarray


def poisson_events(rng: np.random.Generator, t0: float, t1: float, rate: float) -> Events:
    n = rng.poisson(rate * max(0.0, t1 - t0))
    return Events(np.sort(rng.uniform(t0, t1, n)), rng.uniform(0.3, 1.0, n))


def join(*evs: Events) -> Events:
    t = np.concatenate([e.t for e in evs])
    a = np.concatenate([e.a for e in evs])
    o = np.argsort(t)
    return Events(t[o], a[o])


def sample(ev: Events, times: np.ndarray) -> np.ndarray:
    """Envelope at arbitrary `times` (s): sum of a * x * exp(1 - x), x = (t - t_i) / TAU."""
    out = np.zeros(len(times))
    order = np.argsort(times)
    ts = times[order]
    for t, a in zip(ev.t, ev.a):
        lo, hi = np.searchsorted(ts, [t, t + 0.25])
        x = (ts[lo:hi] - t) / TAU
        out[order[lo:hi]] += a * x * np.exp(1.0 - x)
    return out


def frames(duration: float) -> np.ndarray:
    return np.arange(int(round(duration * RATE))) / RATE


@dataclass
class Pair:
    orig: np.ndarray
    dub: np.ndarray
    orig_duration: float
    dub_duration: float
    segments: list[tuple[float, float, float, float]]    # true (dub_start, dub_end, orig_start, speed)
    bed: Events

    def true_orig(self, dub_t: float) -> float | None:
        for d0, d1, o0, s in self.segments:
            if d0 <= dub_t < d1:
                return o0 + (dub_t - d0) * s
        return None


def make_pair(segments: list[tuple[float, float, float, float]], orig_duration: float,
              dub_duration: float, seed: int, plant: list[float] = ()) -> Pair:
    """Original = bed + its speech; dub = the bed placed by `segments` (dub time -> original
    time), fresh material where no segment covers the dub, + the dub's own speech.
    `plant`: original times that get a strong bed event (so a boundary is observable)."""
    rng = np.random.default_rng(seed)
    bed = poisson_events(rng, 0.0, orig_duration, BED_RATE)
    if plant:
        bed = join(bed, Events(np.asarray(plant, float), np.ones(len(plant))))
    ot = frames(orig_duration)
    orig = sample(bed, ot) + sample(poisson_events(rng, 0, orig_duration, SPEECH_RATE), ot)
    orig += 0.01 * rng.random(len(orig))
    dt = frames(dub_duration)
    mapped = np.full(len(dt), np.nan)
    for d0, d1, o0, s in segments:
        sel = (dt >= d0) & (dt < d1)
        mapped[sel] = o0 + (dt[sel] - d0) * s
    inside = ~np.isnan(mapped)
    dub = np.zeros(len(dt))
    dub[inside] = sample(bed, mapped[inside])
    fresh = sample(poisson_events(rng, 0, dub_duration, BED_RATE), dt)   # lead-in, inserts
    dub[~inside] = fresh[~inside]
    dub += sample(poisson_events(rng, 0, dub_duration, SPEECH_RATE), dt)
    dub += 0.01 * rng.random(len(dub))
    return Pair(orig.astype(np.float32), dub.astype(np.float32), orig_duration, dub_duration,
                segments, bed)


def align_pair(p: Pair):
    """align_envelopes on the pair's two tracks."""
    return align_envelopes(p.orig, p.dub, p.orig_duration, p.dub_duration)


def significant(intervals, min_len: float = 0.1):
    """Intervals longer than `min_len` (a few ms of mismatch at the films' ends is noise)."""
    return [tuple(iv) for iv in intervals if iv[1] - iv[0] > min_len]


def assert_map_follows(tmap: TimeMap, p: Pair, tol: float, margin: float = 1.0) -> None:
    """to_original agrees with the true map at every second of the dub that is at least
    `margin` s from a true boundary."""
    edges = [e for seg in p.segments for e in seg[:2]]
    checked = 0
    for t in np.arange(0.5, p.dub_duration - 0.5, 1.0):
        if min(abs(t - e) for e in edges) < margin:
            continue
        want = p.true_orig(t)
        got = tmap.to_original(t)
        if want is None:
            assert got is None, f"dub {t:.1f} s is new material but maps to {got}"
        else:
            assert got is not None, f"dub {t:.1f} s should map to {want:.3f} s, maps to nothing"
            assert abs(got - want) <= tol, f"dub {t:.1f} s -> {got:.4f}, want {want:.4f}"
        checked += 1
    assert checked > 50
