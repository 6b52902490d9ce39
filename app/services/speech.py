"""Speech anchors: pair the dub's phrases with the original's by meaning (stage 4).

Pipeline: transcribe both tracks (app.services.transcribe) -> split Whisper segments
into sentences (word times) -> embed each language's own text (app.services.embed) ->
similarity matrix dub x original -> a MONOTONIC alignment by dynamic programming with
gaps, where consecutive matched pairs must agree with one speed (+-6 %) unless the chain
pays a jump penalty (a cut or an insert) -> each matched pair gives anchors at its
phrase start, moved from Whisper's times (0.1-0.5 s early) to the speech energy onset.
Anchors go to the same time-map fit as the audio anchors.

The matcher (`align_phrases`) and the onset refiner are pure numpy; the orchestration
with the models at its edge is app.services.speech_track (a track heard by stretches, in
bounded memory) and app.services.speech_windows (what to hear, then the matching);
`speech_anchors` is its twin over signals in memory. Times are seconds; `dub_t` is on the
dub timeline, `orig_t` on the original's.

Score scale (same as audio anchors: ~5 weak, >= 10 strong): a phrase-start anchor scores
``SCORE_PER_SIM * (similarity - SCORE_SIM0)``, capped at SCORE_MAX (USE cosine 0.5 -> 5,
0.75 -> 10, 0.9 -> 13), scaled down for very short phrases, for pairs with no consistent
neighbour in the chain, and when no clear energy onset confirms the time. A speech anchor's
time is only as good as the dub actor's timing (+-0.3 s around the original's line), so the
fit should treat them as many noisy votes, not as millisecond evidence.

One anchor per pair, at its START only. A dub line is laid on the original's line by its
start; where it ends depends on the language: the lengths differ (Spanish lines run ~0.15 s
longer than English ones), and so does how the last sound reads on the energy envelope
(English and German final consonants fall under the offset threshold 50-110 ms before the
truth, Spanish and French final vowels within ~15 ms). The end of a pair carries the same
actor timing error as its start, so it adds no independent evidence of the offset, only
that language-dependent bias: on the corpus's different-bed cases phrase-end anchors said
the dub sat ~80 ms earlier than its start did for English->Spanish and ~60 ms later for
Spanish->English, while the energy onsets' median error was within 10 ms on both sides.
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Callable, Sequence

import babelfish
import numpy as np

from app.services.types import Anchor, PhrasePair, SpeechResult
from app.services.transcribe import SAMPLE_RATE, Utterance

logger = logging.getLogger(__name__)

# --- matcher thresholds (USE multilingual cosine: true EN/ES pairs ~0.8, unrelated ~0.1) ---
MIN_SIM = 0.25          # a candidate pair needs at least this cosine (mistranscribed
                        # true pairs score 0.3-0.4; timing consistency rejects chance ones)
TOP_PER_ROW = 8         # candidates kept per dub phrase (bounds the DP to O((8n)^2))
WEIGHT_SIM0 = 0.15      # DP gain of a pair = (sim - WEIGHT_SIM0) / (1 - WEIGHT_SIM0)
SPEED_TOL = 0.06        # consecutive pairs agree when |d_orig - d_dub| <= SPEED_TOL*d_dub
ABS_TOL = 0.9           # ... + ABS_TOL s (dub actors start +-0.3 s off; Whisper +-0.3 s)
JUMP_PENALTY = 1.2      # a cut/insert between two pairs costs ~2 good matches
# --- anchor scores ---
SCORE_PER_SIM = 20.0
SCORE_SIM0 = 0.25
SCORE_MAX = 15.0
SHORT_PHRASE_CHARS = 12  # phrases shorter than this (letters) weigh less: "Yes." matches anything
# --- energy onset refinement (10 ms log-energy envelope in the speech band) ---
ENV_HOP = 0.01          # s
ONSET_PRE = 0.15        # search this far before Whisper's start (s) ...
ONSET_POST = 0.7        # ... and this far after (Whisper is 0.1-0.5 s early)
ONSET_HOLD = 0.02       # s: the rise stays above the halfway level this long (a click does not)
ONSET_WALKBACK = 0.08   # s: at most this far back from the halfway crossing to the foot
EDGE_SLACK_DB = 1.0     # dB: a wiggle this small on the way down the edge is still the edge
MIN_CONTRAST_DB = 6.0   # no clear edge below this speech/floor contrast: keep Whisper's time
WHISPER_EARLY = 0.13    # s: median early bias of Whisper phrase starts, used when no edge

_SENTENCE_END = re.compile(r"[.!?。！？…]['\")\]]*$")
_LETTERS = re.compile(r"\w", re.UNICODE)


@dataclass(frozen=True)
class Phrase:
    """A sentence on one track's timeline (s), with where its speech really starts/ends."""

    start: float
    end: float
    text: str
    onset: float | None = None     # refined speech start (None: no clear edge)
    offset: float | None = None    # refined speech end


