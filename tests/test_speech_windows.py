"""The window schedule of the speech path (speech_windows) on synthetic films: fake
listeners that 'hear' a known transcript, a fake embedder whose vectors say which lines
translate which. No models, no media: the schedule's logic alone.

A 2-hour film as the corpus makes them: lines every 3-10 s drawn from a bank of 62
sentences (each said ~17 times: a line said again must not pair with the wrong
occurrence), the dub a PAL transfer (25/23.976) with two cuts, its actors starting lines
±0.15 s off, a fifth of its lines mistranscribed.
"""
from __future__ import annotations

import numpy as np
import pytest

from app.services.speech import Phrase
from app.services.speech_windows import (SPARSE_AFTER_S, WindowParams, clusters_of,
                                         hear_and_match, merge_stretches, window_grid)
from app.services.transcribe import normalize_regions

PAL = 25 / (24000 / 1001)
BANK = 62
DIM = 64


class FakeListener:
    """A track whose transcript is known: `hear` only records what was asked."""

    def __init__(self, phrases: list[Phrase], duration: float, language: str):
        self.all = sorted(phrases, key=lambda p: p.start)
        self.duration = duration
        self.spans: list[tuple[float, float]] = []
        self.detected = (language, 1.0)
        self.seconds = self.elapsed = 0.0
        self.requests = 0

    def hear(self, spans, progress=None) -> float:
        want = normalize_regions(spans, self.duration, pad=0.0, merge_gap=1.0)
        before = sum(b - a for a, b in self.spans)
        self.spans = normalize_regions(self.spans + want, self.duration, pad=0.0, merge_gap=0.0)
        new = sum(b - a for a, b in self.spans) - before
        self.seconds += new
        self.requests += 1
        return new

    @property
    def phrases(self) -> list[Phrase]:
        return self.phrases_in(self.spans)

    def phrases_in(self, spans) -> list[Phrase]:
        def heard(t):
            return any(a <= t < b for a, b in self.spans)
        return [p for p in self.all if heard(p.start) and any(a <= p.start < b for a, b in spans)]

    @property
    def share(self) -> float:
        return sum(b - a for a, b in self.spans) / self.duration


def vectors(seed: int = 0) -> dict[str, np.ndarray]:
    """Sentence k of the bank: 'en k' and 'es k' near one vector; 'garbled j' anywhere."""
    rng = np.random.default_rng(seed)
    base = rng.standard_normal((BANK, DIM))
    out = {}
    for k in range(BANK):
        for lang in ("en", "es"):
            v = base[k] + 0.35 * rng.standard_normal(DIM)
            out[f"{lang} sentence number {k}"] = v / np.linalg.norm(v)
    for j in range(5000):
        v = rng.standard_normal(DIM)
        out[f"garbled line number {j}"] = v / np.linalg.norm(v)
    return out


def embedder(table):
    def embed(texts):
        return np.stack([table[t] for t in texts]).astype(np.float32)
    return embed


def make_film(seed: int = 1, duration: float = 7200.0, cuts=((1830.0, 1872.5), (5405.0, 5411.0)),
              lead: float = 2.5, speed: float = PAL, garbled: float = 0.2):
    """(original phrases, dub phrases, truth: dub time -> original time or None, dub length)."""
    rng = np.random.default_rng(seed)
    t, orig = 3.0, []
    while t < duration - 5:
        k = int(rng.integers(BANK))
        orig.append((t, k))
        t += float(rng.uniform(3.0, 10.0))
    # the dub: the original minus the cuts, sped up, `lead` s of logo first
    segs, o0, d0 = [], 0.0, lead
    for c0, c1 in list(cuts) + [(duration, duration)]:
        segs.append((d0, o0, c0))
        d0 += (c0 - o0) / speed
        o0 = c1
    dub_len = d0

    def to_dub(o):
        for d_start, o_start, o_end in segs:
            if o_start <= o < o_end:
                return d_start + (o - o_start) / speed
        return None

    def to_orig(d):
        for d_start, o_start, o_end in segs:
            if d_start <= d < d_start + (o_end - o_start) / speed:
                return o_start + (d - d_start) * speed
        return None

    o_ph = [Phrase(t, t + 2.0, f"en sentence number {k}", onset=t) for t, k in orig]
    d_ph, j = [], 0
    for t, k in orig:
        d = to_dub(t)
        if d is None:
            continue
        d += float(rng.normal(0, 0.15))
        if rng.random() < garbled:
            text, j = f"garbled line number {j}", j + 1
        else:
            text = f"es sentence number {k}"
        d_ph.append(Phrase(d, d + 2.2, text, onset=d))
    return o_ph, d_ph, to_orig, dub_len


