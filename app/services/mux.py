"""Mux (pipeline stage 7): the original's streams, stream-copied, plus the dub track(s).

Video, every audio stream (bit-exact), subtitles (converted to SRT where Matroska cannot
hold the codec, e.g. mov_text), attachments, chapters and global metadata come from the
original; the dub tracks are appended after the original's audio streams, in order, each
with its language and title (one, or several dubs of one job), and the dubs' text
subtitles, already re-timed onto the original's timeline (app.services.subtitles), after
the original's subtitle streams. Written under a temporary name beside the output and
renamed only when ffmpeg succeeded.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Sequence

from app.services.media import (MediaInfo, StreamInfo, ff_path, run_ffmpeg, run_ffmpeg_pipe,
                                run_ffprobe)
from app.services.render import RenderedTrack, stream_start

logger = logging.getLogger(__name__)

#: subtitle codecs Matroska holds as they are
MKV_SUBTITLES = {"subrip", "srt", "ass", "ssa", "webvtt", "hdmv_pgs_subtitle",
                 "dvd_subtitle", "dvb_subtitle", "text"}
#: text subtitle codecs converted to SRT
TEXT_SUBTITLES = {"mov_text", "microdvd", "subviewer", "subviewer1", "sami", "realtext",
                  "jacosub", "mpl2", "pjs", "vplayer", "stl", "eia_608"}
#: video "streams" that are cover art, copied as attachments would be (kept as they are)
_COVER_CODECS = {"mjpeg", "png", "bmp", "gif"}
#: packets queued per input while muxing
THREAD_QUEUE = 512


@dataclass(frozen=True)
class AddedSubtitle:
    """A text subtitle file (SubRip, ASS/SSA or WebVTT, on the original's timeline) muxed
    as a subtitle stream, codec copied: Matroska holds all four as they are.
    `language`: ISO 639-2 tag; `title`: the track title ("Spanish (SyncDub)")."""

    path: Path
    language: str
    title: str
    forced: bool = False
    hearing_impaired: bool = False

    @property
    def disposition(self) -> str:
        """ffmpeg's -disposition value: the flags set, "0" for none (never default)."""
        flags = [name for name, on in (("forced", self.forced),
                                       ("hearing_impaired", self.hearing_impaired)) if on]
        return "+".join(flags) or "0"


def temp_path(out_path: Path) -> Path:
    """The name the mux writes to before renaming: `.NAME.part.mkv` in the same folder."""
    out_path = Path(out_path)
    return out_path.with_name(f".{out_path.stem}.part.mkv")


def _kept_streams(original: MediaInfo) -> tuple[list[StreamInfo], dict[int, str]]:
    """Streams of the original to map, and subtitle conversions {output sub index: codec}."""
    kept: list[StreamInfo] = []
    convert: dict[int, str] = {}
    n_sub = 0
    for s in original.streams:
        if s.kind in ("video", "audio", "attachment"):
            kept.append(s)
        elif s.kind == "subtitle":
            if s.codec in MKV_SUBTITLES:
                kept.append(s)
            elif s.codec in TEXT_SUBTITLES:
                kept.append(s)
                convert[n_sub] = "srt"
            else:
                logger.warning("subtitle stream %d (%s) cannot be stored in Matroska: left out",
                               s.index, s.codec)
                continue
            n_sub += 1
        else:
            logger.info("stream %d (%s %s) is not copied", s.index, s.kind, s.codec)
    return kept, convert


@dataclass(frozen=True)
class DubTrack:
    """One dub track of the output: the rendered track, its ISO 639-2 `language` ("spa")
    and its `title` ("Spanish (SyncDub)")."""

    track: RenderedTrack
    language: str
    title: str


def mux_args(original: MediaInfo, track: RenderedTrack, out_path: Path, *, language: str,
             title: str, dub_default: bool = False, piped: bool = False,
             subtitles: Sequence[AddedSubtitle] = ()) -> list[str]:
    """ffmpeg argv (without the program) writing the output MKV to `out_path`, one dub
    track: `mux_tracks_args` with that track (`piped`: it arrives on stdin)."""
    return mux_tracks_args(original, [DubTrack(track, language, title)], out_path,
                           dub_default=dub_default, piped=0 if piped else None,
                           subtitles=subtitles)


def mux_tracks_args(original: MediaInfo, tracks: Sequence[DubTrack], out_path: Path, *,
                    dub_default: bool = False, piped: int | None = None,
                    subtitles: Sequence[AddedSubtitle] = ()) -> list[str]:
    """ffmpeg argv (without the program) writing the output MKV to `out_path`.

    `tracks`: the dub tracks, inputs 1, 2..., appended after the original's audio in this
    order, each with its language and title (`dub_default`: the first is the default
    audio track). `piped`: the index in `tracks` of the one that arrives as Matroska on
    stdin (a render streamed into the mux) instead of from its `track.path`; None: none.
    `subtitles`: files added as subtitle streams after the original's (the inputs after
    the tracks), codec copied, with their language, title and flags.

    Each dub input is shifted by its `delay_s` (-itsoffset) when not zero and cut at its
    `duration_s` (input -t, on the output timeline); a negative delay adds output
    `-ss 0`, which drops the dub packets that would land before t = 0 without moving the
    original's streams (a negative -itsoffset alone makes the muxer shift every stream).
    `-ss 0` drops *any* stream's leading packets with pts < 0, so `mux_tracks` uses it
    only when the original has none (else it pre-cuts the dub: `precut_args`).
    """
    if not tracks:
        raise ValueError("mux_tracks_args needs at least one dub track")
    kept, convert = _kept_streams(original)
    # With two inputs ffmpeg reads each in its own thread through a queue of 8 packets by
    # default; a deeper queue saves most of the hand-offs (a 2-hour film: 5.3 -> 4.0 s).
    q = ["-thread_queue_size", str(THREAD_QUEUE)]
    args = ["-y", *q, "-i", ff_path(original.path)]
    for k, dub in enumerate(tracks):
        track = dub.track
        if track.duration_s is not None:
            args += ["-t", f"{track.duration_s:.6f}"]
        if abs(track.delay_s) > 5e-7:
            args += ["-itsoffset", f"{track.delay_s:.6f}"]
        args += [*q, *(["-f", "matroska", "-i", "pipe:0"] if piped == k
                       else ["-i", ff_path(track.path)])]
    for sub in subtitles:
        args += ["-i", ff_path(sub.path)]
    for s in kept:
        args += ["-map", f"0:{s.index}"]
    for k, dub in enumerate(tracks):
        args += ["-map", f"{1 + k}:{dub.track.stream_index}"]
    first_sub = 1 + len(tracks)
    for i in range(len(subtitles)):
        args += ["-map", f"{first_sub + i}:0"]
    args += ["-map_metadata", "0", "-map_chapters", "0", "-c", "copy"]
    for n, codec in sorted(convert.items()):
        args += [f"-c:s:{n}", codec]
    n_audio = sum(1 for s in kept if s.kind == "audio")
    if dub_default:
        for i in range(n_audio):
            args += [f"-disposition:a:{i}", "0"]
    for k, dub in enumerate(tracks):
        a = f"a:{n_audio + k}"
        args += [f"-disposition:{a}", "default" if dub_default and k == 0 else "0"]
        args += [f"-metadata:s:{a}", f"language={dub.language}",
                 f"-metadata:s:{a}", f"title={dub.title}"]
    n_sub = sum(1 for s in kept if s.kind == "subtitle")
    for i, sub in enumerate(subtitles):
        k = f"s:{n_sub + i}"
        args += [f"-disposition:{k}", sub.disposition,
                 f"-metadata:s:{k}", f"language={sub.language}",
                 f"-metadata:s:{k}", f"title={sub.title}"]
    if any(dub.track.delay_s < -5e-7 for dub in tracks):
        args += ["-ss", "0"]
    return args + ["-f", "matroska", ff_path(out_path)]


def precut_args(track: RenderedTrack, out_path: Path) -> list[str]:
    """ffmpeg argv copying the dub's packets that land at t >= 0 (after `delay_s`) into a
    Matroska audio file; their times keep the output timeline (first packet at >= 0)."""
    args = ["-y"]
    if track.duration_s is not None:
        args += ["-t", f"{track.duration_s:.6f}"]
    return args + ["-itsoffset", f"{track.delay_s:.6f}", "-i", ff_path(track.path),
                   "-map", f"0:{track.stream_index}", "-c", "copy", "-ss", "0",
                   "-f", "matroska", ff_path(out_path)]


def first_pts_args(path: Path, packets: int = 64) -> list[str]:
    """ffprobe args (after `-print_format json`) listing the pts of a file's first
    `packets` packets."""
    return ["-read_intervals", f"%+#{packets}", "-show_entries", "packet=pts_time",
            ff_path(path)]


def _first_pts(path: Path, packets: int = 64) -> list[float]:
    """pts (s) of the first packets of a file, as ffmpeg reads them (no start shift);
    packets without a pts are left out. Raise MediaError when the probe fails."""
    out = []
    for packet in run_ffprobe(first_pts_args(path, packets)).get("packets") or []:
        try:
            out.append(float(packet["pts_time"]))
        except (KeyError, TypeError, ValueError):
            pass
    return out


def mux(original: MediaInfo, track: RenderedTrack, out_path: Path, *, language: str,
        title: str, dub_default: bool = False,
        progress: Callable[[float], None] | None = None,
        source: list[list[str]] | None = None,
        subtitles: Sequence[AddedSubtitle] = ()) -> Path:
    """Write the synced MKV with one dub track to `out_path` (replacing it); return
    `out_path`. `language`: ISO 639-2 code of the dub ("spa"); `title`: its track title
    ("Spanish (SyncDub)"); the rest as `mux_tracks`, `source` feeding this track."""
    return mux_tracks(original, [DubTrack(track, language, title)], out_path,
                      dub_default=dub_default, progress=progress, source=source, piped=0,
                      subtitles=subtitles)


def mux_tracks(original: MediaInfo, tracks: Sequence[DubTrack], out_path: Path, *,
               dub_default: bool = False, progress: Callable[[float], None] | None = None,
               source: list[list[str]] | None = None, piped: int = 0,
               subtitles: Sequence[AddedSubtitle] = ()) -> Path:
    """Write the synced MKV to `out_path` (replacing it), the dub `tracks` appended in
    their order; return `out_path`.

    `subtitles`: re-timed text subtitle files added as streams (`mux_tracks_args`).
    `source`: ffmpeg argvs run piped together whose last writes track `piped` (an index
    in `tracks`) as Matroska to stdout (render.RenderPlan.stages(to_pipe=True)): the mux
    then reads that track as it is encoded, on the other core, with no intermediate file
    (a 2-hour film: 17 -> 14.7 s for render + mux); the other tracks are read from their
    files. Nothing is left under `out_path`, the temporary name or a pre-cut's name when
    ffmpeg fails or the call is interrupted.
    """
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path(out_path)
    tracks = list(tracks)
    cuts: list[Path] = []
    for dub in tracks:
        logger.info("muxing %s + dub %s (%s, delay %+.3f s) -> %s", original.path.name,
                    dub.language, dub.track.codec, dub.track.delay_s, out_path.name)
    try:
        if any(d.track.delay_s < -5e-7 for d in tracks) \
                and any(t < 0 for t in _first_pts(original.path)):
            # the original has packets before 0 (e.g. MP4 AAC priming) that `-ss 0` would drop
            logger.info("original starts with negative timestamps: pre-cutting the dubs' heads")
            for k, dub in enumerate(tracks):
                track = dub.track
                if track.delay_s >= -5e-7:
                    continue
                if source and k == piped:    # the pre-cut needs the whole track first
                    run_ffmpeg_pipe(*source[:-1], [*source[-1][:-1], ff_path(track.path)])
                    source = None
                cut = out_path.with_name(f".{out_path.stem}.dub{k or ''}.part.mka")
                cuts.append(cut)
                run_ffmpeg(precut_args(track, cut))
                tracks[k] = replace(dub, track=replace(track, path=cut, stream_index=0,
                                                       delay_s=stream_start(cut),
                                                       duration_s=None))
        args = mux_tracks_args(original, tracks, tmp, dub_default=dub_default,
                               piped=piped if source else None, subtitles=subtitles)
        run_ffmpeg_pipe(*(source or []), args, progress=progress, duration=original.duration)
        os.replace(tmp, out_path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    finally:
        for cut in cuts:
            cut.unlink(missing_ok=True)
    return out_path
