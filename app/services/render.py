"""Render the dub onto the original's timeline (pipeline stage 6).

Time conventions (seconds):
  * dub_t = 0 is the first decoded sample of the dub's audio stream and orig_t = 0 the first
    decoded sample of the original's audio stream (what `media.extract_args` decodes).
  * `RenderedTrack.delay_s` is where the track's first packet must sit in the output file,
    in seconds after the original file's start (ffmpeg's t = 0 for that input): the mux
    applies it with `-itsoffset`. Positive = later. Negative = the track's head is dropped.

Two paths:
  * Re-encode: one ffmpeg filter graph trims each segment, undoes the speed, places it
    sample-exactly (adelay), crossfades at splices and mixes (amix, normalize=0: levels
    unchanged), fills gaps with silence or the original's audio, pads/trims to the original
    duration, and encodes with the dub's codec (else FLAC) into a .mka. The encoder's
    priming delay is measured once per (codec, rate, channels, bit rate) per process and
    compensated by placing everything that many samples earlier.
  * Copy: a single segment at speed 1 keeps the dub's own packets; `delay_s` carries the
    shift and the mux drops packets that would land before t = 0 (output `-ss 0`).
"""
from __future__ import annotations

import logging
import tempfile
import threading
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Callable

import numpy as np

from app.errors import MediaError
from app.services.media import (PIPE_OUT, MediaInfo, StreamInfo, ff_path, require_tools,
                                run_ffmpeg, run_ffmpeg_capture, run_ffmpeg_pipe, run_ffprobe)
from app.services.timemap import TimeMap
from app.services.types import GAP_FILLS

logger = logging.getLogger(__name__)

FRAME_SAMPLES = 16384   # samples per frame inside the render graph
MARGIN_S = 0.010        # s of dub material kept on each side of a splice (crossfade = 2x)
STRETCH_MODES = ("resample", "atempo")

#: dub codec -> ffmpeg encoder
ENCODERS: dict[str, str] = {
    "ac3": "ac3", "eac3": "eac3", "aac": "aac", "opus": "libopus",
    "flac": "flac", "mp3": "libmp3lame",
}
_MAX_CHANNELS = {"ac3": 6, "eac3": 6, "aac": 8, "opus": 8, "flac": 8, "mp3": 2}
_RATES = {
    "ac3": {48000, 44100, 32000}, "eac3": {48000, 44100, 32000},
    "opus": {48000, 24000, 16000, 12000, 8000},
    "mp3": {48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000},
}
#: default bit rate per channel (bit/s) when the dub's is unknown; and a cap per codec
# ffmpeg's own AAC encoder: the "fast" coder is ~2.5x quicker than the default twoloop
# and, by its authors' account, sounds better at the bit rates releases use (>= 128k).
_ENCODER_OPTIONS = {"aac": ["-aac_coder", "fast"]}
_PER_CHANNEL = {"ac3": 96000, "eac3": 96000, "aac": 96000, "opus": 64000, "mp3": 96000}
_MAX_RATE = {"ac3": 640000, "eac3": 1536000, "aac": 768000, "opus": 512000, "mp3": 320000}


@dataclass(frozen=True)
class RenderedTrack:
    """The dub as it goes into the mux.

    `path`/`stream_index`: the file and ffprobe stream index holding it (the dub itself when
    not re-encoded). `delay_s`: seconds after the output's t = 0 where its first packet goes
    (mux: -itsoffset; negative = packets before 0 are dropped). `duration_s`: end of the
    track on the output timeline (mux: input -t), None = keep all.
    """

    path: Path
    codec: str
    channels: int
    delay_s: float
    reencoded: bool
    stream_index: int = 0
    duration_s: float | None = None


# ----------------------------------------------------------------- pure builders