def run(o_ph, d_ph, dub_len, orig_len=7200.0, hint=PAL, table=None, **kw):
    orig = FakeListener(o_ph, orig_len, "en")
    dub = FakeListener(d_ph, dub_len, "es")
    res = hear_and_match(orig, dub, embedder(table or vectors()), speed_hint=hint, **kw)
    return res, orig, dub


def test_window_grid_covers_both_ends_at_most_spacing_apart():
    p = WindowParams()
    grid = window_grid(6861.0, p)
    assert grid[0][0] == 0.0 and abs(grid[-1][1] - 6861.0) < 1e-9
    starts = [a for a, _ in grid]
    assert max(np.diff(starts)) <= p.spacing_s
    assert all(abs((b - a) - p.window_s) < 1e-9 for a, b in grid)
    assert window_grid(50.0, p) == [(0.0, 50.0)]


def test_clusters_split_at_an_offset_jump():
    from app.services.speech import Match
    d = [Phrase(t, t + 1, "x", onset=t) for t in (10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0)]
    o = [Phrase(t + 5, t + 6, "y", onset=t + 5) for t in (10.0, 20.0, 30.0)] + \
        [Phrase(t + 45, t + 46, "y", onset=t + 45) for t in (40.0, 50.0, 60.0, 70.0)]
    ms = [Match(i, i, 0.9) for i in range(7)]
    cs = clusters_of(d, o, ms, 1.0, WindowParams())
    assert [(c.n, round(c.offset(1.0))) for c in cs] == [(3, 5), (4, 45)]
    assert cs[0].t1 == 30.0 and cs[1].t0 == 40.0
    # weak pairs do not count, short runs are no cluster
    assert clusters_of(d, o, [Match(i, i, 0.3) for i in range(7)], 1.0, WindowParams()) == []


def test_merge_stretches_joins_touching_dub_spans():
    got = merge_stretches([([(0.0, 90.0)], [(0.0, 200.0)]), ([(85.0, 200.0)], [(150.0, 300.0)]),
                           ([(900.0, 990.0)], [(930.0, 1040.0)])])
    assert got == [([(0.0, 200.0)], [(0.0, 300.0)]), ([(900.0, 990.0)], [(930.0, 1040.0)])]


def _check_pairs(res, to_orig, tol=0.6, edges=()):
    """The pairs not where the truth puts them; a line within 1 s of an edit (actors'
    timing) whose sentence is said again just across it may take either."""
    return [(p.dub_start, p.orig_start) for p in res.pairs
            if (to_orig(p.dub_start) is None or abs(to_orig(p.dub_start) - p.orig_start) > tol)
            and not any(abs(p.dub_start - e) < 1.0 for e in edges)]


def test_two_hour_film_is_heard_in_windows_and_its_edits_found():
    o_ph, d_ph, to_orig, dub_len = make_film()
    res, orig, dub = run(o_ph, d_ph, dub_len)
    t = res.timings
    assert t["sparse"] == 1.0 and t["windows_unmatched"] == 0
    assert t["edits"] == 2
    # what the fit needs, and not much more
    assert dub.share < 0.3 and orig.share < 0.35, (dub.share, orig.share)
    # every pair right (a line said again elsewhere in the film is never taken)
    assert _check_pairs(res, to_orig) == []
    assert len(res.pairs) >= 0.6 * len(res.dub_lines)
    # both sides of each edit held by pairs right up to it: every line that can pair
    # within 30 s of an edit does (evidence.py wants anchors within 15 s)
    paired = {round(p.dub_start, 6) for p in res.pairs}
    for edge_dub in (1757.5449, 5145.3571):
        near = [p.start for p in d_ph if abs(p.start - edge_dub) < 30
                and not p.text.startswith("garbled")]
        assert near and all(round(t, 6) in paired for t in near), edge_dub
    # the speed over the film: pairs span it from end to end
    starts = [p.dub_start for p in res.pairs]
    assert min(starts) < 100 and max(starts) > dub_len - 100


