"""A track's phrases, heard span by span in bounded memory (speech path, stage 4).

What the speech path takes from each track is its sentences with where each really
starts (`speech.Phrase`: Whisper's transcript split at sentence ends, each start moved to
the speech energy onset). `hear` gets them for some spans of a track without holding more
than a chunk of its signal:

* each span is decoded by ffmpeg through a pipe (`media.iter_audio`, a seek to the span's
  start), and its speech envelope computed as the blocks arrive (`speech.SpeechEnvelope`,
  4 bytes per 10 ms);
* Whisper hears the span in chunks of at most CHUNK_S, each ending at the quietest moment
  of its last CUT_SEARCH_S (a pause between lines, so no line is cut in two); a span no
  longer than CHUNK_S is heard whole, as before chunks existed;
* the language is detected on each chunk until one holds speech, then kept for the rest;
* the sentences of the span get their onsets from the span's envelope.

Memory: one chunk of samples (CHUNK_S at 16 kHz: 19 MB) and what Whisper makes of it;
the phrases kept are a few hundred bytes each.

`Listener` is one track heard piece by piece: it remembers what it heard and hears only
what is new (the sparse speech path asks for windows that overlap).
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, replace
from typing import Callable, Iterable, Iterator, Protocol, Sequence

import numpy as np

from app.services import media
from app.services.progress import safe_fraction
from app.services.speech import Phrase, SpeechEnvelope, refine_phrases, split_sentences
from app.services.transcribe import (SAMPLE_RATE, REGION_MERGE_GAP, Region, Transcriber,
                                     Utterance, normalize_regions)

logger = logging.getLogger(__name__)

#: Whisper hears at most this much of a span at once: the memory of a chunk (19 MB of
#: samples, and Whisper's voice detection and features over it) instead of a film's
#: (460 MB per 2-hour track, and ~2 GB of Whisper's features over it).
CHUNK_S = 300.0
#: A chunk ends at the quietest QUIET_S of its last CUT_SEARCH_S: the pause between two
#: lines (films rarely talk 20 s without a breath), so no line is heard in two halves.
CUT_SEARCH_S = 20.0
QUIET_S = 0.3
#: A new piece of a track already partly heard starts this much inside what was heard:
#: a line that runs across the border is heard whole (and kept once, from the old piece).
OVERLAP_S = 2.0
#: Pieces shorter than this are not worth a Whisper call (its fixed cost; a part-line).
MIN_PIECE_S = 0.1

FractionCallback = Callable[[float], None]


class AudioSource(Protocol):
    """A track's mono 16 kHz signal, read by stretches."""

    duration: float

    def blocks(self, start: float, duration: float) -> Iterable[np.ndarray]:
        """float32 blocks of the signal from `start` for `duration` seconds (less at the
        end), on the track's own timeline (sample 0 = the track's first sample)."""
        ...


@dataclass(frozen=True)
class FileAudio:
    """An audio stream of a media file (its full mix: Whisper needs the dialogue)."""

    info: media.MediaInfo
    stream: media.StreamInfo

    @property
    def duration(self) -> float:
        return self.info.duration

    def blocks(self, start: float, duration: float) -> Iterator[np.ndarray]:
        # Sample 0 of the analysis timeline is the stream's first decoded sample; a seek
        # counts from the file's start (as envelope.py's second half).
        seek = start + max(self.stream.start_time, 0.0) - self.info.start_time \
            if start > 0 else None
        end = start + duration >= self.info.duration
        return media.iter_audio(self.info.path, self.stream, start=seek,
                                duration=None if end and seek is None else duration)


@dataclass(frozen=True)
class ArrayAudio:
    """A signal already in memory (tests, a snippet), read in 30 s blocks."""

    samples: np.ndarray

    @property
    def duration(self) -> float:
        return len(self.samples) / SAMPLE_RATE

    def blocks(self, start: float, duration: float) -> Iterator[np.ndarray]:
        a = max(0, int(round(start * SAMPLE_RATE)))
        b = min(len(self.samples), int(round((start + duration) * SAMPLE_RATE)))
        step = 30 * SAMPLE_RATE
        for i in range(a, b, step):
            yield np.asarray(self.samples[i:min(b, i + step)], dtype=np.float32)


