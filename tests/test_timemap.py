"""TimeMap (app/services/timemap.py): a hand-made map's lookups, cuts and inserts, exactly."""
from __future__ import annotations

from app.services.timemap import Segment, TimeMap
from tests.helpers.envelopes import PAL

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

