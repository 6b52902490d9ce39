"""The acceptance rule (app/services/evidence.py): a map is written only when it explains
the dub, by its sound or by its lines; edges need evidence on both sides. Pure."""
from __future__ import annotations

import numpy as np
import pytest

from app.services import evidence
from app.services.timemap import Segment, TimeMap
from app.services.types import Anchor, PhrasePair

LINE = "this sentence is long enough to mean something"


def _map(segs, dur=300.0, conf=1.0) -> TimeMap:
    return TimeMap(tuple(Segment(a, b, a * 1.0 + off, 1.0) for a, b, off in segs),
                   dur, dur, 1.0, conf, ())


def _pairs(dub_ts, off, text=LINE):
    return tuple(PhrasePair(t, t + 2, text, t + off, t + off + 2, text, 0.8) for t in dub_ts)


def _lines(dub_ts, text=LINE):
    return tuple((t, t + 2, text) for t in dub_ts)


def test_a_few_coincidental_pairs_do_not_make_a_film():
    """3 of 38 dub lines on the map: refused, in words a person understands."""
    tm = _map([(30.0, 230.0, -5.0)], conf=0.87)
    ev = evidence.gather(tm, dub_lines=_lines(np.arange(0, 290, 7.6)),
                   pairs=_pairs([40.0, 120.0, 200.0], -5.0))
    assert (ev.dub_lines, ev.lines_on_map) == (39, 3)
    judged, ok = evidence.judge(tm, ev, speech_heard=True)
    assert not ok
    assert "3 of 39 dub lines found a counterpart" in judged.reasons[0]
    assert judged.confidence <= 0.45


def test_most_lines_on_the_map_is_the_same_film():
    ts = np.arange(0, 290, 7.0)
    tm = _map([(0.0, 300.0, 1.5)], conf=0.9)
    ev = evidence.gather(tm, dub_lines=_lines(ts), pairs=_pairs(ts[::2].tolist() + [ts[1]], 1.5))
    judged, ok = evidence.judge(tm, ev, speech_heard=True)
    assert ok and ev.line_share > 0.5
    assert judged.confidence == pytest.approx(0.9, abs=1e-9)


def test_pairs_off_the_map_and_short_lines_do_not_count():
    tm = _map([(0.0, 300.0, 0.0)])
    pairs = _pairs([10.0, 20.0], 0.0) + _pairs([30.0], 4.0) + _pairs([40.0], 0.0, "Yes.")
    ev = evidence.gather(tm, dub_lines=_lines([10.0, 20.0, 30.0]) + _lines([40.0], "Yes."),
                   pairs=pairs)
    assert (ev.lines_on_map, ev.dub_lines) == (2, 3)


def test_a_shared_opening_theme_is_not_a_film():
    """Only the first 45 s (music, no dialogue) match: 9 of 73 windows."""
    tm = _map([(0.0, 300.0, 0.0)], conf=0.8)
    matched = tuple((t, 0.0) for t in np.arange(6.0, 45.0, 4.0))
    ev = evidence.gather(tm, windows_active=73, windows_matched=matched)
    judged, ok = evidence.judge(tm, ev, speech_heard=False)
    assert not ok
    assert "10 of 73 stretches of its sound" in judged.reasons[0]


def test_windows_at_another_offset_than_the_map_do_not_count():
    tm = _map([(0.0, 150.0, 0.0), (150.0, 300.0, 20.0)])
    matched = tuple((t, 0.0) for t in np.arange(6.0, 294.0, 4.0))      # all at offset 0
    ev = evidence.gather(tm, windows_active=72, windows_matched=matched)
    assert ev.sound_on_map == sum(1 for t, _ in matched if t < 150.0)


def test_a_well_held_edge_costs_nothing_and_a_guessed_one_is_named():
    tm = _map([(0.0, 100.0, 0.0), (190.0, 300.0, -90.0)], conf=1.0)
    near = [Anchor(t, t, 10.0, "audio") for t in np.arange(6.0, 100.0 - 6.0, 4.0)] + \
        [Anchor(t, t - 90, 10.0, "audio") for t in np.arange(196.0, 294.0, 4.0)]
    ev = evidence.gather(tm, windows_active=70, windows_matched=tuple((a.dub_t, a.orig_t - a.dub_t)
                                                                 for a in near),
                   anchors=tuple(near))
    judged, ok = evidence.judge(tm, ev, speech_heard=False)
    assert ok and judged.confidence == pytest.approx(1.0) and not judged.reasons
    # The same map with nothing matched in the 40 s before the edit.
    far = [a for a in near if not 54.0 < a.dub_t < 100.0]
    ev2 = evidence.gather(tm, windows_active=70, windows_matched=tuple(
        (a.dub_t, a.orig_t - a.dub_t) for a in far), anchors=tuple(far))
    judged2, ok2 = evidence.judge(tm, ev2, speech_heard=False)
    assert ok2 and 0.5 <= judged2.confidence < 0.9
    assert any("edit at dub 1:40 is uncertain" in r and "before" in r for r in judged2.reasons)
    assert ev2.edges[0].before_s == pytest.approx(100.0 - 54.0 - evidence.AUDIO_HALF_S, abs=0.01)


@pytest.mark.parametrize("seed", range(5))
def test_the_verdict_does_not_flip_on_float_noise(seed):
    """Another processor moves times by rounding and Whisper's words by a little: the
    verdict of a clear case (same film, or unrelated) stays."""
    rng = np.random.default_rng(seed)
    ts = np.sort(rng.uniform(0, 290, 40))
    tm = _map([(0.0, 300.0, 2.0)], conf=0.9)
    for on_map, want in ((30, True), (3, False)):
        base = evidence.judge(tm, evidence.gather(tm, dub_lines=_lines(ts),
                                      pairs=_pairs(ts[:on_map], 2.0)), speech_heard=True)[1]
        for _ in range(20):
            jit = ts + rng.normal(0, 0.02, len(ts))           # 20 ms: far above rounding
            drop = rng.integers(0, 3)                          # a word or line heard otherwise
            ev = evidence.gather(tm, dub_lines=_lines(jit),
                           pairs=_pairs(jit[:max(0, on_map - drop)], 2.0))
            assert evidence.judge(tm, ev, speech_heard=True)[1] == base == want