@dataclass(frozen=True)
class Match:
    """Dub phrase `dub` paired with original phrase `orig` (indices), cosine `similarity`.
    `supported`: it agrees (one speed) with a neighbour in the chain."""

    dub: int
    orig: int
    similarity: float
    supported: bool = True


@dataclass(frozen=True)
class MatcherParams:
    min_sim: float = MIN_SIM
    top_per_row: int = TOP_PER_ROW
    weight_sim0: float = WEIGHT_SIM0
    speed_tol: float = SPEED_TOL
    abs_tol: float = ABS_TOL
    jump_penalty: float = JUMP_PENALTY


# --------------------------------------------------------------------------- languages
#: Whisper's language codes that are not ISO 639-1, as the ISO 639-3 code of the language:
#: "jw" is Whisper's spelling of Javanese (ISO 639-1 "jv"); Hawaiian and Cantonese have no
#: two-letter code.
WHISPER_NON_ISO_CODES: dict[str, str] = {"jw": "jav", "haw": "haw", "yue": "yue"}
#: ISO 639-3 languages without an ISO 639-2 code, tagged as their macrolanguage: Matroska's
#: Language element takes ISO 639-2 only, and Cantonese is a Chinese language ("chi").
MACROLANGUAGE_TAGS: dict[str, str] = {"yue": "chi"}
#: Display names where ISO 639-3's reference name is not the everyday English one
#: (keyed by ISO 639-3 code). Parenthesised qualifiers such as "(macrolanguage)" are
#: dropped from every name.
EVERYDAY_NAMES: dict[str, str] = {"ell": "Greek", "khm": "Khmer", "pan": "Punjabi",
                                  "yue": "Cantonese"}
UNKNOWN_TAG = "und"
UNKNOWN_NAME = "Unknown"
_QUALIFIER = re.compile(r"\s*\([^)]*\)")


def _primary_subtag(code: str) -> str:
    """The primary language subtag, lower case: "en-US" -> "en"."""
    return code.lower().split("-")[0]


def _whisper_language(whisper_code: str) -> babelfish.Language | None:
    """The language of a Whisper code (ISO 639-1 or one of WHISPER_NON_ISO_CODES)."""
    code = _primary_subtag(whisper_code)
    try:
        if code in WHISPER_NON_ISO_CODES:
            return babelfish.Language(WHISPER_NON_ISO_CODES[code])
        if len(code) == 2:
            return babelfish.Language.fromalpha2(code)
    except (babelfish.Error, ValueError):
        pass
    return None


def _tagged_language(tag: str) -> babelfish.Language | None:
    """The language of an ISO 639-2 tag as stream tags carry it: /B ("fre") or /T ("fra")."""
    for parse in (babelfish.Language.fromalpha3b, babelfish.Language):
        try:
            return parse(tag)
        except (babelfish.Error, ValueError):
            continue
    return None


