"""Speech path, pure parts: phrase matcher, onset refinement, sentence split, languages.

No model here: similarity matrices are made by hand (true pair ~0.8, unrelated ~0.1,
as the multilingual USE model scores EN/ES), so every case is exact and fast.
"""
from __future__ import annotations

import numpy as np
import pytest

from app.services import speech as sp
from app.services.transcribe import Utterance, Word, normalize_regions


def _sim(n_dub: int, n_orig: int, truth: dict[int, int], rng, true_sim=0.8, noise=0.08,
         extra: dict[tuple[int, int], float] | None = None) -> np.ndarray:
    """Unrelated pairs ~N(0.1, noise); true pairs `true_sim`; `extra` sets chosen cells."""
    S = np.clip(0.1 + noise * rng.standard_normal((n_dub, n_orig)), -0.2, 0.35)
    for d, o in truth.items():
        S[d, o] = true_sim + 0.05 * rng.standard_normal()
    for (d, o), v in (extra or {}).items():
        S[d, o] = v
    return S


def _orig_times(n: int, rng) -> np.ndarray:
    return np.cumsum(rng.uniform(2.0, 7.0, n)) + 3.0


def _pairs(matches) -> dict[int, int]:
    return {m.dub: m.orig for m in matches}


@pytest.mark.parametrize("speed,offset", [(1.0, 1.5), (25 / 23.976, -4.0), (23.976 / 25, 12.0)])
def test_recovers_pairs_with_offset_and_speed(speed, offset):
    rng = np.random.default_rng(1)
    orig = _orig_times(40, rng)
    dub = (orig - 0.0) / speed + offset + rng.uniform(-0.3, 0.3, len(orig))  # actor jitter
    truth = {i: i for i in range(40)}
    m = sp.align_phrases(dub, orig, _sim(40, 40, truth, rng))
    assert _pairs(m) == truth
    assert all(x.supported for x in m)


def test_missing_extra_repeated_and_mistranscribed_lines():
    rng = np.random.default_rng(2)
    orig = _orig_times(30, rng)
    # The dub lacks original lines 5, 6 and 20; it has two extra lines (an announcer)
    # that look a little like original lines far away; line 12 of the original is said
    # again at orig index 25 (the same sentence twice: both cells score high).
    keep = [i for i in range(30) if i not in (5, 6, 20)]
    dub_t = list(orig[keep] + 2.0 + rng.uniform(-0.3, 0.3, len(keep)))
    dub_t += [orig[10] + 2.0 + 1.2, orig[27] + 2.0 - 1.1]      # extra lines
    order = np.argsort(dub_t)
    dub_t = np.asarray(dub_t)[order]
    src = (keep + [-1, -2])
    src = [src[k] for k in order]
    truth = {d: o for d, o in enumerate(src) if o >= 0}
    extra = {}
    for d, o in enumerate(src):
        if o == -1:
            extra[(d, 3)] = 0.45       # an extra line resembling a line 20 s earlier
        if o == -2:
            extra[(d, 8)] = 0.5
        if o == 12:
            extra[(d, 25)] = 0.82      # the repeat of line 12, 60+ s away
        if o == 25:
            extra[(d, 12)] = 0.82
        if o == 17:
            extra[(d, 17)] = 0.33      # a mistranscribed true pair: weak but in place
    S = _sim(len(dub_t), 30, truth, rng, extra=extra)
    got = _pairs(sp.align_phrases(dub_t, orig, S))
    assert got == truth


def test_swapped_lines_keep_the_rest_right():
    rng = np.random.default_rng(3)
    orig = _orig_times(20, rng)
    dub = orig + 0.7
    src = list(range(20))
    src[8], src[9] = 9, 8          # the dub says two lines in the other order
    truth = {d: o for d, o in enumerate(src)}
    got = _pairs(sp.align_phrases(dub, orig, _sim(20, 20, truth, rng)))
    wrong = {d: o for d, o in got.items() if truth[d] != o}
    assert not wrong
    # A monotonic chain keeps at most one of the swapped two; here their times do not fit
    # their content (each is said where the other belongs), so both are left out.
    assert len(got) >= 18
    assert {d: truth[d] for d in range(20) if d not in (8, 9)}.items() <= got.items()


