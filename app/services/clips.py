"""Listening points and audio clips: hear whether the dub lines up at every splice.

`listening_points(report)` (pure) lists the places of a finished map worth hearing, on the
original's timeline: each cut, where each insert was dropped, each other edge (offset or
speed change) and a few points inside long segments, each with its own confidence.
`clip_args(...)` (pure) is the ffmpeg argv of a short clip of the written MKV at such a
point: the original's audio, the dub as placed, both (original left ear, dub right) or
a mix; `make_clip(...)` runs it into a cache folder (atomically; a cached clip is returned
at once). `dub_stream_index(...)` says which audio stream of the MKV a dub is.
"""
from __future__ import annotations

import logging
import os
import tempfile
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from app.errors import InputError
from app.services import media
from app.services.media import MediaInfo, ff_path

logger = logging.getLogger(__name__)

ClipKind = Literal["original", "dub", "both", "mix"]
CLIP_KINDS: tuple[str, ...] = ("original", "dub", "both", "mix")
#: Channels of each kind of clip: the film's own stereo image for one track and the mix;
#: "both" holds the original (downmixed to mono) in the left ear and the dub in the right.
CLIP_CHANNELS = {"original": 2, "dub": 2, "both": 2, "mix": 2}

CLIP_SECONDS = 8.0          # s: long enough to hear a line before and after a splice
DEDUPE_SECONDS = 3.0        # s: points closer than this are one clip's worth (keep one)
INSIDE_MIN_SECONDS = 60.0   # s: segments at least this long get points inside them
INSIDE_EVERY_SECONDS = 600.0  # s: about one inside point per ten minutes of a segment
LONG_CUT_SECONDS = 6.0      # s: a longer cut gets a point at each end, a shorter one its middle
MAX_POINTS = 40             # a film's worth; edges before inside points when over
SAMPLE_RATE = 48000         # Hz: Opus's own rate
OPUS_BITRATE = "64k"        # modest: speech and timing, not hi-fi
AAC_BITRATE = "96k"
CLIP_TIMEOUT = 120          # s: a clip decodes seconds of media; minutes mean a hang
MAX_SHIFT_MS = 10_000       # ms: a preview's nudge (dub_shift); more is another map

PointKind = Literal["cut", "insert", "edge", "inside"]
#: which kind wins when two points fall within DEDUPE_SECONDS of each other
_PRIORITY = {"cut": 0, "insert": 1, "edge": 2, "inside": 3}


@dataclass(frozen=True)
class ListenPoint:
    """A place to listen to. `t`: seconds on the original's timeline (the clip is centred
    on it); `confidence`: 0..1, the segment's (an edge: the lower of its two sides');
    `label`: English words; `detail`: the numbers behind it (seconds), for a page to word
    in its own language."""

    id: str
    t: float
    kind: PointKind
    label: str
    confidence: float
    detail: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def hms(seconds: float) -> str:
    """h:mm:ss.s (tenths rounded down)."""
    tenths = max(0, int(seconds * 10 + 1e-6))
    s = tenths // 10
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}.{tenths % 10}"


def _num(d: dict[str, Any], key: str, default: float = 0.0) -> float:
    v = d.get(key)
    return float(v) if isinstance(v, (int, float)) else default


def _segments(report: dict[str, Any]) -> list[dict[str, float]]:
    """The report's segments with every field filled (orig_end, offset, speed,
    confidence), in dub order."""
    overall = _num(report, "confidence")
    out = []
    for s in report.get("segments") or ():
        speed = _num(s, "speed", _num(report, "speed", 1.0) or 1.0) or 1.0
        ds, de, os_ = _num(s, "dub_start"), _num(s, "dub_end"), _num(s, "orig_start")
        offset = _num(s, "offset", os_ - speed * ds)
        oe = _num(s, "orig_end", os_ + speed * (de - ds))
        out.append({"dub_start": ds, "dub_end": de, "orig_start": os_, "orig_end": oe,
                    "speed": speed, "offset": offset,
                    "confidence": _num(s, "confidence", overall)})
    return sorted(out, key=lambda s: s["dub_start"])


def _speed_words(speed: float) -> str:
    return "" if abs(speed - 1.0) < 1e-6 else f", dub at speed {speed:.5f}"


