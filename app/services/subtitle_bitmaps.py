"""Picture subtitle streams of the dub (PGS, VobSub, DVB) re-timed through their packets,
with ffmpeg only: the stream is copied into a small Matroska file, its packets and decoded
pictures listed with ffprobe (`parse_display_sets`), each display set placed by
`plan_bitmap` with the text cues' rules (app.services.subtitles: kept on the longer side
of an edge, dropped in an insert; a clear goes to the mapped end of the picture it ends),
and one stream copy applies the plan through bitstream filters (`bitmap_bsf`: `noise`
drops the sets in inserts, `setts` moves the rest, a segment's line as one expression).
The pictures are never decoded into the output: codec, palette and bitmaps are the dub's
own.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

from app.services import media
from app.services.subtitles import (EXTRACT_TIMEOUT, EmbeddedSubtitle, RetimeResult,
                                    retime_interval)
from app.services.timemap import TimeMap

logger = logging.getLogger(__name__)

#: ms a display set with neither a duration nor a set after it is taken to last, to
#: choose the segment it goes with (the last set of a stream, usually a clear).
LAST_SET_MS = 1000


@dataclass(frozen=True)
class DisplaySet:
    """One display set of a picture subtitle stream (PGS, VobSub, DVB): the packet (or
    the packets sharing one time) that shows a picture, or clears the screen (`empty`:
    it decodes to no picture). `pts` in ms on the dub timeline; `duration` in ms, 0 when
    the packet has none (a PGS picture lasts until the next set)."""

    pts: int
    duration: int = 0
    empty: bool = False


@dataclass(frozen=True)
class KeptSet:
    """A display set kept: `dub_pts` where it was (dub ms), `pts` where it goes
    (original ms), `duration` its packet duration on the original (ms; -1: left as it
    is, for a set with none or a clear)."""

    dub_pts: int
    pts: int
    duration: int = -1


@dataclass(frozen=True)
class BitmapPlan:
    """What happens to each display set, for `bitmap_bsf`. `kept` in order; `dropped`:
    dub pts (ms) of the sets left out. `result`: counts over the picture sets (a clear
    is not a cue): `moved` kept, `clipped` of those cut at a segment edge, `dropped`
    left out; `kept` counts every set written, clears included. `overstays`: pictures
    that stay up over a cut (or an insert's place) until the next kept set, because
    their end was a picture that is not kept there (no clear of theirs to move)."""

    kept: tuple[KeptSet, ...]
    dropped: tuple[int, ...]
    result: RetimeResult
    overstays: int = 0


def _set_end(sets: Sequence[DisplaySet], i: int) -> int:
    """Dub ms where set i's picture ends: its duration, cut at the next set's start (a
    picture never outlives the set that replaces it); else the next set's start."""
    nxt = sets[i + 1].pts if i + 1 < len(sets) and sets[i + 1].pts > sets[i].pts else None
    if sets[i].duration > 0:
        end = sets[i].pts + sets[i].duration
        return min(end, nxt) if nxt is not None else end
    return nxt if nxt is not None else sets[i].pts + LAST_SET_MS


def plan_bitmap(sets: Sequence[DisplaySet], tmap: TimeMap) -> BitmapPlan:
    """Pure: display sets on the dub timeline (in order) -> where each goes on the
    original's.

    A picture set is placed like a text cue (`retime_interval` of [pts, its end)): kept
    on the longer side of an edge and moved to that segment's start when it began
    before it, its duration scaled by the speed (and cut at the edge), dropped in an
    insert. A clear (an empty set) ends the picture before it: when that picture was
    kept, the clear is kept too and goes to the picture's mapped end, even when the
    clear itself lies in an insert or across an edge, so no picture stays up over a
    cut; a clear with no kept picture before it is placed by its own time, dropped in an
    insert. A picture whose end is another picture (no clear between) ends where that
    one is placed; when that one is dropped or lies past a cut, it stays up until the
    next kept set (counted in `overstays`). A VobSub picture's end is also written
    inside its packet, relative to its start, and is kept as it is: on a PAL map such a
    picture goes off about 4 % of its length early (its packet duration is scaled).
    """
    kept: list[KeptSet] = []
    dropped: list[int] = []
    res = RetimeResult()
    overstays = 0
    pending: int | None = None          # original ms where the last kept picture ends
    for i, ds in enumerate(sets):
        placed = retime_interval(ds.pts, _set_end(sets, i), tmap)
        if ds.empty:
            if pending is not None:
                at, pending = pending, None
            elif placed is not None:
                at = placed[0]
            else:
                dropped.append(ds.pts)
                continue
            kept.append(KeptSet(ds.pts, max(at, kept[-1].pts) if kept else at))
            continue
        if placed is None or (kept and placed[0] < kept[-1].pts):
            dropped.append(ds.pts)      # in an insert (or a map out of order)
            res.dropped += 1
            continue
        start, end, clipped = placed
        if pending is not None and start - pending > 1:
            overstays += 1
        kept.append(KeptSet(ds.pts, start, end - start if ds.duration > 0 else -1))
        res.moved += 1
        res.clipped += clipped
        # what ends it: the next set (PGS; DVB's clear), or its own end (VobSub)
        nxt = sets[i + 1].pts if i + 1 < len(sets) else None
        ended_by_next = ds.duration <= 0 or (nxt is not None and ds.pts + ds.duration >= nxt)
        pending = end if ended_by_next else None
    res.kept = len(kept)
    return BitmapPlan(tuple(kept), tuple(dropped), res, overstays)


def _num(x: float) -> str:
    """A number for an ffmpeg expression, exact: repr round-trips a double."""
    return str(int(x)) if float(x).is_integer() else repr(float(x))


def _piecewise(pieces: list[tuple[int, str]], var: str) -> str:
    """Nested ifs choosing, for `var`, the expression of the last piece whose first
    pts is <= var; `pieces` sorted by first pts. Balanced: depth log2 of their number."""
    if len(pieces) == 1:
        return pieces[0][1]
    mid = len(pieces) // 2
    return (f"if(lt({var},{pieces[mid][0]}),{_piecewise(pieces[:mid], var)},"
            f"{_piecewise(pieces[mid:], var)})")


def _runs(rules: Iterable[tuple[int, str]]) -> list[tuple[int, str]]:
    """(pts, expression) per kept set -> pieces: consecutive sets with the same
    expression merged into one piece starting at the first's pts."""
    pieces: list[tuple[int, str]] = []
    for pts, expr in rules:
        if not pieces or pieces[-1][1] != expr:
            pieces.append((pts, expr))
    return pieces


def _quoted(expr: str) -> str:
    """An expression as one option value inside ffmpeg's -bsf list: quoted for the
    list's parser, its commas escaped for the option parser."""
    return "'" + expr.replace(",", "\\,") + "'"


def bitmap_bsf(plan: BitmapPlan, tmap: TimeMap, durations: dict[int, int]) -> str:
    """Pure: the -bsf:s chain applying `plan` to a stream in 1 ms ticks (Matroska's):
    `noise` drops the sets left out (runs of them as ranges of dub pts), then `setts`
    sets each kept set's pts and dts, and its duration. A set moved by its segment's
    line gets the line as an expression (``O+(PTS-D)*S`` in ms, which ffmpeg computes
    in doubles and rounds half to even as Python does, so it writes the plan's value);
    a set moved elsewhere (to a segment's start, to a picture's end) gets its value.
    The expressions grow with the segments and edges, not with the number of sets.
    `durations`: each set's packet duration in the input (dub pts -> ms, 0 = none)."""
    kept = {k.dub_pts for k in plan.kept}
    runs: list[list[int]] = []
    prev_dropped = False
    for pts in sorted(kept | set(plan.dropped)):
        if pts in kept:
            prev_dropped = False
            continue
        if prev_dropped:
            runs[-1][1] = pts
        else:
            runs.append([pts, pts])
        prev_dropped = True
    ts_rules, dur_rules = [], []
    for k in plan.kept:
        seg = tmap.segment_at(k.dub_pts / 1000.0)
        o, d, s = ((seg.orig_start * 1000.0, seg.dub_start * 1000.0, seg.speed)
                   if seg is not None else (0.0, 0.0, 1.0))
        on_line = seg is not None and round(o + (k.dub_pts - d) * s) == k.pts
        ts_rules.append((k.dub_pts, f"{_num(o)}+(PTS-{_num(d)})*{_num(s)}" if on_line
                         else str(k.pts)))
        old = durations.get(k.dub_pts, 0)
        if k.duration < 0 or old <= 0:
            dur = "DURATION"
        elif seg is not None and round(old * s) == k.duration:
            dur = f"DURATION*{_num(s)}"
        else:
            dur = str(k.duration)
        dur_rules.append((k.dub_pts, dur))
    parts = []
    if runs:
        drop = "+".join(f"between(pts,{a},{b})" for a, b in runs)
        parts.append(f"noise=amount=0:drop={_quoted(drop)}")
    if plan.kept:
        parts.append(f"setts=ts={_quoted(_piecewise(_runs(ts_rules), 'PTS'))}"
                     f":duration={_quoted(_piecewise(_runs(dur_rules), 'PTS'))}")
    return ",".join(parts) or "null"


def bitmap_extract_args(path: Path, stream_index: int, dst: Path,
                        codec: str = "") -> list[str]:
    """ffmpeg argv (without the program) copying picture subtitle stream `stream_index`
    of `path` into the Matroska file `dst`: 1 ms ticks, the dub file's timeline (t=0 at
    its start, as `subtitle_extract_args`), VobSub's palette kept (stream copy). A PGS
    stream gets `pgs_frame_merge`: a display set read from M2TS as one packet per
    segment becomes one packet, as in Matroska (a set already whole is left as is)."""
    merge = ["-bsf:s", "pgs_frame_merge"] if codec == "hdmv_pgs_subtitle" else []
    return ["-y", "-i", media.ff_path(path), "-map", f"0:{stream_index}", "-c:s", "copy",
            *merge, "-f", "matroska", media.ff_path(dst)]


def bitmap_probe_args(path: Path, frames: bool = False) -> list[str]:
    """ffprobe args (after `-print_format json`) listing the first stream's packets
    (pts, duration, in its time base), or with `frames` its decoded subtitles (pts in
    microseconds, number of pictures)."""
    what = ["-show_frames"] if frames else \
        ["-show_entries", "stream=codec_name,time_base:packet=pts,duration"]
    return ["-select_streams", "0", *what, media.ff_path(path)]


#: A second stream in the re-timed .mks, one millisecond of silence at t=0, so that the
#: file starts at 0: ffmpeg moves every input to start at 0 (its first packet) unless
#: told otherwise, and a picture stream alone would start at its first picture (a text
#: subtitle file has no start time, so it is not moved). The mux maps stream 0 only.
TIMELINE_ANCHOR = ["-f", "lavfi", "-t", "0.001", "-i", "anullsrc=r=8000:cl=mono"]


def bitmap_retime_args(src: Path, dst: Path, bsf: str) -> list[str]:
    """ffmpeg argv (without the program) writing the stream of `src` (from
    `bitmap_extract_args`) to the Matroska file `dst` as its stream 0, through the -bsf
    chain `bsf` (`bitmap_bsf`), with TIMELINE_ANCHOR as stream 1. `-copyts`: the ticks
    are read as they are, not moved to start at 0."""
    return ["-y", "-copyts", "-i", media.ff_path(src), *TIMELINE_ANCHOR,
            "-map", "0:0", "-map", "1:0", "-c:s", "copy", "-bsf:s", bsf,
            "-c:a", "pcm_s16le", "-f", "matroska", media.ff_path(dst)]


def parse_display_sets(packets: dict, frames: dict) -> list[DisplaySet]:
    """Pure: ffprobe's JSON of a picture stream's packets and of its decoded frames
    (`bitmap_probe_args`) -> its display sets, in order, ms. Packets at the same time
    are one set (one PGS display set in segments). A set is empty (a clear) when what
    was decoded at its time shows no picture; with nothing decoded there, it is taken
    as a picture."""
    streams = packets.get("streams") or [{}]
    tb = streams[0].get("time_base") or "1/1000"
    num, _, den = tb.partition("/")
    scale = 1000.0 * int(num) / int(den or 1)
    rects: dict[int, int] = {}
    for f in frames.get("frames", []):
        if f.get("media_type", "subtitle") == "subtitle" and f.get("pts") is not None:
            ms = round(int(f["pts"]) / 1000)
            rects[ms] = rects.get(ms, 0) + int(f.get("num_rects", 0) or 0)
    sets: list[DisplaySet] = []
    for pkt in packets.get("packets", []):
        if pkt.get("pts") is None:
            continue
        pts = round(int(pkt["pts"]) * scale)
        dur = round(int(pkt.get("duration", 0) or 0) * scale)
        if sets and sets[-1].pts == pts:
            sets[-1] = DisplaySet(pts, max(dur, sets[-1].duration))
            continue
        sets.append(DisplaySet(pts, dur))
    return [DisplaySet(s.pts, s.duration, rects.get(s.pts, 1) == 0) for s in sets]


def retime_bitmap(emb: EmbeddedSubtitle, tmap: TimeMap, work: Path,
                  name: str) -> tuple[Path, RetimeResult]:
    """Re-time the picture subtitle stream `emb` (PGS, VobSub, DVB) through `tmap`
    into `work`/`name`.mks, a Matroska file whose stream 0 is that stream, codec
    copied: its packets moved to where `plan_bitmap` puts them, those in inserts left
    out (stream 1 is TIMELINE_ANCHOR: the file starts at 0, as the original). Returns
    (the file, the counts); the file is written only when a picture is kept
    (`result.moved` > 0). Raises MediaError (CommandError) when ffmpeg fails."""
    work = Path(work)
    src, dst = work / f"{name}.dub.mks", work / f"{name}.mks"
    media.run_ffmpeg(bitmap_extract_args(emb.dub, emb.stream.index, src, emb.stream.codec),
                     timeout=EXTRACT_TIMEOUT)
    try:
        sets = parse_display_sets(
            media.run_ffprobe(bitmap_probe_args(src), timeout=EXTRACT_TIMEOUT),
            media.run_ffprobe(bitmap_probe_args(src, frames=True), timeout=EXTRACT_TIMEOUT))
        plan = plan_bitmap(sets, tmap)
        if plan.result.moved:
            bsf = bitmap_bsf(plan, tmap, {s.pts: s.duration for s in sets})
            media.run_ffmpeg(bitmap_retime_args(src, dst, bsf), timeout=EXTRACT_TIMEOUT)
    finally:
        src.unlink(missing_ok=True)
    if plan.overstays:
        logger.warning("subtitle stream %d of %s: %d picture(s) stay up until the next "
                       "one (no clear of theirs could be kept)", emb.stream.index, emb.dub,
                       plan.overstays)
    logger.info("subtitle stream %d of %s -> %s: %s", emb.stream.index, emb.dub, dst,
                plan.result.counts())
    return dst, plan.result