def test_cut_and_insert_are_jumps_not_a_new_single_best_pair():
    rng = np.random.default_rng(4)
    orig = _orig_times(36, rng)
    # Dub: lines 0-11 at +1 s; original lines 12-17 cut from the dub (a scene missing);
    # lines 18-35 follow, and a 90 s commercial break sits before line 26.
    keep = [i for i in range(36) if not 12 <= i <= 17]
    cut_len = orig[18] - orig[12]
    dub = []
    for i in keep:
        t = orig[i] + 1.0
        if i >= 18:
            t -= cut_len
        if i >= 26:
            t += 90.0
        dub.append(t + rng.uniform(-0.3, 0.3))
    truth = {d: o for d, o in enumerate(keep)}
    m = sp.align_phrases(np.array(dub), orig, _sim(len(keep), 36, truth, rng))
    assert _pairs(m) == truth


def test_no_candidates_gives_no_matches():
    rng = np.random.default_rng(5)
    S = np.clip(0.1 + 0.05 * rng.standard_normal((10, 12)), -1, 0.2)
    assert sp.align_phrases(np.arange(10.0), np.arange(12.0), S) == []
    assert sp.align_phrases(np.zeros(0), np.arange(3.0), np.zeros((0, 3))) == []


def test_anchor_scores_and_refined_times():
    dub = [sp.Phrase(10.0, 12.0, "Mi padre construyó esta casa.", onset=10.2, offset=11.9),
           sp.Phrase(20.0, 21.0, "Sí.", onset=None, offset=None)]
    orig = [sp.Phrase(8.0, 10.0, "My father built this house.", onset=8.25, offset=9.95),
            sp.Phrase(18.0, 18.5, "Yes.", onset=18.1, offset=18.4)]
    matches = [sp.Match(0, 0, 0.8), sp.Match(1, 1, 0.8, supported=False)]
    anchors, pairs = sp.anchors_from_matches(matches, dub, orig)
    a0 = anchors[0]
    assert (a0.dub_t, a0.orig_t, a0.source) == (10.2, 8.25, "speech")
    assert a0.score == pytest.approx(sp.SCORE_PER_SIM * (0.8 - sp.SCORE_SIM0))
    assert a0.score >= 10                              # a clear long pair is strong evidence
    assert len(anchors) == 2                           # one per pair: no end anchor
    short = anchors[1]
    assert short.dub_t == pytest.approx(20.0 + sp.WHISPER_EARLY)  # no onset: Whisper's,
    assert short.orig_t == pytest.approx(18.0 + sp.WHISPER_EARLY)  # corrected on both sides
    assert short.score < 5                             # "Sí."/"Yes." alone: weak
    assert pairs[0].dub_text.startswith("Mi padre") and pairs[0].orig_start == 8.0


def test_match_transcripts_end_to_end_pure():
    rng = np.random.default_rng(6)
    orig = [sp.Phrase(t, t + 2.0, f"line {i}", onset=t + 0.1, offset=t + 1.9)
            for i, t in enumerate(_orig_times(15, rng))]
    dub = [sp.Phrase(p.start + 3.0, p.end + 3.1, f"línea {i}", onset=p.onset + 3.0,
                     offset=p.offset + 3.0) for i, p in enumerate(orig)]
    vecs = rng.standard_normal((15, 64))
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    noisy = vecs + 0.3 * rng.standard_normal((15, 64)) / 8
    noisy /= np.linalg.norm(noisy, axis=1, keepdims=True)
    anchors, pairs, matches = sp.match_transcripts(orig, dub, vecs, noisy)
    assert len(pairs) == 15 and all(m.dub == m.orig for m in matches)
    assert all(abs((a.dub_t - a.orig_t) - 3.0) < 1e-9 for a in anchors)


