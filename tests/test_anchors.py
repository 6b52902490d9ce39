"""anchors (app/services/anchors.py): the correlator, peak picking, fine anchors and
boundaries, the speed search and the window scan; on random and synthetic envelopes."""
from __future__ import annotations

import numpy as np
import pytest

from app.services import anchors
from app.services import features
from tests.helpers.envelopes import BED_RATE, PAL, frames, make_pair, poisson_events, sample

@pytest.mark.parametrize("shift", [0, 1234, 4699])
def test_correlator_finds_a_planted_shift(shift):
    rng = np.random.default_rng(shift)
    ref = rng.normal(size=5000)
    w = 3.0 * ref[shift:shift + 300] + 7.0          # gain and DC do not matter
    c = anchors.Correlator(ref, 400)
    ncc = c.ncc(w)
    assert len(ncc) == 5000 - 300 + 1
    assert int(np.argmax(ncc)) == shift
    assert ncc[shift] == pytest.approx(1.0, abs=1e-5)     # single-precision FFTs
    assert np.abs(np.delete(ncc, shift)).max() < 0.4
    if 0 < shift < len(ncc) - 1:
        pk = anchors.peaks_of(ncc, rate=100.0, k=3)
        # parabolic interpolation may move the peak by a fraction of a frame
        assert pk[0].lag == pytest.approx(shift / 100.0, abs=0.001) and pk[0].z > 10


@pytest.mark.parametrize("where", ["first", "last"])
def test_peaks_of_keeps_a_peak_at_the_edge(where):
    """A window whose match starts at the reference's first (or last) possible frame:
    the best peak must still be reported (a dub with no offset matches at lag 0)."""
    rng = np.random.default_rng(5)
    ref = rng.normal(size=3000)
    shift = 0 if where == "first" else 3000 - 300
    ncc = anchors.Correlator(ref, 400).ncc(ref[shift:shift + 300])
    assert int(np.argmax(ncc)) == shift
    pk = anchors.peaks_of(ncc, rate=100.0, k=3)
    assert pk and pk[0].lag == pytest.approx(shift / 100.0, abs=0.001), pk[:1]


def test_correlator_with_noise_and_sparse_envelope():
    p = make_pair([(0.0, 120.0, 0.0, 1.0)], 120.0, 120.0, seed=3)
    ref = features.normalize(p.orig)
    start = 5321
    w = features.normalize(p.orig)[start:start + 1200] + np.random.default_rng(0).normal(0, 0.5, 1200)
    ncc = anchors.Correlator(ref, 1300).ncc(w)
    assert int(np.argmax(ncc)) == start


def test_fine_anchor_refines_to_a_millisecond():
    """A fractional shift of 3.4567 s is found to ~1 ms from a coarse guess 60 ms off."""
    ev = poisson_events(np.random.default_rng(8), 0, 120, BED_RATE)
    o = features.normalize(sample(ev, frames(120)).astype(np.float32))
    d = features.normalize(sample(ev, frames(110) + 3.4567).astype(np.float32))
    got = anchors.fine_anchor(o, d, 30.0, 42.0, 3.4567 + 0.06)
    assert got is not None
    assert abs(got[0] - 3.4567) <= 0.002 and got[1] > 0.9


def test_refine_boundary_places_a_splice():
    """Dub = original [0, 60) then original [66, ...): the switch is found within 0.1 s."""
    ev = poisson_events(np.random.default_rng(12), 0, 150, 6.0)
    o = features.normalize(sample(ev, frames(150)).astype(np.float32))
    dt = frames(120)
    d = features.normalize(sample(ev, np.where(dt < 60.0, dt, dt + 6.0)).astype(np.float32))
    x1, x2 = anchors.refine_boundary(o, d, 52.0, 68.0, 0.0, 6.0)
    assert abs(x1 - 60.0) <= 0.1 and abs(x2 - 60.0) <= 0.1


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
        assert anchors.top_peaks(y, k, dist).tolist() == want.tolist()


@pytest.mark.parametrize("speed,hint,grid", [(PAL, PAL, False), (1.02, 1.0, True),
                                             (PAL, 1.0, True)])
def test_find_speed_trusts_a_confirmed_hint_only(speed, hint, grid, monkeypatch):
    """A frame-rate hint that the audio confirms (best usual ratio, well clear of the
    others) skips the grid scan; a wrong hint, or a speed off every usual ratio, does not."""
    from app.services.align import _coarse
    T = 200.0
    p = make_pair([(2.0, 2.0 + T / speed, 0.0, speed)], T, 3.0 + T / speed, seed=8)
    calls = []
    real = anchors._speed_score
    monkeypatch.setattr(anchors, "_speed_score", lambda *a, **k: calls.append(1) or real(*a, **k))
    got, _ = anchors.find_speed(_coarse(features.normalize(p.orig)), _coarse(features.normalize(p.dub)), hint=hint)
    assert abs(got - speed) < 0.002, got
    assert (len(calls) > len(anchors.USUAL_SPEEDS) + 1) == grid


def test_scan_in_two_threads_finds_what_one_finds():
    """A long dub is scanned as two stretches at once; each window's best offset is the
    one a single tracked scan finds (the second stretch starts with a global search)."""
    p = make_pair([(5.0, 1900.0, 0.0, 1.0)], 1900.0, 1900.0, seed=11)
    o_f, d_f = features.normalize(p.orig), features.normalize(p.dub)
    one = anchors.scan_windows(o_f, d_f, 1.0, workers=1)
    two = anchors.scan_windows(o_f, d_f, 1.0, workers=2)
    assert len(one) == len(two) > 2 * anchors._MIN_WINDOWS_PER_WORKER
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
    sc = anchors.FineScorer(o)
    for starts in (np.arange(100, 131), np.array([10, 5000, 12]), np.array([100, 101, 101, 103]),
                   rng.integers(0, 5500, 96)):
        want = [np.corrcoef(o[j:j + 400].astype(np.float64), w)[0, 1] for j in starts]
        np.testing.assert_allclose(sc._ncc_at(w, starts), want, atol=1e-6)
