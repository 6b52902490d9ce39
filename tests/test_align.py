"""align (app/services/align.py): align_envelopes recovers a known shift, speed, cut and
insert on synthetic envelopes (tests/helpers/envelopes.py), drops a stray run, refuses
unrelated tracks, reuses a scan; its holes and the speech regions they call for."""
from __future__ import annotations

import numpy as np
import pytest

from app.services import anchors
from app.services.align import align_envelopes
from tests.helpers.envelopes import (BED_RATE, PAL, RATE, Pair, frames, make_pair, poisson_events,
                                     sample)
from tests.helpers.envelopes import align_pair as _align
from tests.helpers.envelopes import assert_map_follows as _assert_map_follows
from tests.helpers.envelopes import significant as _significant


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



@pytest.mark.parametrize("seed", [21, 22, 23])
def test_align_refuses_unrelated_envelopes(seed):
    a = make_pair([(0.0, 150.0, 0.0, 1.0)], 150.0, 150.0, seed)
    b = make_pair([(0.0, 160.0, 0.0, 1.0)], 160.0, 160.0, seed + 100)
    tm = align_envelopes(a.orig, b.dub, 150.0, 160.0).tmap
    assert tm.confidence < 0.5, tm.to_dict()
    assert tm.reasons, "a refused map must say why"

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
    monkeypatch.setattr(anchors, "scan_windows", no_scan)
    monkeypatch.setattr(anchors, "find_speed", no_scan)
    again = align_envelopes(p.orig, p.dub, p.orig_duration, p.dub_duration, scan=first.scan)
    assert again.tmap.segments == first.tmap.segments
    assert again.diagnostics.speed_windows == first.scan.speed