def test_pair_anchors_do_not_lean_on_the_longer_language():
    """The dub line is laid by its start: actors start +-0.3 s around the original line
    (symmetric), Spanish lines run 0.05-0.35 s longer, and the original's English ends
    read ~90 ms early on the envelope (final consonants). The anchors' mean offset must
    be the true one within 5 ms (the jitter is exactly symmetric here), whatever the
    ends do; phrase-end anchors used to pull it ~25 ms towards the dub playing early."""
    rng = np.random.default_rng(3)
    off = 1.5                                              # dub = orig + off
    t = _orig_times(40, rng)
    jit = np.concatenate([j := rng.uniform(-0.3, 0.3, 20), -j])   # mean exactly 0
    o_len = rng.uniform(1.2, 2.5, 40)
    d_len = o_len + rng.uniform(0.05, 0.35, 40)
    orig = [sp.Phrase(a - 0.2, a + n, f"line {i}", onset=a, offset=a + n - 0.09)
            for i, (a, n) in enumerate(zip(t, o_len))]
    dub = [sp.Phrase(a + off + j - 0.2, a + off + j + n, f"línea {i}", onset=a + off + j,
                     offset=a + off + j + n) for i, (a, j, n) in enumerate(zip(t, jit, d_len))]
    matches = [sp.Match(i, i, 0.8) for i in range(40)]
    anchors, _ = sp.anchors_from_matches(matches, dub, orig)
    assert len(anchors) == 40
    w = np.array([a.score for a in anchors])
    mean_off = np.average([a.dub_t - a.orig_t for a in anchors], weights=w)
    assert abs(mean_off - off) < 0.005


# --------------------------------------------------------------------------- onsets
def _burst_track(onsets, sr=16000, dur=10.0, seed=0):
    """Quiet noise with 1.2 s vowel-like bursts (harmonics of 150 Hz) at `onsets` (s)."""
    rng = np.random.default_rng(seed)
    x = 0.003 * rng.standard_normal(int(dur * sr))
    t = np.arange(int(1.2 * sr)) / sr
    burst = 0.3 * sum(np.sin(2 * np.pi * 150 * k * t) / k for k in range(1, 20))
    for o in onsets:
        i = int(o * sr)
        x[i:i + len(burst)] += burst
    return x.astype(np.float32)


@pytest.mark.parametrize("whisper_early", [0.0, 0.1, 0.3, 0.5])
def test_refine_onset_finds_speech_start(whisper_early):
    x = _burst_track([2.0, 6.0])
    env = sp.speech_envelope(x)
    for true in (2.0, 6.0):
        on, contrast = sp.refine_onset(env, true - whisper_early)
        assert contrast > 20
        assert on == pytest.approx(true, abs=0.03)
        off, _ = sp.refine_offset(env, true + 1.2 + 0.2)
        assert off == pytest.approx(true + 1.2, abs=0.05)


def test_refine_onset_without_an_edge_returns_none():
    rng = np.random.default_rng(0)
    env = sp.speech_envelope((0.1 * rng.standard_normal(16000 * 5)).astype(np.float32))
    assert sp.refine_onset(env, 2.0)[0] is None


# --------------------------------------------------------------------------- sentences
def test_split_sentences_uses_word_times():
    words = (Word(1.0, 1.3, "Hola."), Word(2.0, 2.3, "¿Qué"), Word(2.3, 2.6, "haces"),
             Word(2.6, 3.0, "aquí?"))
    segs = [Utterance(0.9, 3.1, "Hola. ¿Qué haces aquí?", words),
            Utterance(5.0, 6.0, "Sin palabras")]
    ph = sp.split_sentences(segs)
    assert [p.text for p in ph] == ["Hola.", "¿Qué haces aquí?", "Sin palabras"]
    assert (ph[0].start, ph[0].end) == (0.9, 1.3)
    assert (ph[1].start, ph[1].end) == (2.0, 3.1)