def speed_rates(speed: float, sample_rate: int) -> tuple[int, int]:
    """Integer rates (R1, R2) with R1/R2 == limit_denominator(speed) exactly.

    `aresample=R1,asetrate=R2` stretches the audio by R1/R2 (plays slower when > 1) and
    lowers the pitch by the same ratio: the exact inverse of a PAL speed-up.
    """
    f = Fraction(speed).limit_denominator(2000)
    p, q = f.numerator, f.denominator
    # R2 == sample_rate when possible: then the last resample is a no-op
    k = sample_rate // q if sample_rate % q == 0 else max(1, round(sample_rate / p))
    return p * k, q * k


def stretch_filter(speed: float, sample_rate: int, mode: str = "resample") -> str:
    """Filter chain (may be empty) that makes a piece `speed` times longer."""
    if abs(speed - 1.0) < 1e-9:
        return ""
    if mode == "atempo":
        tempo = 1.0 / speed
        parts = []
        while tempo < 0.5:          # atempo takes 0.5..100 per instance
            parts.append("atempo=0.5")
            tempo /= 0.5
        parts.append(f"atempo={tempo:.9f}")
        return ",".join(parts)
    if mode != "resample":
        raise ValueError(f"stretch must be one of {STRETCH_MODES}, not {mode!r}")
    r1, r2 = speed_rates(speed, sample_rate)
    chain = f"aresample={r1}:resampler=soxr,asetrate={r2}"
    if r2 != sample_rate:
        chain += f",aresample={sample_rate}:resampler=soxr"
    return chain


def layout_name(stream: StreamInfo) -> str:
    """A channel layout ffmpeg accepts for the stream ("stereo", "5.1(side)", "3c")."""
    if stream.channel_layout and stream.channel_layout != "unknown":
        return stream.channel_layout
    return {1: "mono", 2: "stereo"}.get(stream.channels, f"{max(1, stream.channels)}c")


@dataclass(frozen=True)
class Piece:
    """One stretch of audio placed on the original timeline (samples at the output rate).

    source: "dub" or "orig"; [start, end): samples of the source's own timeline (before
    stretching); speed: stretch factor; pos: output sample of the piece's first sample;
    fade_in / fade_out: samples of linear fade at each end (centred on the splice).
    """

    source: str
    start: int
    end: int
    speed: float
    pos: int
    fade_in: int
    fade_out: int

    @property
    def out_len(self) -> int:
        return round((self.end - self.start) * self.speed)


def plan_pieces(tmap: TimeMap, sample_rate: int, *, gap_fill: str = "silence",
                margin_s: float = MARGIN_S, shift: int = 0) -> list[Piece]:
    """The pieces that make the rendered track. Pure.

    Each segment is extended by `margin_s` (dub seconds) on each side where material exists,
    and faded over twice that, centred on the splice, so neighbours crossfade. `shift` moves
    every piece that many samples earlier (encoder priming compensation).
    """
    sr = sample_rate
    pieces: list[Piece] = []
    for seg in tmap.segments:
        pre = min(margin_s, seg.dub_start, seg.orig_start / seg.speed)
        post = max(0.0, min(margin_s, tmap.dub_duration - seg.dub_end))
        a, b = seg.dub_start - pre, seg.dub_end + post
        start, end = round(a * sr), round(b * sr)
        if end <= start:
            continue
        pos = round((seg.orig_start - pre * seg.speed) * sr) - shift
        fi = round(2 * pre * seg.speed * sr)
        fo = round(2 * post * seg.speed * sr)
        pieces.append(Piece("dub", start, end, seg.speed, pos, fi, fo))
    if gap_fill == "original":
        for g0, g1 in tmap.cuts:
            pre = min(margin_s, g0)
            post = max(0.0, min(margin_s, tmap.orig_duration - g1))
            start, end = round((g0 - pre) * sr), round((g1 + post) * sr)
            if end <= start:
                continue
            pieces.append(Piece("orig", start, end, 1.0, start - shift,
                                round(2 * pre * sr), round(2 * post * sr)))
    elif gap_fill != "silence":
        raise ValueError(f"gap_fill must be one of {GAP_FILLS}, not {gap_fill!r}")
    return pieces


