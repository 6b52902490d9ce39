"""Edit edges re-placed on the waveforms (app/services/edges.py), on synthetic signals."""
from __future__ import annotations

import numpy as np
import pytest

from app.services import edges
from app.services.features import SAMPLE_RATE
from app.services.timemap import Segment, TimeMap

R = SAMPLE_RATE


def _bed(seconds: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (0.3 * rng.standard_normal(int(seconds * R))).astype(np.float32)


def _loader(x: np.ndarray):
    def load(start: float, dur: float) -> np.ndarray:
        a = int(round(start * R))
        return x[a:a + int(round(dur * R))]
    return load


def _insert_case(mask_voice: bool, same_waveform: bool = True):
    """Original: a 40 s bed. Dub: the bed with a 4 s logo inserted at 20 s; from 18 to
    20 s a loud line (independent noise, 4x the bed) masks the bed."""
    orig = _bed(40, 1)
    bed = orig if same_waveform else _bed(40, 7)
    logo = _bed(4, 3) * 0.8
    dub = np.concatenate([bed[: 20 * R], logo, bed[20 * R:]]).copy()
    if mask_voice:
        dub[18 * R: 20 * R] += 4 * _bed(2, 5)
    return orig, dub


def _tmap(edge_a: float, edge_b: float) -> TimeMap:
    segs = (Segment(0.0, edge_a, 0.0, 1.0), Segment(edge_b, 44.0, edge_b - 4.0, 1.0))
    return TimeMap(segs, 40.0, 44.0, 1.0, 0.9)


def test_local_coherence_one_for_same_zero_for_different():
    x = _bed(2, 1).astype(np.float64)
    same = edges.local_coherence(x, x)
    other = edges.local_coherence(x, _bed(2, 2).astype(np.float64))
    assert np.median(same) > 0.99
    assert abs(np.median(other)) < 0.15


def test_best_lag_recovers_a_small_shift():
    x = edges._bandpass(_bed(3, 4))
    y = edges.shift(x, -37)              # y[t] = x[t - 37]: y runs 37 samples late
    assert edges.best_lag(x, y) == 37    # y[t + 37] matches x[t]
    assert edges.best_lag(y, x) == -37


def test_change_point_finds_a_pure_insert_and_prefers_the_prior_in_ties():
    sa = np.r_[np.ones(100), np.zeros(60), np.zeros(100)]
    sb = np.r_[np.zeros(100), np.zeros(60), np.ones(100)]
    assert edges.change_point(sa, sb, 60, 0.02) == (100, 160)
    flat = np.zeros(200)
    assert edges.change_point(flat, flat, 0, 0.0, prior=(70, 70), prior_cost=1e-3) == (70, 70)


def test_masked_insert_edge_moves_to_the_waveform_evidence():
    orig, dub = _insert_case(mask_voice=True)
    # The envelope stage put the edge 1.6 s early (the line masks the bed there).
    tmap = _tmap(18.4, 22.4)
    new, moves = edges.refine_edges(tmap, _loader(orig), _loader(dub))
    a, b = new.segments
    assert abs(a.dub_end - 20.0) < 0.05, moves
    assert abs(b.dub_start - 24.0) < 0.05
    assert abs(b.orig_start - 20.0) < 0.05            # still on its own offset
    assert moves[0]["evidence"] == "waveform"


def test_no_shared_waveform_keeps_the_envelope_edge():
    orig, dub = _insert_case(mask_voice=False, same_waveform=False)
    tmap = _tmap(18.4, 22.4)
    new, moves = edges.refine_edges(tmap, _loader(orig), _loader(dub))
    assert new.segments == tmap.segments
    assert moves[0]["evidence"] == "envelope"


@pytest.mark.parametrize("speed", [25 / 23.976])
def test_edge_refined_on_a_sped_up_dub(speed):
    """PAL: the dub runs `speed` times faster (resampled, pitch up); a cut at orig 20 s
    removes 3 s. The edge is found on the original's clock and reported in dub time."""
    from scipy.signal import resample
    orig = _bed(40, 11)
    kept = np.concatenate([orig[: 20 * R], orig[23 * R:]])
    dub = resample(kept, int(round(len(kept) / speed))).astype(np.float32)
    a = int(17.5 / speed * R)
    voice = 4 * _bed(1.5 / speed, 9)
    dub[a:a + len(voice)] += voice
    cut_dub = 20.0 / speed
    segs = (Segment(0.0, cut_dub - 1.2, 0.0, speed),
            Segment(cut_dub - 1.2, 37.0 / speed, (cut_dub - 1.2) * speed + 3.0, speed))
    tmap = TimeMap(segs, 40.0, 37.0 / speed, speed, 0.9)
    new, _ = edges.refine_edges(tmap, _loader(orig), _loader(dub))
    assert abs(new.segments[0].dub_end - cut_dub) < 0.05


def test_edge_stays_between_the_anchors_of_its_two_sides():
    """Anchors belong to the side whose offset they fit; the edge never moves past the
    last anchor of the segment before it or the first of the segment after it."""
    orig, dub = _insert_case(mask_voice=True)
    tmap = _tmap(18.4, 22.4)
    # an anchor of B (offset -4) at dub 19.5 (wrong but believed): the edge stops there
    new, _ = edges.refine_edges(tmap, _loader(orig), _loader(dub),
                            anchors=[(12.0, 12.0), (19.5, 15.5), (30.0, 26.0)])
    assert new.segments[0].dub_end == pytest.approx(19.5, abs=0.01)
    # anchors that agree with the truth leave the waveform's edge alone
    new, _ = edges.refine_edges(tmap, _loader(orig), _loader(dub),
                            anchors=[(12.0, 12.0), (19.0, 19.0), (30.0, 26.0)])
    assert abs(new.segments[0].dub_end - 20.0) < 0.05


def test_one_sided_evidence_moves_the_edge_out_to_where_that_side_ends():
    """Speech-placed map; the dub jumps from orig 20 s to orig 29 s after 10 s of
    silence, so within reach only the side before the edit shows the shared waveform: its
    segment provably plays to 20 s, and the edge (put at 16 s by the speech anchors)
    moves there."""
    orig = _bed(40, 13)
    dub = np.concatenate([orig[: 20 * R], np.zeros(10 * R, np.float32), orig[29 * R:]])
    segs = (Segment(0.0, 16.0, 0.0, 1.0), Segment(16.0, 41.0, 15.0, 1.0))
    tmap = TimeMap(segs, 40.0, 41.0, 1.0, 0.9)
    kept, _ = edges.refine_edges(tmap, _loader(orig), _loader(dub), reach=12.0)
    assert kept.segments == tmap.segments                 # two-sided evidence only
    new, moves = edges.refine_edges(tmap, _loader(orig), _loader(dub), reach=12.0, widen=True)
    assert abs(new.segments[0].dub_end - 20.0) < 0.3, moves