def iso639_2(whisper_code: str | None) -> str:
    """Whisper language code ("en", "es"...) -> ISO 639-2/B tag as Matroska uses ("eng",
    "spa", "fre", "ger"...). Unknown or None -> "und"."""
    lang = _whisper_language(whisper_code) if whisper_code else None
    if lang is None:
        return UNKNOWN_TAG
    if lang.alpha3 in MACROLANGUAGE_TAGS:
        return MACROLANGUAGE_TAGS[lang.alpha3]
    return lang.alpha3b


def language_name(code: str | None) -> str:
    """Display name ("Spanish") of a Whisper code ("es") or of an ISO 639-2 tag as stream
    tags carry it ("spa", "fre" or "fra"); "Unknown" if not known or not a language
    ("und", "mul", "zxx")."""
    if not code:
        return UNKNOWN_NAME
    lang = _whisper_language(code) or _tagged_language(_primary_subtag(code))
    if lang is None or lang.scope == "special":
        return UNKNOWN_NAME
    return EVERYDAY_NAMES.get(lang.alpha3) or _QUALIFIER.sub("", lang.name)


# --------------------------------------------------------------------------- phrases
def split_sentences(segments: Sequence[Utterance]) -> list[Phrase]:
    """Split Whisper segments into sentences at sentence-final punctuation, using word
    times; two languages rarely group lines into segments the same way, sentences match
    better one to one. Segments without words are kept whole."""
    out: list[Phrase] = []
    for seg in segments:
        words = [w for w in seg.words if w.text]
        if len(words) < 2:
            if seg.text.strip():
                out.append(Phrase(seg.start, seg.end, seg.text.strip()))
            continue
        cur: list = []
        for k, w in enumerate(words):
            cur.append(w)
            last = k == len(words) - 1
            if last or _SENTENCE_END.search(w.text):
                text = " ".join(x.text for x in cur).strip()
                start = cur[0].start
                if cur[0] is words[0] and start - seg.start < 0.5:
                    start = seg.start  # else the segment opens on non-speech: trust the word
                end = seg.end if last else cur[-1].end
                if text and end > start:
                    out.append(Phrase(start, end, text))
                cur = []
    return out


def speech_envelope(audio: np.ndarray, sr: int = SAMPLE_RATE) -> np.ndarray:
    """Log energy (dB) of the 300-3400 Hz band every ENV_HOP seconds (3-frame smoothed)."""
    env = SpeechEnvelope(sr)
    env.feed(audio)
    return env.finish()