def _candidates(report: dict[str, Any]) -> list[tuple[float, PointKind, str, float, dict]]:
    """Every point before dedupe and cap: (t, kind, label, confidence, detail)."""
    segs = _segments(report)
    overall = _num(report, "confidence")
    found: list[tuple[float, PointKind, str, float, dict]] = []

    def conf_around_orig(t: float) -> float:
        """The lower confidence of the segments on either side of original time t."""
        before = [s for s in segs if s["orig_end"] <= t + 0.5]
        after = [s for s in segs if s["orig_start"] >= t - 0.5]
        sides = ([before[-1]["confidence"]] if before else []) + \
            ([min(after, key=lambda s: s["orig_start"])["confidence"]] if after else [])
        return min(sides) if sides else overall

    for cut in report.get("cuts") or ():
        a, b = float(cut[0]), float(cut[1])
        conf = conf_around_orig(a) if segs else overall
        length = b - a
        detail = {"start": a, "end": b, "length": length}
        if length <= LONG_CUT_SECONDS:
            found.append(((a + b) / 2, "cut", f"cut: the dub lacks {hms(a)}–{hms(b)} "
                          f"({length:.1f} s)", conf, {**detail, "at": "middle"}))
        else:
            found.append((a, "cut", f"a cut begins: the dub lacks {hms(a)}–{hms(b)} "
                          f"({length:.1f} s)", conf, {**detail, "at": "start"}))
            found.append((b, "cut", f"a cut ends: the dub comes back at {hms(b)}",
                          conf, {**detail, "at": "end"}))

    for ins in report.get("inserts") or ():
        a, b = float(ins[0]), float(ins[1])
        before = [s for s in segs if s["dub_end"] <= a + 0.5]
        after = [s for s in segs if s["dub_start"] >= b - 0.5]
        if before:
            s = before[-1]
            t = s["orig_end"]
        elif after:
            s = after[0]
            t = s["orig_start"]
        else:
            t = 0.0
        sides = ([before[-1]["confidence"]] if before else []) + \
            ([after[0]["confidence"]] if after else [])
        found.append((t, "insert", f"dub {hms(a)}–{hms(b)} ({b - a:.1f} s) dropped here",
                      min(sides) if sides else overall,
                      {"dub_start": a, "dub_end": b, "length": b - a}))

    for prev, nxt in zip(segs, segs[1:]):
        d_off = nxt["offset"] - prev["offset"]
        d_speed = nxt["speed"] - prev["speed"]
        if abs(d_off) < 0.02 and abs(d_speed) < 1e-6:
            continue
        t = nxt["orig_start"]
        label = f"the offset changes from {prev['offset']:+.3f} s to {nxt['offset']:+.3f} s"
        if abs(d_speed) >= 1e-6:
            label += f"; speed {prev['speed']:.5f} → {nxt['speed']:.5f}"
        found.append((t, "edge", label, min(prev["confidence"], nxt["confidence"]),
                      {"offset_before": prev["offset"], "offset_after": nxt["offset"],
                       "speed_before": prev["speed"], "speed_after": nxt["speed"]}))

    def inside(s: dict[str, float], n: int) -> None:
        length = s["orig_end"] - s["orig_start"]
        for i in range(n):
            t = s["orig_start"] + (i + 0.5) * length / n
            found.append((t, "inside", f"inside a segment (offset {s['offset']:+.3f} s"
                          f"{_speed_words(s['speed'])})", s["confidence"],
                          {"offset": s["offset"], "speed": s["speed"],
                           "segment": [s["orig_start"], s["orig_end"]]}))

    long_ones = [s for s in segs if s["orig_end"] - s["orig_start"] >= INSIDE_MIN_SECONDS]
    for s in long_ones:
        length = s["orig_end"] - s["orig_start"]
        inside(s, max(1, round(length / INSIDE_EVERY_SECONDS)))
    if not long_ones and segs:   # a short film: at least its longest segment's middle
        inside(max(segs, key=lambda s: s["orig_end"] - s["orig_start"]), 1)
    return found


