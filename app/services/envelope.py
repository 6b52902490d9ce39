"""Onset envelopes of whole soundtracks (the analysis half of pipeline stage 2, extract).

A track is decoded by ffmpeg and its envelope computed block by block as the samples
arrive (features.OnsetExtractor), so memory does not grow with the film. Decoding is
single-threaded in ffmpeg (a 2-hour AC-3 5.1 track: ~12 s), so a long track is decoded
as two halves at once, each by its own ffmpeg:

  * the first half decodes from the start and is fed up to the split frame K;
  * the second seeks to PRE_S before the split (decoder and resampler warm-up) and its
    first PRE_S of frames are dropped, so frame K onwards equal a single pass's;
  * the two overlap by PRE_S + CHECK_S, where their samples are compared: the second half
    must start where its timestamps say, within MAX_SLIP samples (a few samples off, as
    rounded timestamps give, it is decoded again from the corrected place), the first must
    hold as many samples as its length in time (a timestamp jump breaks that); otherwise,
    or when the overlap is silent (nothing to compare), or when a half fails to decode,
    the track is decoded again in one pass. Only containers with trustworthy timestamps
    are split (Matroska, MP4/MOV); MPEG-TS captures and AVI decode in one pass.
"""
from __future__ import annotations

import logging
import threading
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from app.errors import InputError, MediaError
from app.services import features
from app.services import media
from app.services.anchors import RunningPearson
from app.services.device import usable_cores

logger = logging.getLogger(__name__)

SPLIT_MIN_S = 600.0       # tracks shorter than this decode in one pass
PRE_S = 2.0               # decoded before the split by the second half, then dropped
CHECK_S = 4.0             # decoded after the split by the first half, for the check
MAX_SLIP = 2              # samples (0.125 ms at 16 kHz) the halves may disagree by
_SEARCH = 800             # samples searched each way when comparing the halves
_SPLIT_FORMATS = ("matroska", "webm", "mov", "mp4", "m4a")
#: An onset envelope that never rises above this is silence to the analysis: digital
#: silence gives 0, white noise at -120 dBFS peaks at ~0.2 and at -110 dBFS at ~1.7, and
#: any real soundtrack has onsets of 5-30. Such a track has nothing to match.
SILENT_ONSET = 0.5


@dataclass(frozen=True)
class TrackEnvelope:
    env: np.ndarray               # onset envelope, FRAME_RATE frames per second
    bands: np.ndarray             # (frames, N_BANDS) onset per band group


def splittable(info: media.MediaInfo) -> bool:
    """Whether the container's timestamps can be trusted for a seek-and-join."""
    names = info.format_name.split(",")
    return info.duration >= SPLIT_MIN_S and any(n in _SPLIT_FORMATS for n in names)


def decode_cost(info: media.MediaInfo, stream: media.StreamInfo) -> float:
    """A track's decoding cost, relative: its length times (1 + its channels). (One core
    decodes a 2-hour AC-3 track in ~21 s as 5.1, ~9 s as stereo: 7 against 3.)"""
    return max(info.duration, 0.0) * (1 + max(1, stream.channels))


def plan_splits(tracks: Sequence[tuple[media.MediaInfo, media.StreamInfo]],
                cores: int | None = None) -> list[bool]:
    """Which of the tracks decoded at once go in two halves: those whose container allows
    it (`splittable`) and whose decoding is over the cores' fair share of all of them
    (with 10 % slack). Two tracks on two cores: only the costlier one (the other decodes
    beside its halves; splitting both would only add processes and their overlaps:
    -2 CPU s on a 2-hour film); one track alone: split; on four cores: both. `cores`:
    None for those this process may use."""
    costs = [decode_cost(i, s) for i, s in tracks]
    share = sum(costs) / max(1, usable_cores() if cores is None else cores)
    return [splittable(i) and c > 1.1 * share for (i, _), c in zip(tracks, costs)]


