"""fit (app/services/fit.py): decoding a slot's candidates into runs, merging and dropping
runs, the shared slope, the speed by RANSAC; on slots and points made by hand."""
from __future__ import annotations

import numpy as np
import pytest

from app.services import fit
from tests.helpers.envelopes import PAL

# ------------------------------------------------------------------ runs that conflict

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