def listening_points(report: dict[str, Any], limit: int = MAX_POINTS) -> list[ListenPoint]:
    """The places of a map worth hearing, sorted by time on the original's timeline, ids
    "p1", "p2"... in that order (the same report always gives the same ids).

    Points within DEDUPE_SECONDS of each other are one: a cut beats an insert, an edge,
    an inside point (the kept one takes the lower confidence). Over `limit` points, edges
    are kept first (the least sure first), then inside points spread over the film."""
    found = sorted(_candidates(report), key=lambda c: (c[0], _PRIORITY[c[1]]))
    kept: list[list[Any]] = []
    for t, kind, label, conf, detail in found:
        t = max(0.0, t)
        near = [k for k in kept if abs(k[0] - t) < DEDUPE_SECONDS]
        if near:
            k = near[0]
            if _PRIORITY[kind] < _PRIORITY[k[1]]:
                k[:] = [t, kind, label, min(conf, k[3]), detail]
            else:
                k[3] = min(conf, k[3])
            continue
        kept.append([t, kind, label, conf, detail])
    if len(kept) > limit:
        edges = sorted((k for k in kept if k[1] != "inside"), key=lambda k: k[3])[:limit]
        room = limit - len(edges)
        inside = [k for k in kept if k[1] == "inside"]
        step = len(inside) / room if room else 0
        picked = [inside[int(i * step)] for i in range(room)] if room else []
        kept = edges + picked
    kept.sort(key=lambda k: k[0])
    return [ListenPoint(f"p{i + 1}", round(t, 3), kind, label, round(conf, 4), detail)
            for i, (t, kind, label, conf, detail) in enumerate(kept)]


# -- which stream is the dub ------------------------------------------------------------
def accepted_dubs(report: dict[str, Any]) -> int:
    """How many dub tracks the MKV holds: the accepted entries of `dubs` (a task of
    several dubs), 1 otherwise."""
    dubs = report.get("dubs")
    if not dubs:
        return 1
    return max(1, sum(1 for d in dubs if d.get("accepted")))


def dub_stream_index(audio_streams: int, dubs: int, track: int) -> int:
    """The audio stream number (0-based among the MKV's audio streams) of dub `track`
    (0 = the first dub written): the dubs are the last `dubs` audio streams, in order.
    Raise InputError when there is no such dub."""
    if not 0 <= track < dubs:
        raise InputError(f"track {track} does not exist: this file holds {dubs} dub "
                         "track(s); use track=0" + (f" to {dubs - 1}" if dubs > 1 else ""))
    if audio_streams < dubs + 1:
        raise InputError(f"the file has {audio_streams} audio stream(s): too few to hold "
                         f"the original and {dubs} dub(s)")
    return audio_streams - dubs + track


def report_for_track(report: dict[str, Any], track: int) -> dict[str, Any]:
    """The report of dub `track` (0 = the first dub written): the task's own report for
    the first accepted dub, that dub's entry in `dubs` for the others (falling back to the
    task's report when an entry has none)."""
    dubs = report.get("dubs")
    if not dubs:
        return report
    accepted = [d for d in dubs if d.get("accepted")]
    if not 0 <= track < len(accepted):
        return report
    return accepted[track].get("report") or report


# -- the clip's command -----------------------------------------------------------------
@lru_cache(maxsize=1)
def has_libopus() -> bool:
    """Whether this ffmpeg can encode Opus (libopus); AAC otherwise."""
    try:
        out, _ = media.run_ffmpeg_capture(["-encoders"], timeout=media.VERSION_TIMEOUT)
    except media.MediaError:
        return False
    return b"libopus" in out


def clip_format(opus: bool | None = None) -> tuple[str, str]:
    """(file suffix, mimetype) of a clip: Opus in Ogg, or AAC in MP4 (.m4a)."""
    if opus is None:
        opus = has_libopus()
    return (".ogg", "audio/ogg") if opus else (".m4a", "audio/mp4")


def _branch(stream: int, label: str, layout: str, source: int = 0, lead: float = 0.0
            ) -> str:
    """One audio stream of input `source` on the clip's own timeline (t=0 at the seek
    point, a late-starting stream padded with silence at its head and all of them at
    their tail, so the clip has exactly the length asked), in `layout`; `lead` s of
    silence before it (a preview shifted past the file's start)."""
    delay = f"adelay={round(lead * 1000)}:all=1," if lead > 0 else ""
    return (f"[{source}:a:{stream}]aresample=async=1:first_pts=0,{delay}apad,"
            f"aformat=sample_fmts=fltp:sample_rates={SAMPLE_RATE}:channel_layouts={layout}"
            f"[{label}]")