def track_envelope(info: media.MediaInfo, stream: media.StreamInfo, *, bed_only: bool,
                   progress: Callable[[float], None] | None = None,
                   split: bool | None = None) -> TrackEnvelope:
    """Decode one audio stream and compute its envelope; see the module docstring.

    `split`: force (True) or forbid (False) decoding in two halves; None decides for the track decoded alone
    (`plan_splits`)."""
    report = progress or (lambda f: None)
    if split is None:
        split = plan_splits([(info, stream)])[0]
    track = None
    if split:
        track = _two_halves(info, stream, bed_only, report)
    if track is None:
        track = _one_pass(info, stream, bed_only, report)
    _require_sound(track, info, stream, bed_only)
    return track


def _require_sound(track: TrackEnvelope, info: media.MediaInfo, stream: media.StreamInfo,
                   bed_only: bool) -> None:
    """InputError when the whole track is silent: there is nothing to match it on (and
    nothing to transcribe). A silent bed of a track whose dialogue was dropped (the centre
    of a 5.1) says nothing about the dialogue, so only the full mix is judged."""
    if bed_only and media.downmix_filter(stream, True) != media.downmix_filter(stream, False):
        return
    if float(np.max(track.env, initial=0.0)) < SILENT_ONSET:
        raise InputError(f"{info.path.name!r}: its audio (stream {stream.kind_index}) is "
                         "silent from start to end, so there is no sound to match; check "
                         "that the file plays with sound, or choose another of its audio "
                         "tracks if it has several")


def _one_pass(info, stream, bed_only, report) -> TrackEnvelope:
    ex = features.OnsetExtractor()
    dur = max(info.duration, 1.0)
    done = 0
    for block in media.iter_audio(info.path, stream, bed_only=bed_only):
        ex.feed(block)
        done += len(block)
        report(min(1.0, done / media.ANALYSIS_RATE / dur))
    env, _energy = ex.finish()
    if len(env) < 10:
        raise InputError(f"{info.path.name!r}: its audio is too short to analyse "
                         "(less than a second)")
    return TrackEnvelope(env, ex.bands())


@dataclass
class _Part:
    extractor: features.OnsetExtractor
    kept: np.ndarray              # the samples asked for, for the overlap check
    samples: int                  # samples decoded


def _decode_part(info, stream, bed_only, start: float | None, duration: float | None,
                 feed_limit: int | None, keep: tuple[int, int],
                 report: Callable[[int], None]) -> _Part:
    """Decode [start, start + duration) and feed its first `feed_limit` samples (all when
    None) to a new extractor; keep the samples with indexes in [keep[0], keep[1])."""
    ex = features.OnsetExtractor()
    kept: list[np.ndarray] = []
    pos = 0
    for block in media.iter_audio(info.path, stream, bed_only=bed_only, start=start,
                                  duration=duration):
        n = len(block)
        take = n if feed_limit is None else max(0, min(n, feed_limit - pos))
        if take:
            ex.feed(block[:take])
        a, b = max(keep[0], pos), min(keep[1], pos + n)
        if a < b:
            kept.append(block[a - pos:b - pos].copy())
        pos += n
        report(pos)
    return _Part(ex, np.concatenate(kept) if kept else np.zeros(0, np.float32), pos)


def slip(first: np.ndarray, second: np.ndarray, search: int) -> int | None:
    """Samples by which `second` (which starts `search` samples before `first` nominally
    does and runs `search` beyond its end) lags the same audio in `first`: 0 when both
    say the same; None when they do not match (or `first` is silent: see `quiet`)."""
    if len(first) < 1000 or len(second) != len(first) + 2 * search or quiet(first):
        return None
    a = first.astype(np.float64) - first.mean()
    ncc = RunningPearson(second).at(a, np.arange(2 * search + 1))  # lag -search .. +search
    j = int(np.argmax(ncc))
    if ncc[j] < 0.9:
        return None
    return j - search


def quiet(x: np.ndarray) -> bool:
    """Too quiet to compare (RMS under -80 dBFS)."""
    return len(x) == 0 or float(np.sqrt(np.mean(x.astype(np.float64) ** 2))) < 1e-4


class _Abandoned(Exception):
    """Raised in a half's progress callback when the other half failed."""