@dataclass(frozen=True)
class Heard:
    """What `hear` got from a track: its phrases (track seconds, sorted by start, with
    energy onsets), the spans heard, the language (Whisper code; detected on the first
    chunk with speech, else the first chunk's guess), the audio seconds Whisper was given
    and its wall time."""

    phrases: tuple[Phrase, ...] = ()
    spans: tuple[Region, ...] = ()
    language: str | None = None
    language_probability: float = 0.0
    seconds: float = 0.0
    elapsed: float = 0.0
    chunks: int = 0

    @property
    def rtf(self) -> float:
        return self.elapsed / self.seconds if self.seconds > 0 else 0.0


def quiet_cut(energy: np.ndarray, lo: int, hi: int, hop: int) -> int:
    """The sample where a chunk should end: the middle of the quietest QUIET_S of the
    energy frames (mean square per `hop` samples) between frames `lo` and `hi`. Pure."""
    w = max(1, int(round(QUIET_S * SAMPLE_RATE / hop)))
    seg = energy[lo:hi]
    if len(seg) <= w:
        return hi * hop
    run = np.convolve(seg, np.ones(w) / w, mode="valid")
    return (lo + int(np.argmin(run)) + w // 2) * hop


def shift_phrases(phrases: Iterable[Phrase], dt: float) -> list[Phrase]:
    """The same phrases `dt` seconds later (onsets too)."""
    return [Phrase(p.start + dt, p.end + dt, p.text,
                   None if p.onset is None else p.onset + dt,
                   None if p.offset is None else p.offset + dt) for p in phrases]


def hear(source: AudioSource, spans: Sequence[Region], transcriber: Transcriber, *,
         language: str | None = None, progress: FractionCallback | None = None,
         chunk_s: float = CHUNK_S) -> Heard:
    """The phrases of `source` inside `spans` ((start, end) seconds, sorted, not
    overlapping), heard chunk by chunk (see the module doc). `language` forces Whisper's
    language (None: detected). `progress(fraction)` over all the spans."""
    total = sum(b - a for a, b in spans) or 1.0
    state = _State(language)
    phrases: list[Phrase] = []
    done = 0.0
    heard: list[Region] = []
    for a, b in spans:
        if b - a < MIN_PIECE_S:
            done += b - a
            continue
        base = done

        def span_progress(t: float, base: float = base) -> None:
            safe_fraction(progress, (base + t) / total)

        phrases.extend(_hear_span(source, a, b, transcriber, state, span_progress, chunk_s))
        heard.append((a, b))
        done += b - a
        safe_fraction(progress, done / total)
    phrases.sort(key=lambda p: p.start)
    lang, prob = state.result()
    return Heard(tuple(phrases), tuple(heard), lang, prob, state.seconds, state.elapsed,
                 state.chunks)


class _State:
    """The language settled so far and Whisper's totals, across chunks and spans."""

    def __init__(self, language: str | None):
        self.forced = language
        self.language, self.probability = language, 1.0 if language else 0.0
        self.first_guess: tuple[str | None, float] = (None, 0.0)
        self.seconds = self.elapsed = 0.0
        self.chunks = 0

    def settle(self, t) -> None:
        if self.language is not None:
            return
        if self.first_guess[0] is None:
            self.first_guess = (t.language, t.language_probability)
        if t.segments:                          # speech heard: its language is the track's
            self.language, self.probability = t.language, t.language_probability

    def result(self) -> tuple[str | None, float]:
        return (self.language, self.probability) if self.language is not None \
            else self.first_guess


def _hear_span(source: AudioSource, a: float, b: float, transcriber: Transcriber,
               state: _State, progress: Callable[[float], None], chunk_s: float
               ) -> list[Phrase]:
    """One span: decoded, its envelope, Whisper chunk by chunk; phrases in track time."""
    env = SpeechEnvelope(SAMPLE_RATE)
    hop = env.hop
    limit = int(chunk_s * SAMPLE_RATE)
    pending: list[np.ndarray] = []
    n_pending = 0
    start = 0                                   # first pending sample, from the span's start
    segments: list[Utterance] = []

    def run(chunk: np.ndarray, at: int) -> None:
        offset = a + at / SAMPLE_RATE
        t0 = time.monotonic()
        t = transcriber.transcribe(
            chunk, language=state.language,
            progress=lambda f: progress((at + f * len(chunk)) / SAMPLE_RATE))
        state.elapsed += time.monotonic() - t0
        state.seconds += len(chunk) / SAMPLE_RATE
        state.chunks += 1
        state.settle(t)
        for s in t.segments:
            segments.append(replace(s, start=s.start + offset, end=s.end + offset, words=tuple(
                replace(w, start=w.start + offset, end=w.end + offset) for w in s.words)))

    for block in source.blocks(a, b - a):
        env.feed(block)
        pending.append(block)
        n_pending += len(block)
        while n_pending >= limit + int(CUT_SEARCH_S * SAMPLE_RATE):
            audio = np.concatenate(pending)
            lo = (start + limit - int(CUT_SEARCH_S * SAMPLE_RATE)) // hop
            cut = quiet_cut(env.energy(), lo, (start + limit) // hop, hop)
            run(audio[:cut - start], start)
            pending, n_pending, start = [audio[cut - start:]], len(audio) - (cut - start), cut
    if n_pending >= int(MIN_PIECE_S * SAMPLE_RATE):
        run(np.concatenate(pending), start)
    pending = []
    phrases = split_sentences(sorted(segments, key=lambda s: s.start))
    return shift_phrases(refine_phrases(shift_phrases(phrases, -a), env.finish()), a)


class Listener:
    """One track heard piece by piece: what was heard (spans, phrases, Whisper's totals)
    is kept, and each request hears only what is new. A new piece starts OVERLAP_S
    inside a piece already heard and keeps only its phrases that start outside it."""

    def __init__(self, source: AudioSource, transcriber: Transcriber,
                 language: str | None = None):
        self.source = source
        self.transcriber = transcriber
        self.duration = source.duration
        self.spans: list[Region] = []           # heard, sorted, merged
        self.phrases: list[Phrase] = []
        self.language, self.language_probability = language, 1.0 if language else 0.0
        self._guess: tuple[str | None, float] = (None, 0.0)   # no speech heard yet
        self.seconds = self.elapsed = 0.0
        self.chunks = 0

    def new_parts(self, spans: Sequence[Region]) -> list[Region]:
        """What of `spans` (clipped, merged) is not heard yet, each part reaching
        OVERLAP_S into the heard pieces beside it."""
        want = normalize_regions(spans, self.duration, pad=0.0, merge_gap=REGION_MERGE_GAP)
        out: list[Region] = []
        for a, b in want:
            cur = a
            for h0, h1 in self.spans:
                if h1 <= cur or h0 >= b:
                    continue
                if h0 > cur:
                    out.append((cur, h0))
                cur = max(cur, h1)
            if b > cur:
                out.append((cur, b))
        grown = [(max(0.0, a - OVERLAP_S) if self._heard_at(a) else a,
                  min(self.duration, b + OVERLAP_S) if self._heard_at(b) else b)
                 for a, b in out if b - a >= MIN_PIECE_S]
        return normalize_regions(grown, self.duration, pad=0.0, merge_gap=0.0)

    def _heard_at(self, t: float) -> bool:
        return any(h0 - 1e-6 <= t <= h1 + 1e-6 for h0, h1 in self.spans)

    def _inside_heard(self, t: float) -> bool:
        return any(h0 <= t < h1 for h0, h1 in self.spans)

    def hear(self, spans: Sequence[Region], progress: FractionCallback | None = None) -> float:
        """Hear what of `spans` is new; returns the seconds heard now."""
        parts = self.new_parts(spans)
        if not parts:
            safe_fraction(progress, 1.0)
            return 0.0
        got = hear(self.source, parts, self.transcriber, language=self.language,
                   progress=progress)
        new = [p for p in got.phrases if not self._inside_heard(p.start)]
        self.phrases = sorted(self.phrases + new, key=lambda p: p.start)
        self.spans = normalize_regions(self.spans + list(got.spans), self.duration, pad=0.0,
                                       merge_gap=0.0)
        if self.language is None and got.phrases:      # speech heard: its language
            self.language, self.language_probability = got.language, got.language_probability
        elif self.language is None and self._guess[0] is None:
            self._guess = (got.language, got.language_probability)
        self.seconds += got.seconds
        self.elapsed += got.elapsed
        self.chunks += got.chunks
        return got.seconds

    @property
    def detected(self) -> tuple[str | None, float]:
        """The track's language (and probability): the one settled on speech, else the
        first guess (no speech heard)."""
        return (self.language, self.language_probability) if self.language is not None \
            else self._guess

    def phrases_in(self, spans: Sequence[Region]) -> list[Phrase]:
        """The phrases heard that start inside any of `spans` (sorted)."""
        return [p for p in self.phrases if any(a <= p.start < b for a, b in spans)]

    @property
    def heard_seconds(self) -> float:
        return sum(b - a for a, b in self.spans)