class SpeechEnvelope:
    """`speech_envelope` computed as the signal arrives, block by block (the filter's
    state carried across blocks): the same frames as over the whole signal at once, and
    memory of 4 bytes per frame (2.9 MB for two hours), not of the signal."""

    def __init__(self, sr: int = SAMPLE_RATE):
        from scipy.signal import butter
        self.sr = sr
        self.hop = max(1, int(round(sr * ENV_HOP)))
        self._sos = butter(4, [300, min(3400, 0.45 * sr)], btype="band", fs=sr, output="sos")
        self._zi = np.zeros((self._sos.shape[0], 2))
        self._rest = np.zeros(0)                 # filtered samples short of a whole hop
        self._energy: list[np.ndarray] = []      # mean square per hop
        self.samples = 0

    def feed(self, block: np.ndarray) -> None:
        from scipy.signal import sosfilt
        x = np.asarray(block, dtype=np.float32)
        if not len(x):
            return
        self.samples += len(x)
        # causal filter: its ~1 ms group delay is negligible at a 10 ms hop
        y, self._zi = sosfilt(self._sos, x, zi=self._zi)
        y = np.concatenate([self._rest, y]) if len(self._rest) else y
        n = len(y) // self.hop
        self._energy.append(np.square(y[:n * self.hop]).reshape(n, self.hop).mean(axis=1))
        self._rest = y[n * self.hop:]

    def energy(self) -> np.ndarray:
        """Mean square per hop so far (not smoothed, linear)."""
        return np.concatenate(self._energy) if self._energy else np.zeros(0)

    def finish(self) -> np.ndarray:
        if self.samples < self.hop * 4:
            return np.full(max(1, self.samples // self.hop), -100.0)
        e = np.convolve(self.energy(), np.ones(3) / 3, mode="same")
        # floor at -90 dB: digital silence must not make faint room noise look like an edge
        return (10.0 * np.log10(np.maximum(e, 1e-9))).astype(np.float32)


def refine_onset(env: np.ndarray, t: float, pre: float = ONSET_PRE,
                 post: float = ONSET_POST) -> tuple[float | None, float]:
    """Speech onset near Whisper's start `t` (s): the first rise above halfway between the
    floor (20th percentile of the second before) and the speech level (90th percentile of
    the second after), walked back down the rising edge to 20 % of that range. Returns (onset s or None, contrast
    dB)."""
    i0 = int(round(t / ENV_HOP))
    a, b = max(0, i0 - int(pre / ENV_HOP)), min(len(env), i0 + int(post / ENV_HOP))
    if b - a < 10 or i0 >= len(env):
        return None, 0.0
    before = env[max(0, i0 - 100):i0 + 5]
    after = env[i0:i0 + 100]
    floor, peak = float(np.percentile(before, 20)), float(np.percentile(after, 90))
    contrast = peak - floor
    if contrast < MIN_CONTRAST_DB:
        return None, contrast
    w = env[a:b]
    above = w > floor + 0.5 * contrast
    # first rise that stays up ONSET_HOLD s (a door slam or a drum hit does not)
    hold = max(1, int(round(ONSET_HOLD / ENV_HOP)))
    run = np.convolve(above.astype(np.int32), np.ones(hold, dtype=np.int32), mode="full")[
        hold - 1:hold - 1 + len(w)]
    starts = np.flatnonzero((run == hold)) - (hold - 1)
    if not len(starts):
        return None, contrast
    k = int(starts[0])
    low, k_min = floor + 0.2 * contrast, max(0, k - int(ONSET_WALKBACK / ENV_HOP))
    while k > k_min and low < w[k - 1] < w[k] + EDGE_SLACK_DB:  # down the rising edge
        k -= 1
    return (a + k) * ENV_HOP, contrast


def refine_offset(env: np.ndarray, t: float, pre: float = 0.6,
                  post: float = 0.4) -> tuple[float | None, float]:
    """Speech end near Whisper's end `t` (s): the last frame above 30 % between the floor
    after and the speech level before. Returns (offset s or None, contrast dB)."""
    i0 = int(round(t / ENV_HOP))
    a, b = max(0, i0 - int(pre / ENV_HOP)), min(len(env), i0 + int(post / ENV_HOP))
    if b - a < 10 or i0 <= 5 or i0 >= len(env):
        return None, 0.0
    floor = float(np.percentile(env[max(0, i0 - 5):i0 + 100], 20))
    peak = float(np.percentile(env[max(0, i0 - 100):i0], 90))
    contrast = peak - floor
    if contrast < MIN_CONTRAST_DB:
        return None, contrast
    above = np.flatnonzero(env[a:b] > floor + 0.3 * contrast)
    if not len(above):
        return None, contrast
    return (a + int(above[-1]) + 1) * ENV_HOP, contrast


def refine_phrases(phrases: Sequence[Phrase], env: np.ndarray) -> list[Phrase]:
    """Attach energy onsets/offsets to phrases (pure: envelope in, phrases out)."""
    out = []
    for p in phrases:
        on, _ = refine_onset(env, p.start)
        off, _ = refine_offset(env, p.end)
        if on is not None and off is not None and off <= on:
            off = None
        out.append(Phrase(p.start, p.end, p.text, on, off))
    return out


# --------------------------------------------------------------------------- matcher
def align_phrases(dub_starts: np.ndarray, orig_starts: np.ndarray, sim: np.ndarray,
                  params: MatcherParams = MatcherParams()) -> list[Match]:
    """Monotonic alignment of dub phrases to original phrases. Pure.

    `dub_starts` (n,), `orig_starts` (m,): phrase start times (s), each sorted ascending;
    `sim` (n, m): similarity (cosine). Returns matches with strictly increasing dub and
    orig indices, maximizing  sum(gain(sim)) - jump_penalty * jumps,  where two consecutive
    matches are continuous (no jump) when the original time advances like the dub time
    within speed_tol (relative) + abs_tol (s); any other step is a jump (a cut or an
    insert). Phrases may stay unmatched (gaps) at no cost, so missing, extra and
    mistranscribed lines are skipped rather than forced.
    """
    ds = np.asarray(dub_starts, dtype=float)
    os_ = np.asarray(orig_starts, dtype=float)
    S = np.asarray(sim, dtype=float)
    n, m = S.shape if S.ndim == 2 else (0, 0)
    if n == 0 or m == 0:
        return []
    # Candidates: the best few per dub row above min_sim.
    k = min(params.top_per_row, m)
    top = np.argpartition(-S, k - 1, axis=1)[:, :k] if k < m else np.tile(np.arange(m), (n, 1))
    ci, cj = [], []
    for i in range(n):
        js = top[i][S[i, top[i]] >= params.min_sim]
        ci.extend([i] * len(js))
        cj.extend(js.tolist())
    if not ci:
        return []
    ci_a, cj_a = np.array(ci), np.array(cj)
    order = np.lexsort((cj_a, ci_a))
    ci_a, cj_a = ci_a[order], cj_a[order]
    cs = S[ci_a, cj_a]
    gain = (cs - params.weight_sim0) / (1.0 - params.weight_sim0)
    td, to = ds[ci_a], os_[cj_a]
    K = len(ci_a)
    best = gain.copy()
    prev = np.full(K, -1)
    cont = np.zeros(K, dtype=bool)  # reached from prev without a jump
    for l in range(K):
        ok = np.flatnonzero((ci_a[:l] < ci_a[l]) & (cj_a[:l] < cj_a[l]))
        if not len(ok):
            continue
        dd = td[l] - td[ok]
        do = to[l] - to[ok]
        smooth = np.abs(do - dd) <= params.speed_tol * np.abs(dd) + params.abs_tol
        cand = best[ok] - np.where(smooth, 0.0, params.jump_penalty)
        b = int(np.argmax(cand))
        if cand[b] > 0:
            best[l] = gain[l] + cand[b]
            prev[l] = ok[b]
            cont[l] = bool(smooth[b])
    chain = []
    l = int(np.argmax(best))
    while l >= 0:
        chain.append(l)
        l = int(prev[l])
    chain.reverse()
    out = []
    for pos, l in enumerate(chain):
        into = pos > 0 and cont[l]
        outof = pos + 1 < len(chain) and cont[chain[pos + 1]]
        out.append(Match(int(ci_a[l]), int(cj_a[l]), float(cs[l]), into or outof))
    return out


def letters(text: str) -> int:
    """Letters (word characters) in `text`: how much a line can mean."""
    return len(_LETTERS.findall(text))


def pair_score(similarity: float, dub_text: str, orig_text: str, supported: bool) -> float:
    """Anchor score of a phrase-start anchor on the audio-anchor scale (see module doc)."""
    s = min(SCORE_MAX, max(0.0, SCORE_PER_SIM * (similarity - SCORE_SIM0)))
    n = min(letters(dub_text), letters(orig_text))
    if n < SHORT_PHRASE_CHARS:
        s *= max(0.3, n / SHORT_PHRASE_CHARS)
    if not supported:
        s *= 0.5
    return s


def anchors_from_matches(matches: Sequence[Match], dub: Sequence[Phrase],
                         orig: Sequence[Phrase]) -> tuple[list[Anchor], list[PhrasePair]]:
    """One anchor per matched pair, at the phrase start (never the end: see the module
    doc): on the energy onsets where both tracks have a clear edge, otherwise on Whisper's
    starts (bias-corrected, the same on both sides) at a lower score."""
    anchors: list[Anchor] = []
    pairs: list[PhrasePair] = []
    for mt in matches:
        d, o = dub[mt.dub], orig[mt.orig]
        base = pair_score(mt.similarity, d.text, o.text, mt.supported)
        if d.onset is not None and o.onset is not None:
            anchors.append(Anchor(d.onset, o.onset, round(base, 3), "speech"))
        else:
            anchors.append(Anchor(d.start + WHISPER_EARLY, o.start + WHISPER_EARLY,
                                  round(0.6 * base, 3), "speech"))
        pairs.append(PhrasePair(d.start, d.end, d.text, o.start, o.end, o.text,
                                round(mt.similarity, 4)))
    return anchors, pairs


def match_transcripts(orig_phrases: Sequence[Phrase], dub_phrases: Sequence[Phrase],
                      orig_vecs: np.ndarray, dub_vecs: np.ndarray,
                      params: MatcherParams = MatcherParams()) -> tuple[
                          list[Anchor], list[PhrasePair], list[Match]]:
    """Pure: phrases + L2-normalized embeddings (rows) -> anchors, phrase pairs, matches."""
    if not orig_phrases or not dub_phrases:
        return [], [], []
    sim = np.asarray(dub_vecs, dtype=np.float32) @ np.asarray(orig_vecs, dtype=np.float32).T
    matches = align_phrases(np.array([p.start for p in dub_phrases]),
                            np.array([p.start for p in orig_phrases]), sim, params)
    anchors, pairs = anchors_from_matches(matches, dub_phrases, orig_phrases)
    return anchors, pairs, matches


# --------------------------------------------------------------------------- orchestration
def _to_16k(audio: np.ndarray, sr: int) -> np.ndarray:
    x = np.asarray(audio, dtype=np.float32)
    if x.ndim == 2:
        x = x.mean(axis=1 if x.shape[1] <= 8 else 0)
    if sr == SAMPLE_RATE:
        return x
    from math import gcd

    from scipy.signal import resample_poly
    g = gcd(int(sr), SAMPLE_RATE)
    return resample_poly(x, SAMPLE_RATE // g, int(sr) // g).astype(np.float32)


def speech_anchors(orig: np.ndarray, dub: np.ndarray, sr: int, settings,
                   progress: Callable[[float], None] | None = None,
                   orig_regions: Sequence[tuple[float, float]] | None = None,
                   dub_regions: Sequence[tuple[float, float]] | None = None) -> SpeechResult:
    """Transcribe both tracks (only inside the regions when given, (start, end) seconds of
    each track's own timeline), pair phrases by meaning, return speech anchors.

    `orig`, `dub`: mono float32 at `sr` Hz, in memory (files are read by stretches:
    speech_windows.hear_and_match over speech_track.FileAudio listeners). `settings`:
    EngineSettings (models, device). `progress(fraction)`: 0..1 over the whole stage.
    Raises app.errors.ModelError when a configured model is missing. `timings` holds
    per-track real-time factors ("orig_rtf", "dub_rtf"), transcribed seconds and stage
    wall times (s).
    """
    from app.services.embed import get_embedder
    from app.services.speech_track import ArrayAudio, Listener
    from app.services.speech_windows import hear_and_match
    from app.services.transcribe import get_transcriber

    tr = get_transcriber(settings)
    return hear_and_match(Listener(ArrayAudio(_to_16k(orig, sr)), tr),
                          Listener(ArrayAudio(_to_16k(dub, sr)), tr),
                          get_embedder(settings).embed, orig_regions=orig_regions,
                          dub_regions=dub_regions, progress=progress)