def piece_chain(piece: Piece, sample_rate: int, stretch: str = "resample", *,
                place: bool = True) -> str:
    """Filters for one piece, from its source's split output to its place on the timeline.

    place=True: delayed to its position (adelay), for mixing. place=False: starts at its
    own first sample and is cut/padded to exactly `placed_len` samples (a resampler may
    give one more or less), for joining end to end."""
    f = [f"atrim=start_sample={piece.start}:end_sample={piece.end}", "asetpts=N/SR/TB"]
    st = stretch_filter(piece.speed, sample_rate, stretch)
    if st:
        f += [st, "asetpts=N/SR/TB"]
    n = piece.out_len
    if piece.fade_in > 0:
        f.append(f"afade=t=in:ss=0:ns={piece.fade_in}:curve=tri")
    if piece.fade_out > 0:
        f.append(f"afade=t=out:ss={max(0, n - piece.fade_out)}:ns={piece.fade_out}:curve=tri")
    pos = piece.pos
    if pos < 0:                         # starts before t=0: drop its head
        f += [f"atrim=start_sample={-pos}", "asetpts=N/SR/TB"]
        pos = 0
    if not place:
        length = placed_len(piece)
        f += [f"atrim=end_sample={length}", f"apad=whole_len={length}"]
    elif pos > 0:
        f.append(f"adelay=delays={pos}S:all=1")
    return ",".join(f)


def placed_len(piece: Piece) -> int:
    """Samples of the piece that land at t >= 0."""
    return max(0, piece.out_len - max(0, -piece.pos))


def joinable(pieces: list[Piece]) -> bool:
    """Whether the pieces can be joined end to end instead of mixed: ordered the same way
    on the timeline and in each source (so no decoded audio waits in a queue), and each
    overlapping only its neighbours, by less than either's length (the crossfades)."""
    order = sorted(pieces, key=lambda p: max(0, p.pos))
    for src in {p.source for p in order}:
        starts = [p.start for p in order if p.source == src]
        if starts != sorted(starts):
            return False
    spans = [(max(0, p.pos), max(0, p.pos) + placed_len(p)) for p in order]
    for i in range(1, len(spans)):
        (a0, a1), (b0, b1) = spans[i - 1], spans[i]
        if a1 <= a0 or b1 <= b0:
            return False
        overlap = a1 - b0
        if overlap >= min(a1 - a0, b1 - b0):
            return False
        if i >= 2 and spans[i - 2][1] > b0:
            return False
    return True


def _join(order: list[tuple[str, Piece]], graph: list[str]) -> str:
    """Append filters joining the placed pieces (labels, in timeline order) end to end:
    silence (apad) before a gap, a sum over the overlap (acrossfade without fade curves:
    each piece carries its own fade) at a splice. Returns the joined label."""
    label, first = order[0]
    head = max(0, first.pos)
    if head > 0:
        graph.append(f"[{label}]adelay=delays={head}S:all=1[j0]")
        label = "j0"
    end = head + placed_len(first)
    for k, (nxt, p) in enumerate(order[1:], start=1):
        start = max(0, p.pos)
        if start >= end:
            pad = f"apad=pad_len={start - end}," if start > end else ""
            graph.append(f"[{label}]{pad}asetpts=N/SR/TB[g{k}];"
                         f"[g{k}][{nxt}]concat=n=2:v=0:a=1[j{k}]")
        else:
            graph.append(f"[{label}][{nxt}]acrossfade=ns={end - start}:o=1:"
                         f"c1=nofade:c2=nofade[j{k}]")
        label = f"j{k}"
        end = start + placed_len(p)
    return label