def test_an_insert_of_minutes_and_no_speed_hint():
    """A 3-minute insert in the dub (a commercial break) and no frame-rate hint: the
    window after it pairs nowhere near the predicted place and is heard again wider."""
    o_ph, d_ph, to_orig, dub_len = make_film(seed=5, cuts=(), speed=1.0, lead=0.0)
    ins_at, ins_len = 3000.0, 180.0
    d_ph = [p if p.start < ins_at else Phrase(p.start + ins_len, p.end + ins_len, p.text,
                                              onset=p.onset + ins_len) for p in d_ph]
    dub_len += ins_len

    def truth(d):
        return d if d < ins_at else (None if d < ins_at + ins_len else d - ins_len)
    res, orig, dub = run(o_ph, d_ph, dub_len, hint=None)
    assert res.timings["sparse"] == 1.0 and res.timings["edits"] >= 1
    assert _check_pairs(res, truth) == []
    before = [p.dub_start for p in res.pairs if p.dub_start < ins_at]
    after = [p.dub_start for p in res.pairs if p.dub_start > ins_at + ins_len]
    assert ins_at - max(before) < 15 and min(after) - (ins_at + ins_len) < 15
    assert dub.share < 0.4 and orig.share < 0.45, (dub.share, orig.share)


def test_another_film_is_heard_whole_and_matched_as_one():
    """Unrelated films (same sentence bank, other order and times): no window locates,
    so both tracks are heard whole, as without windows: the verdict is the full
    transcript's."""
    o_ph, _, _, _ = make_film(seed=1)
    _, d_ph, _, dub_len = make_film(seed=2)
    res, orig, dub = run(o_ph, d_ph, dub_len)
    assert res.timings["sparse"] == 0.0
    assert orig.share == pytest.approx(1.0) and dub.share == pytest.approx(1.0)
    assert len(res.dub_lines) == len(d_ph)


def test_short_dubs_and_regions_are_heard_as_asked():
    o_ph, d_ph, _, _ = make_film(duration=600.0, cuts=())
    res, orig, dub = run(o_ph, d_ph, 600.0 / PAL, orig_len=600.0)
    assert "sparse" not in res.timings
    assert orig.share == pytest.approx(1.0) and dub.share == pytest.approx(1.0)
    o_ph, d_ph, _, dub_len = make_film()
    assert dub_len >= SPARSE_AFTER_S
    res, orig, dub = run(o_ph, d_ph, dub_len, orig_regions=[(100.0, 200.0)],
                         dub_regions=[(90.0, 190.0)])
    assert "sparse" not in res.timings
    assert orig.spans == [(99.5, 200.5)] and dub.spans == [(89.5, 190.5)]


def test_two_edits_between_two_windows():
    """Two cuts five minutes apart, both between the same two windows: the middle of the
    gap shows a third offset, and each edit is narrowed down on its own."""
    cuts = ((1000.0, 1030.0), (1300.0, 1380.0))
    o_ph, d_ph, to_orig, dub_len = make_film(seed=11, cuts=cuts)
    res, orig, dub = run(o_ph, d_ph, dub_len)
    assert res.timings["sparse"] == 1.0 and res.timings["edits"] >= 2
    lead, s = 2.5, PAL
    edges = [lead + 1000.0 / s, lead + (1000.0 + 1300.0 - 1030.0) / s]
    assert _check_pairs(res, to_orig, edges=edges) == []
    paired = {round(p.dub_start, 6) for p in res.pairs}
    for edge_dub in edges:
        near = [p.start for p in d_ph if abs(p.start - edge_dub) < 20
                and not p.text.startswith("garbled")]
        assert near and all(round(t, 6) in paired for t in near), edge_dub