def _two_halves(info, stream, bed_only, report) -> TrackEnvelope | None:
    sr, hop, win = media.ANALYSIS_RATE, features.HOP, features.WIN
    k = int(info.duration / 2 * features.FRAME_RATE)               # split frame
    split = k * hop                                         # its first sample
    pre, check = int(PRE_S * sr), int(CHECK_S * sr)
    # Analysis sample 0 is the stream's first decoded sample, at pts max(start, 0) (an
    # Opus stream starts at minus its pre-skip, which the decoder drops); a seek counts
    # from the file's start.
    start_b = (split - pre) / sr + max(stream.start_time, 0.0) - info.start_time
    head = (split + check + _SEARCH) / sr + 0.1             # first half's length (s)
    done = [0, 0]
    lock = threading.Lock()
    stop = threading.Event()
    total = max(1.0, info.duration * sr)

    def count(i):
        def f(n):
            if stop.is_set():
                raise _Abandoned
            with lock:
                done[i] = n
                report(min(1.0, sum(done) / total))
        return f

    try:
        with ThreadPoolExecutor(2, thread_name_prefix="half") as ex:
            # first half: frames 0..k-1 (frame k-1 ends at split - hop + win), then the check
            fa = ex.submit(_decode_part, info, stream, bed_only, None, head,
                           split - hop + win, (split - pre // 2, split + check), count(0))
            fb = ex.submit(_decode_part, info, stream, bed_only, start_b, None, None,
                           (pre // 2 - _SEARCH, pre + check + _SEARCH), count(1))
            wait([fa, fb], return_when=FIRST_EXCEPTION)
            if fa.exception() is not None or fb.exception() is not None:
                stop.set()                      # the other half stops at its next block
            errors = [f.exception() for f in (fa, fb)]
            failed = [e for e in errors if e is not None and not isinstance(e, _Abandoned)]
            if failed:
                raise failed[0]
            first, second = fa.result(), fb.result()
    except MediaError as e:
        logger.warning("%s: decoding in halves failed (%s): one pass instead",
                       info.path.name, str(e).splitlines()[0])
        return None
    env_a, _ = first.extractor.finish()
    env_b, _ = second.extractor.finish()
    drop = pre // hop
    # Timestamps that jump (or a stream that ends early) make the first half, cut by
    # time, decode more or fewer samples than its length says (beyond 2 ms: rounding):
    # the seek cannot be trusted.
    expected = round(head * sr)
    if len(env_a) != k or len(env_b) <= drop or abs(first.samples - expected) > sr // 500:
        logger.warning("%s: the halves do not add up (%d/%d frames, %d samples for %d): "
                       "one pass instead", info.path.name, len(env_a), k, first.samples,
                       expected)
        return None
    if quiet(first.kept):
        logger.warning("%s: silent where the halves meet, nothing to check them on: one "
                       "pass instead", info.path.name)
        return None
    lag = slip(first.kept, second.kept, _SEARCH)
    if lag is not None and abs(lag) > MAX_SLIP:
        # Timestamps rounded to the container's clock (Matroska: 1 ms) can put the seek a
        # few samples off, the same way at every packet: seek again, corrected, once.
        logger.info("%s: second half %d samples off its timestamps: decoding it again "
                    "from %.4f s", info.path.name, lag, start_b + lag / sr)
        start_b += lag / sr
        second = _decode_part(info, stream, bed_only, start_b, None, None,
                              (pre // 2 - _SEARCH, pre + check + _SEARCH), count(1))
        env_b, _ = second.extractor.finish()
        lag = slip(first.kept, second.kept, _SEARCH) if len(env_b) > drop else None
    if lag is None or abs(lag) > MAX_SLIP:
        logger.warning("%s: the second half does not start where its timestamps say "
                       "(%s): decoding in one pass", info.path.name,
                       "no match" if lag is None else f"{lag} samples off")
        return None
    env = np.concatenate([env_a, env_b[drop:]])
    bands = np.concatenate([first.extractor.bands(), second.extractor.bands()[drop:]])
    report(1.0)
    return TrackEnvelope(env, bands)