def render_graph(pieces: list[Piece], *, dub_label: str, orig_label: str | None,
                 sample_rate: int, layout: str, total: int,
                 stretch: str = "resample", join: bool | None = None) -> str:
    """The whole filter graph; its output pad is [out], exactly `total` samples long.

    Pieces that follow one another on the timeline (the usual case: segments in order,
    crossfaded splices, silence or the original's audio in the gaps) are joined end to end;
    otherwise each is delayed to its place and all are mixed (amix), which costs a mix of
    every piece over the whole film (a 2-hour film with 3 pieces: ~3 s of CPU more).
    `join` forces one way (None: join when `joinable`)."""
    fmt = f"aformat=sample_fmts=fltp:channel_layouts={layout}"
    live = [(i, p) for i, p in enumerate(pieces) if p.pos + p.out_len > 0]
    if join is None:
        join = joinable([p for _, p in live])
    join = join and len(live) > 1
    graph: list[str] = []
    labels: list[str] = []
    for source, label in (("dub", dub_label), ("orig", orig_label)):
        mine = [(i, p) for i, p in live if p.source == source]
        if not mine:
            continue
        if label is None:
            raise ValueError("pieces of the original need orig_label")
        if source == "dub":
            # The output rate is the dub's own: no resampler unless the stream changes
            # rate midway (aformat then makes ffmpeg insert one).
            head = (f"[{label}]aformat=sample_fmts=fltp:sample_rates={sample_rate}:"
                    f"channel_layouts={layout}")
        else:
            head = f"[{label}]aresample={sample_rate}:resampler=soxr,{fmt}"
        # Decoders give small frames (AC-3: 1536 samples); every filter below pays per
        # frame, so regroup them once (a 2-hour render: 12.4 -> 9.0 s of CPU).
        head += f",asetnsamples=n={FRAME_SAMPLES}:p=0"
        if len(mine) == 1:
            graph.append(f"{head}[{source}0]")
        else:
            outs = "".join(f"[{source}{k}]" for k in range(len(mine)))
            graph.append(f"{head},asplit={len(mine)}{outs}")
        for k, (i, p) in enumerate(mine):
            chain = piece_chain(p, sample_rate, stretch, place=not join)
            graph.append(f"[{source}{k}]{chain}[p{i}]")
            labels.append(f"[p{i}]")
    tail = f"apad=whole_len={total},atrim=end_sample={total},{fmt}"
    if not labels:
        graph.append(f"anullsrc=r={sample_rate}:cl={layout},atrim=end_sample={total},{fmt}[out]")
    elif len(labels) == 1:
        graph.append(f"{labels[0]}{tail}[out]")
    elif join:
        order = sorted(((f"p{i}", p) for i, p in live), key=lambda lp: max(0, lp[1].pos))
        last = _join(order, graph)
        graph.append(f"[{last}]asetpts=N/SR/TB,{tail}[out]")
    else:
        graph.append(f"{''.join(labels)}amix=inputs={len(labels)}:duration=longest:"
                     f"dropout_transition=0:normalize=0,{tail}[out]")
    return ";".join(graph)


def choose_encoder(stream: StreamInfo) -> tuple[str, list[str]]:
    """(codec name, ffmpeg output codec args) for re-encoding `stream`: its own codec when
    ffmpeg can encode it at that rate/channel count, else FLAC."""
    codec = stream.codec
    enc = ENCODERS.get(codec)
    ch, sr = max(1, stream.channels), stream.sample_rate
    if (enc is None or ch > _MAX_CHANNELS[codec]
            or (codec in _RATES and sr not in _RATES[codec])):
        if enc is not None or codec != "flac":
            logger.info("dub codec %s (%d ch, %d Hz) cannot be re-encoded by ffmpeg: using FLAC",
                        codec, ch, sr)
        return "flac", ["-c:a", "flac"]
    if codec == "flac":
        return "flac", ["-c:a", "flac"]
    rate = stream.bit_rate if stream.bit_rate > 0 else _PER_CHANNEL[codec] * ch
    rate = max(32000, min(rate, _MAX_RATE[codec]))
    return codec, ["-c:a", enc, "-b:a", str(rate), *_ENCODER_OPTIONS.get(codec, [])]