def clip_args(mkv: Path, start: float, duration: float, kind: str, orig_stream: int,
              dub_stream: int, out: Path, *, opus: bool = True, dub_shift: float = 0.0
              ) -> list[str]:
    """ffmpeg argv (without the program) writing a clip of `mkv` from `start` (s) for
    `duration` (s) to `out`. `orig_stream`, `dub_stream`: audio stream numbers of the MKV
    (0-based among its audio streams, "-map 0:a:N"). `kind`: "original" or "dub" (that
    track in stereo), "both" (stereo: the original downmixed to mono left, the dub mono
    right), "mix" (the two mixed, stereo). Opus in Ogg, or AAC in MP4 when not `opus`.
    The seek is on the input (fast).

    `dub_shift` (s, |x| <= MAX_SHIFT_MS): a preview of the dub `dub_shift` later than
    written (a nudge of its segment's offset, heard before it is applied): the dub is
    then read from a second opening of the file, sought `dub_shift` earlier."""
    start = max(0.0, start)
    src, lead = 0, 0.0
    inputs = ["-ss", f"{start:.3f}", "-i", ff_path(mkv)]
    if dub_shift and kind != "original":
        dub_seek = start - dub_shift
        lead = max(0.0, -dub_seek)
        src = 1
        inputs += ["-ss", f"{max(0.0, dub_seek):.3f}", "-i", ff_path(mkv)]
    if kind == "original":
        graph = _branch(orig_stream, "a", "stereo")
    elif kind == "dub":
        graph = _branch(dub_stream, "a", "stereo", src, lead)
    elif kind == "both":
        graph = (f"{_branch(orig_stream, 'o', 'mono')};"
                 f"{_branch(dub_stream, 'd', 'mono', src, lead)};"
                 "[o][d]join=inputs=2:channel_layout=stereo:map=0.0-FL|1.0-FR[a]")
    elif kind == "mix":
        graph = (f"{_branch(orig_stream, 'o', 'stereo')};"
                 f"{_branch(dub_stream, 'd', 'stereo', src, lead)};"
                 "[o][d]amix=inputs=2:duration=longest[a]")
    else:
        raise InputError(f"unknown clip kind {kind!r}: use one of {', '.join(CLIP_KINDS)}")
    codec = ["-c:a", "libopus", "-b:a", OPUS_BITRATE, "-f", "ogg"] if opus else \
        ["-c:a", "aac", "-b:a", AAC_BITRATE, "-movflags", "+faststart", "-f", "mp4"]
    return ["-y", *inputs, "-filter_complex", graph, "-map", "[a]", "-t", f"{duration:.3f}",
            "-vn", "-sn", "-dn", "-map_metadata", "-1", *codec, ff_path(out)]


def clip_window(t: float, film: float, length: float = CLIP_SECONDS) -> tuple[float, float]:
    """(start, duration) s of a clip centred on `t`, kept inside a film of `film` s."""
    length = min(length, film) if film > 0 else length
    start = min(max(0.0, t - length / 2), max(0.0, film - length))
    return round(start, 3), round(length, 3)


def clip_name(start: float, duration: float, kind: str, track: int, suffix: str,
              shift_ms: int = 0) -> str:
    """The cache file's name: everything the clip depends on."""
    shifted = f"-s{shift_ms}" if shift_ms and kind != "original" else ""
    return (f"{kind}-t{track}-{int(round(start * 1000))}-{int(round(duration * 1000))}"
            f"{shifted}{suffix}")


def make_clip(mkv: Path, start: float, duration: float, kind: str, orig_stream: int,
              dub_stream: int, cache_dir: Path, *, track: int = 0, dub_shift: float = 0.0
              ) -> Path:
    """The clip (see clip_args) in `cache_dir`: returned at once when it is there, made
    otherwise (under a temporary name, renamed when complete). Raises MediaError when
    ffmpeg fails."""
    suffix, _ = clip_format()
    path = Path(cache_dir) / clip_name(start, duration, kind, track, suffix,
                                       round(dub_shift * 1000))
    if path.is_file():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=".clip-", suffix=suffix, dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        media.run_ffmpeg(clip_args(mkv, start, duration, kind, orig_stream, dub_stream, tmp,
                                   opus=suffix == ".ogg", dub_shift=dub_shift),
                         timeout=CLIP_TIMEOUT)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    logger.info("clip %s made from %s", path.name, Path(mkv).name)
    return path


def tracks_of(info: MediaInfo, report: dict[str, Any]) -> list[dict[str, Any]]:
    """The dub tracks of a written MKV: [{index (0 = first dub), language, title}]."""
    audio = info.audio
    n = accepted_dubs(report)
    if len(audio) <= n:
        return []
    return [{"index": i, "language": s.language or None, "title": s.title or None}
            for i, s in enumerate(audio[len(audio) - n:])]


@lru_cache(maxsize=32)
def _probe_once(path: str, mtime_ns: int, size: int) -> MediaInfo:
    return media.probe(Path(path), "output")


def probe_output(path: Path) -> MediaInfo:
    """media.probe of a written MKV, remembered while the file is unchanged (a player
    asks for a clip in several Range requests)."""
    st = Path(path).stat()
    return _probe_once(str(path), st.st_mtime_ns, st.st_size)