def test_split_sentences_skips_leading_non_speech():
    words = (Word(6.5, 6.8, "¿Qué"), Word(6.8, 7.4, "haces?"))
    ph = sp.split_sentences([Utterance(0.4, 7.5, "¿Qué haces?", words)])
    assert ph[0].start == 6.5


def test_normalize_regions():
    assert normalize_regions(None, 100.0) == [(0.0, 100.0)]
    assert normalize_regions([(50, 60), (10, 20), (20.8, 30), (95, 120), (40, 39)], 100.0,
                             pad=0.5, merge_gap=1.0) == [(9.5, 30.5), (49.5, 60.5), (94.5, 100.0)]


# --------------------------------------------------------------------------- languages
@pytest.mark.parametrize("code,tag,name", [
    ("en", "eng", "English"), ("es", "spa", "Spanish"), ("fr", "fre", "French"),
    ("de", "ger", "German"), ("it", "ita", "Italian"), ("pt", "por", "Portuguese"),
    ("ja", "jpn", "Japanese"), ("zh", "chi", "Chinese"), ("ru", "rus", "Russian"),
    ("nl", "dut", "Dutch"), ("EN", "eng", "English"), (None, "und", "Unknown"),
    ("xx", "und", "Unknown")])
def test_iso639_2_and_names(code, tag, name):
    assert sp.iso639_2(code) == tag
    assert sp.language_name(code) == name


@pytest.mark.parametrize("tag,name", [("spa", "Spanish"), ("eng", "English"),
                                      ("fre", "French"), ("fra", "French"), ("ger", "German"),
                                      ("deu", "German"), ("chi", "Chinese"), ("SPA", "Spanish"),
                                      ("und", "Unknown"), ("qaa", "Unknown")])
def test_language_name_of_stream_tags(tag, name):
    """Track titles are built from stream tags ("spa"), not only from Whisper codes."""
    assert sp.language_name(tag) == name



@pytest.mark.parametrize("seed", [1, 2, 3])
def test_speech_only_map_is_centred_on_its_pairs(seed):
    """A speech-only segment is placed at the mean of its pairs, taken within SPEECH_TOL of
    that mean at the final speed, not clipped around the decode's cluster centre. Actors
    +-0.3 s around their line and two onsets misread 0.4 s each way (mirrored: the truth is
    exactly their mean), plus three pairs 0.8-0.9 s off on one side that join the offset
    cluster and pull its centre ~70 ms: clipped around that centre, one misread side was
    dropped and the dub came out ~25 ms early. Within 10 ms now."""
    from app.services.align import align_envelopes
    from app.services.types import Anchor
    rng = np.random.default_rng(seed)
    off = -1.5                                            # orig_t = dub_t + off
    half = np.concatenate([rng.uniform(-0.3, 0.3, 15), [0.4, 0.4]])
    err = np.concatenate([half, -half, [0.8, 0.85, 0.9]])  # dub_t error of each pair
    rng.shuffle(err)
    t = np.sort(rng.uniform(5.0, 235.0, len(err)))
    anchors = [Anchor(float(o - off + e), float(o), 8.0, "speech") for o, e in zip(t, err)]
    al = align_envelopes(np.zeros(24000, np.float32), np.zeros(24150, np.float32), 240.0,
                         241.5, speed_hint=1.0, speech=anchors, use_audio=False)
    seg = [s for s in al.tmap.segments if s.dub_end > s.dub_start]
    assert len(seg) == 1 and al.tmap.speed == 1.0
    placed = seg[0].orig_start - seg[0].dub_start
    assert abs(placed - off) < 0.010, placed