def render_args(dub_path: Path, orig_path: Path | None, graph: str, codec_args: list[str],
                sample_rate: int, out_path: Path) -> tuple[list[str], list[str]]:
    """ffmpeg argvs (without the program) running `graph` into a Matroska audio file:
    (filter process writing float PCM in NUT to stdout, encoder process reading it from
    stdin), run side by side by media.run_ffmpeg_pipe."""
    args = ["-y", "-i", ff_path(dub_path)]
    if orig_path is not None:
        args += ["-i", ff_path(orig_path)]
    producer = args + ["-filter_complex", graph, "-map", "[out]", "-c:a", "pcm_f32le",
                       *PIPE_OUT, "-f", "nut", "pipe:1"]
    consumer = ["-y", "-f", "nut", "-i", "pipe:0", *codec_args, "-ar", str(sample_rate),
                "-f", "matroska", ff_path(out_path)]
    return producer, consumer


def copy_placement(dub: MediaInfo, dub_stream: StreamInfo, tmap: TimeMap,
                   original: MediaInfo | None = None,
                   orig_stream: StreamInfo | None = None) -> tuple[float, float]:
    """(delay_s, duration_s) that put the dub's own packets on the original timeline.

    delay_s = the segment's offset (orig_t - dub_t), corrected for where each audio stream's
    first sample sits relative to its file's start (0 for most files).
    duration_s = where the dub material ends (segment end, at most the original's end).
    """
    seg = tmap.segments[0]
    dub_rel = dub_stream.start_time - dub.start_time
    orig_rel = (orig_stream.start_time - original.start_time
                if original is not None and orig_stream is not None else 0.0)
    delay = seg.orig_start - seg.dub_start + orig_rel - dub_rel
    end = min(seg.orig_end, tmap.orig_duration) + orig_rel
    return delay, end


# ----------------------------------------------------------------- encoder delay

_DELAY_CACHE: dict[tuple, tuple[int, float]] = {}
_DELAY_LOCK = threading.Lock()
_CLICK = (0.8 * np.hanning(48)).astype(np.float32)


def absolute_decode_args(path: Path, sample_rate: int) -> list[str]:
    """ffmpeg argv (without the program) decoding the first audio stream to mono float32
    on stdout, on the absolute timeline (t = 0 at pts 0, the gap before the first packet
    filled with silence)."""
    return ["-copyts", "-i", ff_path(path), "-map", "0:a:0",
            "-af", "aresample=async=1:first_pts=0", "-ac", "1", "-ar", str(sample_rate),
            *PIPE_OUT, "-f", "f32le", "pipe:1"]


