"""Engine, pure modules on synthetic arrays (no ffmpeg).

The "original bed" is a sparse onset-like envelope: Poisson events, each a short
attack/decay bump, sampled at 100 Hz from a continuous-time definition, so a dub can be
made *exactly* by its time map (shift, speed, cut, insert) at any sub-frame position.
Both tracks also carry independent "speech" events (their own dialogue), and the dub's
lead-in and inserts are fresh material the original does not have.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from app.services import anchors as A
from app.services import features as F
from app.services import fit
from app.services.align import align_envelopes
from app.services.timemap import Segment, TimeMap

RATE = F.FRAME_RATE          # 100 frames per second
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


def _align(p: Pair):
    return align_envelopes(p.orig, p.dub, p.orig_duration, p.dub_duration)


def _significant(intervals, min_len: float = 0.1):
    """Intervals longer than `min_len` (a few ms of mismatch at the films' ends is noise)."""
    return [tuple(iv) for iv in intervals if iv[1] - iv[0] > min_len]


def _assert_map_follows(tmap: TimeMap, p: Pair, tol: float, margin: float = 1.0) -> None:
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


# ------------------------------------------------------------------ align_envelopes

@pytest.mark.parametrize("offset", [7.3456, 0.0131, -4.2178])
@pytest.mark.parametrize("seed", [1, 2])
def test_align_recovers_a_known_offset(offset, seed):
    """orig_t = dub_t - lead_in (a positive offset: the dub starts late, it lacks the
    original's first seconds)."""
    T = 180.0
    if offset >= 0:        # the dub lacks the original's first `offset` s
        segs = [(0.0, T - offset, offset, 1.0)]
        dub_dur = T - offset
    else:                  # the dub has a lead-in of -offset s
        segs = [(-offset, T - offset, 0.0, 1.0)]
        dub_dur = T - offset
    p = make_pair(segs, T, dub_dur, seed)
    al = _align(p)
    tm = al.tmap
    assert tm.confidence >= 0.8, al.diagnostics
    assert len(tm.segments) == 1, tm.to_dict()
    assert abs(tm.segments[0].offset - offset) <= 0.002, tm.segments[0]
    assert abs(tm.speed - 1.0) <= 1e-5
    _assert_map_follows(tm, p, 0.002)
    if offset < 0:
        assert [(round(a, 1), round(b, 1)) for a, b in _significant(tm.inserts)] == \
            [(0.0, round(-offset, 1))]


def test_align_pure_shift_is_single_shift():
    """A pure delay must come out as ONE segment at speed exactly 1 (TimeMap.is_single_shift),
    or the render re-encodes a dub that only needed its packets shifted (issue 2: "One
    segment at speed 1: no re-encode at all")."""
    T, lead = 150.0, 2.5
    p = make_pair([(lead, T + lead, 0.0, 1.0)], T, T + lead, seed=11)
    tm = _align(p).tmap
    assert len(tm.segments) == 1
    assert tm.is_single_shift, f"speed {tm.speed!r} is not exactly 1: the dub would be re-encoded"


@pytest.mark.parametrize("speed", [1.0427, 0.959, PAL])
def test_align_recovers_a_known_speed(speed):
    T, lead = 200.0, 3.1
    dub_len = T / speed
    p = make_pair([(lead, lead + dub_len, 0.0, speed)], T, lead + dub_len + 1.0, seed=5)
    al = _align(p)
    tm = al.tmap
    assert tm.confidence >= 0.8, al.diagnostics
    assert abs(tm.speed - speed) <= 1e-5, (tm.speed, speed)
    assert len(tm.segments) == 1, tm.to_dict()
    assert abs(tm.segments[0].offset - (-lead * speed)) <= 0.005
    _assert_map_follows(tm, p, 0.005)


def test_align_recovers_a_cut():
    """The dub lacks original [97.3, 103.5) (6.2 s), and has a 2 s lead-in."""
    T, lead, c0, D = 200.0, 2.0, 97.3, 6.2
    segs = [(lead, lead + c0, 0.0, 1.0), (lead + c0, lead + T - D, c0 + D, 1.0)]
    p = make_pair(segs, T, lead + T - D, seed=7, plant=[c0 - 0.06, c0 + D + 0.03])
    al = _align(p)
    tm = al.tmap
    assert tm.confidence >= 0.8, al.diagnostics
    assert len(tm.segments) == 2, tm.to_dict()
    a, b = tm.segments
    assert abs(a.offset - (-lead)) <= 0.005 and abs(b.offset - (D - lead)) <= 0.005, tm.to_dict()
    assert abs(a.dub_end - (lead + c0)) <= 0.1, a
    assert abs(b.dub_start - (lead + c0)) <= 0.1, b
    cuts = _significant(tm.cuts)
    assert len(cuts) == 1, tm.cuts
    assert abs(cuts[0][0] - c0) <= 0.1 and abs(cuts[0][1] - (c0 + D)) <= 0.1, cuts
    _assert_map_follows(tm, p, 0.005)


def test_align_recovers_an_insert():
    """The dub has 5.4 s of new material (e.g. a commercial) at dub 81.2 s."""
    T, lead, i0, D = 200.0, 1.5, 79.7, 5.4
    segs = [(lead, lead + i0, 0.0, 1.0), (lead + i0 + D, lead + T + D, i0, 1.0)]
    p = make_pair(segs, T, lead + T + D, seed=9, plant=[i0 - 0.05, i0 + 0.04])
    al = _align(p)
    tm = al.tmap
    assert tm.confidence >= 0.8, al.diagnostics
    assert len(tm.segments) == 2, tm.to_dict()
    a, b = tm.segments
    assert abs(a.offset - (-lead)) <= 0.005 and abs(b.offset - (-lead - D)) <= 0.005, tm.to_dict()
    inserts = _significant(tm.inserts)
    assert len(inserts) == 2, tm.inserts                    # the lead-in and the insert
    assert abs(inserts[0][1] - lead) <= 0.1
    assert abs(inserts[1][0] - (lead + i0)) <= 0.1 and abs(inserts[1][1] - (lead + i0 + D)) <= 0.1
    assert _significant(tm.cuts) == []
    _assert_map_follows(tm, p, 0.005)


def test_align_recovers_speed_cut_and_insert_together():
    """PAL speed-up, a 2.5 s lead-in, a 6 s cut and a 4 s insert in one dub."""
    s, lead = PAL, 2.5
    T = 240.0
    c0, D = 70.0, 6.0             # original [70, 76) missing
    i_orig, I = 160.0, 4.0        # 4 s (dub time) of new material before original 160
    d1 = lead + c0 / s
    d2 = d1 + (i_orig - (c0 + D)) / s
    segs = [(lead, d1, 0.0, s), (d1, d2, c0 + D, s), (d2 + I, d2 + I + (T - i_orig) / s, i_orig, s)]
    p = make_pair(segs, T, segs[-1][1], seed=13,
                  plant=[c0 - 0.05, c0 + D + 0.04, i_orig - 0.05, i_orig + 0.04])
    al = _align(p)
    tm = al.tmap
    assert tm.confidence >= 0.8, al.diagnostics
    assert abs(tm.speed - s) <= 1e-5
    assert len(tm.segments) == 3, tm.to_dict()
    for got, want in zip(tm.segments, segs):
        assert abs(got.offset - (want[2] - want[0] * s)) <= 0.005, (got, want)
        assert abs(got.dub_start - want[0]) <= 0.1 and abs(got.dub_end - want[1]) <= 0.1, \
            (got, want)
    _assert_map_follows(tm, p, 0.005)


def _stray_lead_in_pair(lead: float = 14.0, T: float = 200.0, far: float = 150.0):
    """A dub whose lead-in (a logo) happens to sound like the original at `far` s (a
    recurring effect, a jingle on a music cue): its first windows match there strongly."""
    p = make_pair([(lead, lead + T, 0.0, 1.0)], T, lead + T, seed=31)
    n = int(lead * RATE)
    dub = p.dub.copy()
    dub[:n] = p.orig[int(far * RATE): int(far * RATE) + n]
    return Pair(p.orig, dub, p.orig_duration, p.dub_duration, p.segments, p.bed)


def test_align_drops_a_stray_run_that_cannot_precede_the_film():
    """A stray run at offset +150 s before the film's run at -14 s would need a 164 s
    insert between them where there is no room: before the fix the edge search forced
    it in anyway, centred between the runs, and dropped the film's first ~80 s. The
    stray run must go and the film start at the end of the lead-in (+-0.1 s)."""
    lead = 14.0
    p = _stray_lead_in_pair(lead)
    al = _align(p)
    tm = al.tmap
    live = [sg for sg in tm.segments if sg.dub_end > sg.dub_start]
    assert len(live) == 1, tm.to_dict()
    assert abs(live[0].offset - (-lead)) <= 0.005, tm.to_dict()
    assert abs(live[0].dub_start - lead) <= 0.1, tm.to_dict()
    assert al.diagnostics.dropped_runs, al.diagnostics
    _assert_map_follows(tm, p, 0.005)


def _runs_of(slots):
    return fit.merge_runs(fit.decode(slots, fit.cluster_offsets(slots)).runs)


def test_drop_conflicting_runs_keeps_the_stronger_side_and_real_inserts():
    """Windows every 4 s (12 s long): three at offset 190 (z 11), then the film at -5
    (z 12) until 180 s, a real 75 s insert (offset -83, its gap fits between the runs'
    evidence), the film again. The 190 run needs a 195 s insert before the film where
    4 s + one window's length separate them: dropped; the real insert stays."""
    slots = []
    for t in np.arange(6.0, 400.0, 4.0):
        if t < 16:
            off, z = 190.0, 11.0
        elif t <= 178:
            off, z = -5.0, 12.0
        elif t < 258:
            slots.append(fit.Slot(float(t), (fit.Candidate(float(t) * 7 % 300, 5.0),)))
            continue
        else:
            off, z = -83.0, 12.0
        slots.append(fit.Slot(float(t), (fit.Candidate(off, z),)))
    runs = _runs_of(slots)
    assert [round(r.offset) for r in runs] == [190, -5, -83]
    kept, dropped = fit.drop_conflicting_runs(runs, slots, 1.0, 6.0)
    assert [round(r.offset) for r in kept] == [-5, -83]
    assert [round(r.offset) for r in dropped] == [190]
    need, room = fit.edge_room(kept, slots, 0, 1.0, 6.0)
    assert need == pytest.approx(78.0) and room >= need


def test_drop_conflicting_runs_leaves_cuts_and_fitting_inserts_alone():
    runs = [fit.Run(0.0, 0, 9, 100.0, 10), fit.Run(30.0, 10, 19, 100.0, 10),   # a cut
            fit.Run(20.0, 25, 40, 150.0, 16)]                 # a 10 s insert, 24 s + 12 s room
    slots = [fit.Slot(4.0 * i + 6.0, (fit.Candidate(0.0, 10.0),)) for i in range(41)]
    kept, dropped = fit.drop_conflicting_runs(runs, slots, 1.0, 6.0)
    assert kept == runs and dropped == []


@pytest.mark.parametrize("seed", [21, 22, 23])
def test_align_refuses_unrelated_envelopes(seed):
    a = make_pair([(0.0, 150.0, 0.0, 1.0)], 150.0, 150.0, seed)
    b = make_pair([(0.0, 160.0, 0.0, 1.0)], 160.0, 160.0, seed + 100)
    tm = align_envelopes(a.orig, b.dub, 150.0, 160.0).tmap
    assert tm.confidence < 0.5, tm.to_dict()
    assert tm.reasons, "a refused map must say why"


# ------------------------------------------------------------------ fit: decode, runs, slope

def _slots_with_outliers(seed: int, true_off: float, n: int = 60, n_bad: int = 8):
    rng = np.random.default_rng(seed)
    bad = set(rng.choice(n, n_bad, replace=False).tolist())
    slots = []
    for i in range(n):
        cands = [fit.Candidate(true_off + rng.normal(0, 0.004), float(rng.uniform(9, 14)))]
        cands += [fit.Candidate(float(rng.uniform(-300, 300)), float(rng.uniform(4, 6)))
                  for _ in range(2)]                         # ordinary sidelobes
        if i in bad:
            wrong = fit.Candidate(float(rng.uniform(-300, 300)), float(rng.uniform(12, 18)))
            if rng.random() < 0.5:
                cands = [wrong] + cands[1:]                  # the true peak is missing
            else:
                cands = [wrong] + cands                      # the true peak ranks second
        slots.append(fit.Slot(4.0 * i + 6.0, tuple(cands)))
    return slots, bad


@pytest.mark.parametrize("seed", range(6))
def test_decode_ignores_wrong_candidates(seed):
    true_off = 12.345
    slots, _bad = _slots_with_outliers(seed, true_off)
    clusters = fit.cluster_offsets(slots)
    runs = fit.merge_runs(fit.decode(slots, clusters).runs)
    assert len(runs) == 1, runs
    r = runs[0]
    assert abs(r.offset - true_off) <= 0.01, r
    assert r.first <= 1 and r.last >= len(slots) - 2, r


def test_decode_follows_a_real_offset_change():
    """A change backed by many slots is a segment boundary, not an outlier."""
    rng = np.random.default_rng(3)
    slots = []
    for i in range(50):
        off = 2.0 if i < 30 else 8.5
        slots.append(fit.Slot(4.0 * i, (fit.Candidate(off, float(rng.uniform(9, 13))),
                                        fit.Candidate(float(rng.uniform(-99, 99)), 5.0))))
    runs = fit.merge_runs(fit.decode(slots, fit.cluster_offsets(slots)).runs)
    assert [round(r.offset, 3) for r in runs] == [2.0, 8.5]
    assert (runs[0].last, runs[1].first) == (29, 30)


def test_merge_runs_joins_equal_offsets_and_drops_weak_runs():
    runs = [fit.Run(1.00, 0, 9, 100.0, 10), fit.Run(1.05, 12, 20, 80.0, 9),
            fit.Run(40.0, 21, 21, 12.0, 1),                  # too weak: dropped
            fit.Run(7.0, 22, 40, 150.0, 19)]
    out = fit.merge_runs(runs)
    assert [(r.first, r.last, r.n) for r in out] == [(0, 20, 19), (22, 40, 19)]
    assert out[0].offset == pytest.approx((1.0 * 100 + 1.05 * 80) / 180)
    assert out[0].z_sum == 180.0


@pytest.mark.parametrize("seed", range(4))
def test_fit_shared_slope_ignores_outliers(seed):
    rng = np.random.default_rng(seed)
    speed, offs = 1.0427, [-2.5, 3.75]
    d = np.sort(rng.uniform(0, 600, 200))
    g = (d > 300).astype(int)
    o = speed * d + np.array(offs)[g] + rng.normal(0, 0.001, len(d))
    bad = rng.choice(len(d), 20, replace=False)
    o[bad] += rng.choice([-1, 1], 20) * rng.uniform(0.05, 2.0, 20)
    w = rng.uniform(8, 15, len(d))
    lf = fit.fit_shared_slope(d, o, g, w, 2, speed0=1.04)
    assert abs(lf.speed - speed) <= 1e-5
    assert abs(lf.offsets[0] - offs[0]) <= 0.002 and abs(lf.offsets[1] - offs[1]) <= 0.002
    assert not lf.inliers[bad].any()
    assert lf.inliers.sum() >= 170
    assert lf.residual_ms < 3.0


def test_fit_shared_slope_fixed_speed():
    d = np.linspace(0, 100, 50)
    o = d + 4.0
    lf = fit.fit_shared_slope(d, o, np.zeros(50, int), np.ones(50), 1, speed0=1.0,
                              fit_speed=False)
    assert lf.speed == 1.0
    assert lf.offsets[0] == pytest.approx(4.0, abs=1e-9)


def test_ransac_speed_ignores_outliers_and_other_segments():
    rng = np.random.default_rng(4)
    d = np.sort(rng.uniform(0, 1000, 120))
    o = PAL * d + np.where(d < 500, 1.0, 7.0)        # two segments, one slope
    o[::10] += rng.uniform(-30, 30, len(o[::10]))
    s = fit.ransac_speed(d, o, np.full(len(d), 10.0), 1.04, max_dev=0.01)
    assert abs(s - PAL) <= 1e-6


# ------------------------------------------------------------------ TimeMap

def _hand_map() -> TimeMap:
    # speed 1.25; dub [1, 9) -> orig [0, 10); dub [11, 19) -> orig [14, 24)
    return TimeMap((Segment(1.0, 9.0, 0.0, 1.25), Segment(11.0, 19.0, 14.0, 1.25)),
                   orig_duration=30.0, dub_duration=20.0, speed=1.25, confidence=0.9)


def test_timemap_to_original_exact():
    tm = _hand_map()
    assert tm.to_original(0.5) is None           # lead-in
    assert tm.to_original(1.0) == 0.0
    assert tm.to_original(5.0) == 5.0
    assert tm.to_original(8.5) == 9.375
    assert tm.to_original(9.0) is None           # segment end is exclusive
    assert tm.to_original(10.0) is None          # insert
    assert tm.to_original(11.0) == 14.0
    assert tm.to_original(12.0) == 15.25
    assert tm.to_original(19.0) is None
    assert tm.to_original(-1.0) is None
    assert tm.segment_at(12.0) is tm.segments[1]
    assert tm.segments[1].to_dub(15.25) == 12.0


def test_timemap_cuts_inserts_exact():
    tm = _hand_map()
    assert tm.inserts == [(0.0, 1.0), (9.0, 11.0), (19.0, 20.0)]
    assert tm.cuts == [(10.0, 14.0), (24.0, 30.0)]
    assert [s.orig_end for s in tm.segments] == [10.0, 24.0]
    assert [s.offset for s in tm.segments] == [-1.25, 0.25]
    assert not tm.is_single_shift
    d = tm.to_dict()
    assert d["cuts"] == [[10.0, 14.0], [24.0, 30.0]]
    assert d["inserts"] == [[0.0, 1.0], [9.0, 11.0], [19.0, 20.0]]
    assert d["segments"][1]["orig_end"] == 24.0 and d["segments"][1]["offset"] == 0.25


def test_timemap_single_shift():
    tm = TimeMap((Segment(0.0, 50.0, 2.5, 1.0),), 60.0, 50.0, 1.0)
    assert tm.is_single_shift
    assert tm.inserts == []
    assert tm.cuts == [(0.0, 2.5), (52.5, 60.0)]
    assert tm.to_original(10.0) == 12.5
    assert not TimeMap((Segment(0.0, 50.0, 0.0, PAL),), 60.0, 50.0, PAL).is_single_shift
    assert TimeMap((), 10.0, 10.0, 1.0).cuts == [(0.0, 10.0)]


# ------------------------------------------------------------------ anchors

@pytest.mark.parametrize("shift", [0, 1234, 4699])
def test_correlator_finds_a_planted_shift(shift):
    rng = np.random.default_rng(shift)
    ref = rng.normal(size=5000)
    w = 3.0 * ref[shift:shift + 300] + 7.0          # gain and DC do not matter
    c = A.Correlator(ref, 400)
    ncc = c.ncc(w)
    assert len(ncc) == 5000 - 300 + 1
    assert int(np.argmax(ncc)) == shift
    assert ncc[shift] == pytest.approx(1.0, abs=1e-5)     # single-precision FFTs
    assert np.abs(np.delete(ncc, shift)).max() < 0.4
    if 0 < shift < len(ncc) - 1:
        pk = A.peaks_of(ncc, rate=100.0, k=3)
        # parabolic interpolation may move the peak by a fraction of a frame
        assert pk[0].lag == pytest.approx(shift / 100.0, abs=0.001) and pk[0].z > 10


@pytest.mark.parametrize("where", ["first", "last"])
def test_peaks_of_keeps_a_peak_at_the_edge(where):
    """A window whose match starts at the reference's first (or last) possible frame:
    the best peak must still be reported (a dub with no offset matches at lag 0)."""
    rng = np.random.default_rng(5)
    ref = rng.normal(size=3000)
    shift = 0 if where == "first" else 3000 - 300
    ncc = A.Correlator(ref, 400).ncc(ref[shift:shift + 300])
    assert int(np.argmax(ncc)) == shift
    pk = A.peaks_of(ncc, rate=100.0, k=3)
    assert pk and pk[0].lag == pytest.approx(shift / 100.0, abs=0.001), pk[:1]


def test_correlator_with_noise_and_sparse_envelope():
    p = make_pair([(0.0, 120.0, 0.0, 1.0)], 120.0, 120.0, seed=3)
    ref = F.normalize(p.orig)
    start = 5321
    w = F.normalize(p.orig)[start:start + 1200] + np.random.default_rng(0).normal(0, 0.5, 1200)
    ncc = A.Correlator(ref, 1300).ncc(w)
    assert int(np.argmax(ncc)) == start


def test_fine_anchor_refines_to_a_millisecond():
    """A fractional shift of 3.4567 s is found to ~1 ms from a coarse guess 60 ms off."""
    ev = poisson_events(np.random.default_rng(8), 0, 120, BED_RATE)
    o = F.normalize(sample(ev, frames(120)).astype(np.float32))
    d = F.normalize(sample(ev, frames(110) + 3.4567).astype(np.float32))
    got = A.fine_anchor(o, d, 30.0, 42.0, 3.4567 + 0.06)
    assert got is not None
    assert abs(got[0] - 3.4567) <= 0.002 and got[1] > 0.9


def test_refine_boundary_places_a_splice():
    """Dub = original [0, 60) then original [66, ...): the switch is found within 0.1 s."""
    ev = poisson_events(np.random.default_rng(12), 0, 150, 6.0)
    o = F.normalize(sample(ev, frames(150)).astype(np.float32))
    dt = frames(120)
    d = F.normalize(sample(ev, np.where(dt < 60.0, dt, dt + 6.0)).astype(np.float32))
    x1, x2 = A.refine_boundary(o, d, 52.0, 68.0, 0.0, 6.0)
    assert abs(x1 - 60.0) <= 0.1 and abs(x2 - 60.0) <= 0.1


# ------------------------------------------------------------------ features

def test_warp_maps_dub_frames_to_the_original_clock():
    env = np.sin(np.arange(1000) / 7.0).astype(np.float32)
    out = F.warp(env, 1.25)
    assert len(out) == 1250
    k = np.arange(0, 1240)
    assert np.allclose(out[k], np.interp(k / 1.25, np.arange(1000), env), atol=1e-6)
    assert F.warp(env, 1.0) is env


def test_decimate_and_normalize():
    x = np.arange(12, dtype=np.float32)
    assert F.decimate(x, 5).tolist() == [2.0, 7.0]
    assert len(F.decimate(x[:3], 5)) == 0
    rng = np.random.default_rng(0)
    loud = np.concatenate([rng.normal(0, 1, 3000), rng.normal(0, 10, 3000)])
    z = F.normalize(loud)
    assert abs(z[:2500].std() - z[3500:].std()) < 0.3      # loud and quiet weigh alike
    assert z.max() <= 8.0 and z.min() >= -3.0


def test_onset_extractor_streaming_equals_whole():
    rng = np.random.default_rng(1)
    x = (rng.normal(0, 0.1, 16000 * 3) * (rng.random(16000 * 3) > 0.5)).astype(np.float32)
    whole, en = F.onset_envelope(x)
    ex = F.OnsetExtractor()
    for i in range(0, len(x), 7777):              # odd block sizes
        ex.feed(x[i:i + 7777])
    env, en2 = ex.finish()
    assert len(whole) == (len(x) - F.WIN) // F.HOP + 1
    assert np.allclose(env, whole, atol=1e-5) and np.allclose(en, en2, atol=1e-5)


def test_onset_envelope_peaks_at_a_click():
    x = np.zeros(16000 * 2, np.float32)
    x[16000:16000 + 80] = 0.5                     # a burst at 1.00 s
    env, _ = F.onset_envelope(x)
    k = int(np.argmax(env))
    assert abs(k / RATE - 1.0) <= 0.03           # frame time = window start


# ------------------------------------------------------------------ holes -> speech regions

def test_find_holes():
    from app.services.align import find_holes
    assert find_holes([10, 14, 18, 80, 84], 120.0, 6.0) == [(24.0, 74.0), (90.0, 120.0)]
    assert find_holes([], 45.0, 6.0) == [(0.0, 45.0)]
    assert find_holes([5.0 + 4 * k for k in range(30)], 125.0, 6.0) == []


def _rebed(p: Pair, t0: float, t1: float, seed: int) -> Pair:
    """The dub's bed between t0 and t1 replaced by unrelated material (a re-scored scene)."""
    rng = np.random.default_rng(seed)
    dt = frames(p.dub_duration)
    sel = (dt >= t0) & (dt < t1)
    fresh = sample(poisson_events(rng, 0, p.dub_duration, BED_RATE), dt)
    dub = p.dub.copy()
    dub[sel] = fresh[sel] + 0.01 * rng.random(int(sel.sum()))
    return Pair(p.orig, dub.astype(np.float32), p.orig_duration, p.dub_duration, p.segments,
                p.bed)


def test_speech_regions_cover_a_hole_with_an_edit_and_skip_a_plain_one():
    """A re-scored stretch that hides a cut gets transcribed (dub hole + the stretch of the
    original its neighbours map it to); one inside a continuous segment does not."""
    from app.services.sync_service import speech_regions
    T = 300.0
    cut = [(0.0, 150.0, 0.0, 1.0), (150.0, 290.0, 160.0, 1.0)]    # orig 150-160 cut
    p = _rebed(make_pair(cut, T, 290.0, seed=21), 110.0, 190.0, seed=5)
    al = _align(p)
    assert any(a <= 125 and b >= 175 for a, b in al.holes), al.holes
    regions = speech_regions(al, T, 290.0)
    assert regions is not None
    (o0, o1), = regions[0]
    (d0, d1), = regions[1]
    assert d0 <= 120 and d1 >= 180
    assert o0 <= 115 and o1 >= 195           # both neighbours' images, with margin
    plain = _rebed(make_pair([(0.0, 290.0, 0.0, 1.0)], T, 290.0, seed=22), 110.0, 190.0, 6)
    al2 = _align(plain)
    assert al2.holes and len(al2.tmap.segments) == 1
    assert speech_regions(al2, T, 290.0) is None


def test_align_reuses_an_audio_scan(monkeypatch):
    """The speech fallback's speech+audio fit must not scan the windows again (30 s on a
    two-hour film)."""
    p = make_pair([(2.0, 182.0, 0.0, 1.0)], 180.0, 182.0, seed=3)
    first = _align(p)
    assert first.scan is not None and first.scan.windows

    def no_scan(*a, **k):
        raise AssertionError("windows scanned again")
    monkeypatch.setattr(A, "scan_windows", no_scan)
    monkeypatch.setattr(A, "find_speed", no_scan)
    again = align_envelopes(p.orig, p.dub, p.orig_duration, p.dub_duration, scan=first.scan)
    assert again.tmap.segments == first.tmap.segments
    assert again.diagnostics.speed_windows == first.scan.speed


@pytest.mark.parametrize("seed", range(6))
def test_top_peaks_matches_find_peaks(seed):
    """The fast top-k peak picker gives what scipy's find_peaks(distance) + sort gives."""
    from scipy.signal import find_peaks
    rng = np.random.default_rng(seed)
    y = np.convolve(rng.standard_normal(20000), np.ones(7) / 7, mode="same")
    if seed % 2:
        y[0] = y.max() + 1.0                      # a maximum at the very start counts
    for k, dist in ((1, 5), (4, 20), (10, 300)):
        padded = np.concatenate([[-np.inf], y, [-np.inf]])
        idx, _ = find_peaks(padded, distance=dist)
        want = (idx - 1)[np.argsort(y[idx - 1])[::-1][:k]]
        assert A.top_peaks(y, k, dist).tolist() == want.tolist()


@pytest.mark.parametrize("speed,hint,grid", [(PAL, PAL, False), (1.02, 1.0, True),
                                             (PAL, 1.0, True)])
def test_find_speed_trusts_a_confirmed_hint_only(speed, hint, grid, monkeypatch):
    """A frame-rate hint that the audio confirms (best usual ratio, well clear of the
    others) skips the grid scan; a wrong hint, or a speed off every usual ratio, does not."""
    from app.services.align import _coarse
    T = 200.0
    p = make_pair([(2.0, 2.0 + T / speed, 0.0, speed)], T, 3.0 + T / speed, seed=8)
    calls = []
    real = A._speed_score
    monkeypatch.setattr(A, "_speed_score", lambda *a, **k: calls.append(1) or real(*a, **k))
    got, _ = A.find_speed(_coarse(F.normalize(p.orig)), _coarse(F.normalize(p.dub)), hint=hint)
    assert abs(got - speed) < 0.002, got
    assert (len(calls) > len(A.USUAL_SPEEDS) + 1) == grid


def test_scan_in_two_threads_finds_what_one_finds():
    """A long dub is scanned as two stretches at once; each window's best offset is the
    one a single tracked scan finds (the second stretch starts with a global search)."""
    p = make_pair([(5.0, 1900.0, 0.0, 1.0)], 1900.0, 1900.0, seed=11)
    o_f, d_f = F.normalize(p.orig), F.normalize(p.dub)
    one = A.scan_windows(o_f, d_f, 1.0, workers=1)
    two = A.scan_windows(o_f, d_f, 1.0, workers=2)
    assert len(one) == len(two) > 2 * A._MIN_WINDOWS_PER_WORKER
    assert [w.dub_t for w in one] == [w.dub_t for w in two]
    best1 = np.array([w.peaks[0].lag for w in one])
    best2 = np.array([w.peaks[0].lag for w in two])
    assert np.all(np.abs(best1 - best2) < 0.005)
    assert np.median(np.abs(best1 - (-5.0))) < 0.01          # the true offset


def test_fine_scorer_correlations_match_a_direct_computation():
    """Running sums give each start's Pearson correlation, whether the starts are
    consecutive or scattered (even when scattered ones span exactly len - 1)."""
    rng = np.random.default_rng(5)
    o = rng.standard_normal(6000).astype(np.float32) + 3.0
    w = rng.standard_normal(400)
    w -= w.mean()
    sc = A.FineScorer(o)
    for starts in (np.arange(100, 131), np.array([10, 5000, 12]), np.array([100, 101, 101, 103]),
                   rng.integers(0, 5500, 96)):
        want = [np.corrcoef(o[j:j + 400].astype(np.float64), w)[0, 1] for j in starts]
        np.testing.assert_allclose(sc._ncc_at(w, starts), want, atol=1e-6)