def _decode_absolute(path: Path, sample_rate: int) -> np.ndarray:
    """Decode the first audio stream to mono on the absolute timeline (t=0 at pts 0)."""
    raw, _ = run_ffmpeg_capture(absolute_decode_args(path, sample_rate),
                                what=f"could not decode {path.name!r}")
    return np.frombuffer(raw[: len(raw) // 4 * 4], dtype="<f4")


def find_click(decoded: np.ndarray, search: int) -> int:
    """Sample index of the `_CLICK` shape within the first `search` samples."""
    seg = decoded[:search + len(_CLICK)].astype(np.float64)
    c = np.correlate(seg, _CLICK.astype(np.float64), mode="valid")
    return int(np.argmax(c))


def encoder_delay(codec_args: list[str], sample_rate: int, layout: str,
                  channels: int) -> tuple[int, float]:
    """(shift, start_s) for an encoder configuration, measured once per process.

    A click at 1 s is encoded through the same codec/rate/layout into .mka and decoded
    back on the absolute timeline. `start_s` = -(the stream's start time) when the encoder
    writes packets before 0 (Opus pre-skip), else 0: the mux must offset the track by it.
    `shift` = samples by which the content comes out late once the track sits at start_s;
    the render places everything that many samples earlier.
    """
    key = (tuple(codec_args), sample_rate, layout, channels)
    with _DELAY_LOCK:
        if key in _DELAY_CACHE:
            return _DELAY_CACHE[key]
        require_tools()
        with tempfile.TemporaryDirectory(prefix="syncdub-delay-") as tmp:
            src, enc = Path(tmp) / "click.f32", Path(tmp) / "click.mka"
            sig = np.zeros((3 * sample_rate, channels), dtype=np.float32)
            sig[sample_rate:sample_rate + len(_CLICK)] = _CLICK[:, None]
            src.write_bytes(sig.tobytes())
            run_ffmpeg(["-y", "-f", "f32le", "-ar", str(sample_rate), "-ac", str(channels),
                        "-channel_layout", layout, "-i", ff_path(src), *codec_args,
                        "-f", "matroska", ff_path(enc)])
            start = stream_start(enc)
            start_s = max(0.0, -start)
            found = find_click(_decode_absolute(enc, sample_rate), 2 * sample_rate)
            shift = found - sample_rate + round(start_s * sample_rate)
        _DELAY_CACHE[key] = (shift, start_s)
        logger.info("encoder delay %s @%d Hz %s: %d samples (track offset %.3f s)",
                    " ".join(codec_args), sample_rate, layout, shift, start_s)
        return shift, start_s


def stream_start_args(path: Path) -> list[str]:
    """ffprobe args (after `-print_format json`) giving the first audio stream's
    start_time."""
    return ["-select_streams", "a:0", "-show_entries", "stream=start_time", ff_path(path)]


def stream_start(path: Path) -> float:
    """start_time (s) of the first audio stream of `path` as ffprobe reports it (negative
    when the encoder writes packets before 0, e.g. Opus pre-skip). Raise MediaError when
    the probe fails or reports no audio stream or no start time."""
    streams = run_ffprobe(stream_start_args(path)).get("streams") or []
    if not streams:
        raise MediaError(f"{path.name!r} has no audio stream to place")
    try:
        return float(streams[0]["start_time"])
    except (KeyError, TypeError, ValueError):
        raise MediaError(f"ffprobe reports no start time for the audio of {path.name!r}; "
                         "its timestamps cannot be trusted") from None


# ----------------------------------------------------------------- the stage

@dataclass(frozen=True)
class RenderPlan:
    """What the render stage will do: `track` describes its result; `producer` (filter
    graph -> PCM in NUT on stdout) and `encoder` (stdin -> `track.path`) are the two
    ffmpeg argvs, both None when the dub's own packets are used (no re-encode)."""

    track: RenderedTrack
    producer: list[str] | None = None
    encoder: list[str] | None = None

    @property
    def streamable(self) -> bool:
        """Whether the encoder can write straight into the mux: not FLAC, whose header
        (STREAMINFO: length, MD5) is completed only at the end of a seekable file."""
        return self.producer is not None and self.track.codec != "flac"

    def stages(self, to_pipe: bool = False) -> list[list[str]]:
        """The argvs to run piped together; `to_pipe`: the encoder writes its Matroska to
        stdout instead of `track.path`, for a mux reading it as it comes."""
        if self.producer is None or self.encoder is None:
            return []
        enc = self.encoder[:-1] + [*PIPE_OUT, "pipe:1"] if to_pipe else list(self.encoder)
        return [self.producer, enc]


def plan_render(dub: MediaInfo, dub_stream: StreamInfo, tmap: TimeMap, out_dir: Path, *,
                gap_fill: str = "silence", original: MediaInfo | None = None,
                orig_stream: StreamInfo | None = None, stretch: str = "resample",
                force_reencode: bool = False) -> RenderPlan:
    """Decide how the dub goes onto the original's timeline; see `render_dub`. Runs only
    the one-off encoder-delay measurement, no render."""
    if gap_fill not in GAP_FILLS:
        raise ValueError(f"gap_fill must be one of {GAP_FILLS}, not {gap_fill!r}")
    if stretch not in STRETCH_MODES:
        raise ValueError(f"stretch must be one of {STRETCH_MODES}, not {stretch!r}")
    if gap_fill == "original" and (original is None or orig_stream is None):
        raise ValueError("gap_fill='original' needs original and orig_stream")
    out_dir = Path(out_dir)

    if tmap.is_single_shift and not force_reencode:
        seg = tmap.segments[0]
        head_insert = min(seg.orig_start, seg.dub_start)   # dub lead-in landing at t >= 0
        if gap_fill == "original" and tmap.cuts:
            logger.info("single shift, but gap fill 'original' needs the gaps mixed: re-encoding")
        elif head_insert > 0.25:
            logger.info("single shift, but %.2f s of dub lead-in would play over the original's "
                        "start: re-encoding to silence it", head_insert)
        else:
            delay, end = copy_placement(dub, dub_stream, tmap, original, orig_stream)
            logger.info("single shift %+.3f s: dub stream copied, no re-encode", delay)
            return RenderPlan(RenderedTrack(path=dub.path, codec=dub_stream.codec,
                                            channels=dub_stream.channels, delay_s=delay,
                                            reencoded=False, stream_index=dub_stream.index,
                                            duration_s=end))

    sr = dub_stream.sample_rate or 48000
    layout = layout_name(dub_stream)
    channels = max(1, dub_stream.channels)
    codec, codec_args = choose_encoder(dub_stream)
    shift, start_s = encoder_delay(codec_args, sr, layout, channels)
    pieces = plan_pieces(tmap, sr, gap_fill=gap_fill, shift=shift)
    total = round(tmap.orig_duration * sr) - shift
    use_orig = gap_fill == "original" and any(p.source == "orig" for p in pieces)
    graph = render_graph(pieces, dub_label=f"0:{dub_stream.index}",
                         orig_label=f"1:{orig_stream.index}" if use_orig else None,
                         sample_rate=sr, layout=layout, total=total, stretch=stretch)
    out = out_dir / f"dub_rendered.{codec}.mka"
    producer, consumer = render_args(dub.path, original.path if use_orig else None, graph,
                                     codec_args, sr, out)
    orig_rel = (orig_stream.start_time - original.start_time
                if original is not None and orig_stream is not None else 0.0)
    logger.info("rendering %d segment(s) of the dub as %s (%d Hz, %s), priming %d samples",
                len(tmap.segments), codec, sr, layout, shift)
    return RenderPlan(RenderedTrack(path=out, codec=codec, channels=channels,
                                    delay_s=start_s + orig_rel, reencoded=True,
                                    stream_index=0, duration_s=None), producer, consumer)


def render_dub(dub: MediaInfo, dub_stream: StreamInfo, tmap: TimeMap, out_dir: Path, *,
               gap_fill: str = "silence", original: MediaInfo | None = None,
               orig_stream: StreamInfo | None = None, stretch: str = "resample",
               force_reencode: bool = False,
               progress: Callable[[float], None] | None = None) -> RenderedTrack:
    """Put the dub's audio on the original's timeline; see the module docstring.

    Returns the dub's own stream (reencoded=False) for a single segment at speed 1 with
    silence fill; otherwise a .mka in `out_dir` with the dub's codec (or FLAC), channel
    layout and sample rate, exactly tmap.orig_duration long on the output timeline.
    """
    plan = plan_render(dub, dub_stream, tmap, out_dir, gap_fill=gap_fill, original=original,
                       orig_stream=orig_stream, stretch=stretch, force_reencode=force_reencode)
    return run_plan(plan, tmap.orig_duration, progress)


def run_plan(plan: RenderPlan, duration: float,
             progress: Callable[[float], None] | None = None) -> RenderedTrack:
    """Carry out a plan into its file (nothing to do for a copied dub); `duration`: the
    output's length in seconds, for progress. Nothing is left behind on failure."""
    if plan.producer is None:
        if progress is not None:
            progress(1.0)
        return plan.track
    out = plan.track.path
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        run_ffmpeg_pipe(*plan.stages(), progress=progress, duration=duration)
    except BaseException:
        out.unlink(missing_ok=True)
        raise
    return plan.track
