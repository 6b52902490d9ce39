"""Text subtitles re-timed through the time map (issue 12, part 3: the re-timing core).

A cue is a pysubs2 `SSAEvent` with `start`/`end` in integer milliseconds on the DUB
timeline, end exclusive. The map (app.services.timemap) sends a dub time to an original
time inside a segment: ``orig_t = orig_start + (dub_t - dub_start) * speed`` (seconds;
speed > 1 = the dub runs faster, so a cue lasts `speed` times longer on the original).

Rules, per cue (`retime_events`):
- the dub interval [start, end) is intersected with every segment's [dub_start, dub_end);
- the cue goes with the segment holding the larger part of it ("kept on its longer side";
  a tie goes to the earlier segment); the part outside that segment is cut off (the cue is
  clipped to the segment), then start and end are both mapped through it, so the cue moves
  by the segment's offset and its duration scales by its speed;
- a cue with no overlap with any segment (inside an insert, or the dub's lead-in) is
  dropped, and so is one whose mapped interval rounds to zero length or lies wholly before
  0 on the original; one starting before 0 is clipped there;
- order and every other field (style, text and its override tags, layer, margins, name,
  effect) are kept. Comment events are passed through untouched: they are never shown.

ASS/SSA timed override tags inside a kept cue's text are relative to the line's start, so
they are scaled by the same speed as its duration (`scale_override_times`): karaoke
(``\\k``, ``\\K``, ``\\kf``, ``\\ko``, centiseconds), ``\\t(t1,t2,...)``, the two times of
``\\move(x1,y1,x2,y2,t1,t2)``, ``\\fad(t1,t2)`` and the four times of ``\\fade(...)`` (ms),
rounded to integers; positions, colours, other tags and the text outside ``{...}`` are
kept byte for byte, and at speed 1 the text is not touched at all. A cue clipped at a
segment edge is scaled only: its tags are not shifted or cut to the part kept (a karaoke
line cut at its start keeps its first syllables, its end is cut off by the cue's end).

`retime_file` is the I/O twin (read with an encoding fallback, write to a temporary name
and rename, same format out as in, always UTF-8 as Matroska wants); `find_sidecar_subtitles`
lists the subtitle files beside a dub with the same stem and reads their language tags;
`embedded_subtitles` lists the dub's own subtitle streams and `extract_embedded` writes a
text one to a file (`subtitle_extract_args`), which is then re-timed like a sidecar.

Picture streams (PGS, VobSub, DVB: BITMAP_RETIME_CODECS) are re-timed through their
packets by app.services.subtitle_bitmaps (`retime_bitmap`); XSUB pictures are skipped
(BITMAP_SKIP_REASON).
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

import babelfish
import pysubs2
from pysubs2 import SSAEvent, SSAFile

from app.errors import InputError
from app.services import media
from app.services.speech import MACROLANGUAGE_TAGS, UNKNOWN_TAG, iso639_2
from app.services.timemap import Segment, TimeMap
from app.utils.file_utils import write_text_atomic

logger = logging.getLogger(__name__)

#: Encodings tried in order. UTF-8 (with or without a byte-order mark) first; then
#: Windows-1252, what most DVD-era Western European SubRip files are; Latin-1 last, which
#: decodes any byte (cp1252 leaves five bytes undefined), so reading never fails on
#: encoding alone. UTF-16 is chosen only by its byte-order mark.
ENCODINGS: tuple[str, ...] = ("utf-8-sig", "cp1252", "latin-1")
#: Sidecar extensions -> pysubs2 format names (text formats that need no frame rate).
SIDECAR_FORMATS: dict[str, str] = {".srt": "srt", ".ass": "ass", ".ssa": "ssa",
                                   ".vtt": "vtt"}
#: Name tokens that mark a kind of track, not a language ("Film.forced.es.srt",
#: "Film.en.sdh.srt"). "hi" (hearing impaired) is also Hindi's ISO 639-1 code: it is read
#: as a flag only when another token of the name gives the language.
FORCED_TOKENS = frozenset({"forced", "foreign"})
HEARING_IMPAIRED_TOKENS = frozenset({"sdh", "cc", "hi"})
OTHER_FLAG_TOKENS = frozenset({"default", "full", "signs", "songs"})
#: Text subtitle codecs of the dub's streams (ffprobe names) -> (file extension, ffmpeg
#: codec) of the file each is extracted to. SubRip, ASS and WebVTT are copied as they
#: are (nothing converted); SSA is written as ASS (its successor: the same events, and
#: ffmpeg's .ass writer takes only ASS). mov_text (MP4's tx3g) cannot be copied into any
#: text file: it is converted to SubRip, which keeps its text, line breaks and the
#: bold/italic/underline and colour ffmpeg reads from it (as SubRip tags); its box
#: position and scrolling are lost (ASS would not keep them either, as ffmpeg reads them).
TEXT_STREAM_CODECS: dict[str, tuple[str, str]] = {
    "subrip": (".srt", "copy"), "srt": (".srt", "copy"), "ass": (".ass", "copy"),
    "ssa": (".ass", "ass"), "webvtt": (".vtt", "copy"), "mov_text": (".srt", "srt")}
#: Picture subtitle codecs: no text (OCR is not done); re-timed through their packets
#: when in BITMAP_RETIME_CODECS, else skipped.
BITMAP_STREAM_CODECS = frozenset({"hdmv_pgs_subtitle", "dvd_subtitle", "dvb_subtitle",
                                  "xsub", "pgssub", "dvdsub"})
BITMAP_SKIP_REASON = ("XSUB picture subtitles cannot be re-timed (their end times are "
                      "inside the pictures' packets)")
#: Picture codecs re-timed through their packets (PGS, VobSub, DVB; subtitle_bitmaps):
#: each display set is one packet (or packets sharing a time) that shows or clears a
#: picture, so moving packets moves cues. XSUB is not among them: its end times are in
#: its packets' text headers, which a stream copy cannot change.
BITMAP_RETIME_CODECS = frozenset({"hdmv_pgs_subtitle", "dvd_subtitle", "dvb_subtitle"})
#: Seconds one subtitle stream's extraction may take: ffmpeg reads the whole file (the
#: packets of a stream are spread through it), so a long film on a slow disk needs
#: minutes; a run past this is an error (the track is skipped), not a hung sync.
EXTRACT_TIMEOUT = 900.0


# --------------------------------------------------------------------------- pure core
@dataclass
class RetimeResult:
    """Re-timed cues and what happened to them, for the report.

    `kept`: events out (cues moved + comments passed through); `moved`: cues re-timed
    through a segment; `clipped`: of those, the cues cut short at a segment edge (or at 0
    on the original); `dropped`: cues left out (in an insert, or zero length once mapped).
    """

    events: list[SSAEvent] = field(default_factory=list)
    kept: int = 0
    moved: int = 0
    clipped: int = 0
    dropped: int = 0

    def counts(self) -> dict[str, int]:
        return {"kept": self.kept, "moved": self.moved, "clipped": self.clipped,
                "dropped": self.dropped}


def _overlap_ms(start: int, end: int, seg: Segment) -> float:
    """Milliseconds of the dub interval [start, end) that `seg` covers (0 when none)."""
    return max(0.0, min(end, seg.dub_end * 1000.0) - max(start, seg.dub_start * 1000.0))


def holding_segment(start: int, end: int, tmap: TimeMap) -> Segment | None:
    """The segment holding the larger part of the dub interval [start, end) (ms); the
    earlier one on a tie; None when no segment overlaps it."""
    best, best_ms = None, 0.0
    for seg in tmap.segments:
        ms = _overlap_ms(start, end, seg)
        if ms > best_ms:
            best, best_ms = seg, ms
    return best


def retime_interval(start: int, end: int, tmap: TimeMap) -> tuple[int, int, bool] | None:
    """Dub interval [start, end) in ms -> (orig_start, orig_end, clipped) in ms on the
    original timeline, or None when it is dropped (no segment overlaps it, or it maps to
    zero length or wholly before 0). `clipped`: part of it was cut off."""
    seg = holding_segment(start, end, tmap)
    return None if seg is None else _place(start, end, seg)


def _place(start: int, end: int, seg: Segment) -> tuple[int, int, bool] | None:
    """retime_interval through the segment `seg` that holds [start, end)."""
    lo = max(float(start), seg.dub_start * 1000.0)
    hi = min(float(end), seg.dub_end * 1000.0)
    clipped = lo > start or hi < end
    o_lo = seg.to_original(lo / 1000.0) * 1000.0
    o_hi = seg.to_original(hi / 1000.0) * 1000.0
    if o_lo < 0.0:
        o_lo, clipped = 0.0, True
    new_start, new_end = round(o_lo), round(o_hi)
    if new_end <= new_start:
        return None
    return new_start, new_end, clipped


#: Inside an override block: a karaoke tag and its centiseconds, or a tag taking
#: arguments in brackets whose times are scaled (`\\fade` before `\\fad`, so that the
#: longer name wins; `\\move(` and not `\\movevc(`; `\\t(` is the transform).
_TIMED_TAG = re.compile(r"\\(?:(?P<k>kf|ko|k|K)(?P<cs>\d+(?:\.\d*)?)"
                        r"|(?P<fn>fade|fad|move|t)\s*\()")
_OVERRIDE_BLOCK = re.compile(r"\{[^}]*\}")
_NUMBER_ARG = re.compile(r"^(\s*)(-?\d+(?:\.\d*)?)(\s*)$")


def _split_args(inner: str) -> list[str]:
    """The arguments of a tag's brackets, split at the commas not inside nested brackets
    (`\\t(0,500,\\clip(0,0,10,10))` has three)."""
    args, depth, cur = [], 0, []
    for ch in inner:
        if ch == "," and depth == 0:
            args.append("".join(cur))
            cur = []
            continue
        depth += (ch == "(") - (ch == ")")
        cur.append(ch)
    args.append("".join(cur))
    return args


def _timed_args(fn: str, args: list[str]) -> tuple[int, ...]:
    """Which arguments of `fn` are times: \\fad(t1,t2) (and \\fade with two), the last
    four of \\fade's seven, the last two of \\move's six, t1 and t2 of \\t when it has
    them (3 or 4 arguments: \\t(accel,style) and \\t(style) have none)."""
    n = len(args)
    if fn in ("fad", "fade") and n == 2:
        return (0, 1)
    if fn == "fade" and n == 7:
        return (3, 4, 5, 6)
    if fn == "move" and n == 6:
        return (4, 5)
    if fn == "t" and n >= 3 and all(_NUMBER_ARG.match(a) for a in args[:2]):
        return (0, 1)
    return ()


def _scale_arg(arg: str, factor: float) -> str:
    m = _NUMBER_ARG.match(arg)
    if m is None:                       # not a plain number: left as it is
        return arg
    return f"{m.group(1)}{round(float(m.group(2)) * factor)}{m.group(3)}"


def scale_override_times(text: str, factor: float) -> str:
    """Pure: an ASS/SSA event's text with the times of its override tags multiplied by
    `factor` (the speed of the segment the cue was placed through; > 1: longer on the
    original). Scaled: karaoke `\\k`/`\\K`/`\\kf`/`\\ko` (centiseconds; rounded on the
    running sum, so the syllables still add up, within 1 cs, to the scaled total), the
    times of `\\t`, `\\move`, `\\fad`, `\\fade` (ms, rounded to integers). Everything
    else (positions, colours, other tags, a `\\t`'s own modifiers, text outside `{...}`)
    is kept byte for byte; `factor` 1 returns `text` itself."""
    if factor == 1.0 or "{" not in text:
        return text
    karaoke = [0.0, 0]                  # running sum in: cs as written; out: cs written

    def block(m: re.Match) -> str:
        src, out, pos = m.group(0), [], 0
        while (t := _TIMED_TAG.search(src, pos)) is not None:
            out.append(src[pos:t.start()])
            if t.group("k"):
                karaoke[0] += float(t.group("cs"))
                cs = round(karaoke[0] * factor) - karaoke[1]
                karaoke[1] += cs
                out.append(f"\\{t.group('k')}{cs}")
                pos = t.end()
                continue
            depth, close = 1, None
            for i in range(t.end(), len(src)):
                depth += (src[i] == "(") - (src[i] == ")")
                if depth == 0:
                    close = i
                    break
            if close is None:           # no closing bracket: left as written
                out.append(src[t.start():t.end()])
                pos = t.end()
                continue
            args = _split_args(src[t.end():close])
            timed = _timed_args(t.group("fn"), args)
            args = [_scale_arg(a, factor) if i in timed else a for i, a in enumerate(args)]
            out.append(src[t.start():t.end()] + ",".join(args) + ")")
            pos = close + 1
        out.append(src[pos:])
        return "".join(out)

    return _OVERRIDE_BLOCK.sub(block, text)


def retime_events(events: Iterable[SSAEvent], tmap: TimeMap) -> RetimeResult:
    """Cues on the dub timeline -> cues on the original's (see the module's rules).

    The input events are not changed: each kept cue is a copy with new `start`/`end`
    (integer ms). Comment events are passed through as they are.
    """
    out = RetimeResult()
    for ev in events:
        if ev.is_comment:
            out.events.append(ev.copy())
            continue
        seg = holding_segment(ev.start, ev.end, tmap) if ev.end > ev.start else None
        placed = _place(ev.start, ev.end, seg) if seg is not None else None
        if placed is None:
            out.dropped += 1
            continue
        new = ev.copy()
        new.start, new.end, clipped = placed
        new.text = scale_override_times(ev.text, seg.speed)
        out.events.append(new)
        out.moved += 1
        out.clipped += clipped
    out.kept = len(out.events)
    return out


# --------------------------------------------------------------------------- files
def decode_subtitle_bytes(data: bytes) -> str:
    """Text of a subtitle file: UTF-16 by its byte-order mark, else the first of
    ENCODINGS that decodes it."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16")
    for enc in ENCODINGS:
        try:
            return data.decode(enc)
        except UnicodeDecodeError:
            continue
    raise AssertionError("latin-1 decodes any byte")  # pragma: no cover


def read_subtitles(src: Path, fmt: str | None = None) -> SSAFile:
    """Parse a text subtitle file. `fmt`: a pysubs2 format name ("srt", "ass", "ssa",
    "vtt"...), None = detected from the content. Raises InputError when it cannot."""
    try:
        text = decode_subtitle_bytes(Path(src).read_bytes())
    except OSError as e:
        raise InputError(f"Cannot read the subtitle file {src}: {e.strerror or e}.") from e
    try:
        return SSAFile.from_string(text, format_=fmt)
    except (pysubs2.Pysubs2Error, ValueError) as e:
        raise InputError(f"{src} is not a subtitle file SyncDub can read ({e}); text "
                         "formats are SubRip, ASS/SSA and WebVTT.") from e


def retime_file(src: Path, dst: Path, tmap: TimeMap, fmt: str | None = None) -> RetimeResult:
    """Re-time the subtitle file `src` through `tmap` into `dst` (I/O twin of
    `retime_events`). `fmt`: the pysubs2 format of `src`, None = detected from the
    content; `dst` gets the same format (SubRip stays SubRip, ASS keeps its [Script Info]
    and [V4+ Styles]), written in UTF-8."""
    subs = read_subtitles(src, fmt)
    out_fmt = fmt or subs.format or "srt"
    result = retime_events(subs.events, tmap)
    subs.events = result.events
    write_text_atomic(dst, subs.to_string(out_fmt))
    logger.info("subtitles %s -> %s: %s", src, dst, result.counts())
    return result


# --------------------------------------------------------------------------- sidecars
@dataclass(frozen=True)
class Sidecar:
    """A subtitle file beside the dub: `language` is an ISO 639-2/B tag as Matroska
    wants ("spa", "fre"), "und" when the name gives none."""

    path: Path
    format: str
    language: str = UNKNOWN_TAG
    forced: bool = False
    hearing_impaired: bool = False


def language_tag(token: str) -> str:
    """ISO 639-2/B tag of a language token in a file name: ISO 639-1 ("es"), 639-2/B or /T
    ("spa", "fre", "fra"), an IETF tag ("pt-BR", "es-419") or an English name ("Spanish");
    "und" when it is none of these or names no language ("und", "zxx")."""
    code = token.strip().lower()
    if "-" in code or "_" in code:
        code = code.replace("_", "-").split("-")[0]
    if len(code) == 2:
        return iso639_2(code)
    lang = None
    parsers = (babelfish.Language.fromalpha3b, babelfish.Language) if len(code) == 3 \
        else (babelfish.Language.fromname,)
    for parse in parsers:
        try:
            lang = parse(code if len(code) == 3 else code.capitalize())
            break
        except (babelfish.Error, ValueError, KeyError):
            continue
    if lang is None or lang.scope == "special":
        return UNKNOWN_TAG
    if lang.alpha3 in MACROLANGUAGE_TAGS:
        return MACROLANGUAGE_TAGS[lang.alpha3]
    try:
        return lang.alpha3b
    except babelfish.Error:         # an ISO 639-3 language with no 639-2 code
        return UNKNOWN_TAG


def sidecar_from_tokens(path: Path, fmt: str, tokens: Sequence[str]) -> Sidecar:
    """Read the dot-separated tokens between the dub's stem and the extension
    (["forced", "es"]): flags, and the language from the last token that names one."""
    low = [t.lower() for t in tokens if t]
    forced = any(t in FORCED_TOKENS for t in low)
    language = UNKNOWN_TAG
    for t in reversed(low):
        if t in FORCED_TOKENS or t in OTHER_FLAG_TOKENS or (
                t in HEARING_IMPAIRED_TOKENS and t != "hi"):
            continue
        if t == "hi" and any(language_tag(o) != UNKNOWN_TAG for o in low if o != "hi"):
            continue
        tag = language_tag(t)
        if tag != UNKNOWN_TAG:
            language = tag
            break
    hearing = any(t in HEARING_IMPAIRED_TOKENS for t in low
                  if not (t == "hi" and language == "hin"))
    return Sidecar(Path(path), fmt, language, forced, hearing)


def find_sidecar_subtitles(dub: Path) -> list[Sidecar]:
    """Subtitle files in the dub's folder named like it ("Film.mkv" -> "Film.srt",
    "Film.es.srt", "Film.spa.ass", "Film.forced.es.srt"...), sorted by name. The stem is
    matched without regard to case; only text formats (SIDECAR_FORMATS) are listed."""
    dub = Path(dub)
    prefix = dub.stem.casefold() + "."
    found = []
    try:
        entries = sorted(dub.parent.iterdir())
    except OSError:
        return []
    for p in entries:
        fmt = SIDECAR_FORMATS.get(p.suffix.lower())
        if fmt is None or p == dub or not p.is_file():
            continue
        name = p.name[:-len(p.suffix)]
        if not (name + ".").casefold().startswith(prefix):
            continue
        found.append(sidecar_from_tokens(p, fmt, name[len(prefix):].split(".")))
    return found


# --------------------------------------------------------------------------- embedded
@dataclass(frozen=True)
class EmbeddedSubtitle:
    """A subtitle stream of the dub: `dub` the file, `stream` its ffprobe description;
    `language` an ISO 639-2/B tag from the stream's tag ("und" when none); `skip` the
    reason it is not re-timed (a bitmap or unknown codec), None for a text stream."""

    dub: Path
    stream: media.StreamInfo
    language: str = UNKNOWN_TAG
    forced: bool = False
    hearing_impaired: bool = False
    skip: str | None = None

    @property
    def is_bitmap(self) -> bool:
        """A picture stream (`retime_bitmap`), not a text one (`extract_embedded`)."""
        return self.stream.codec in BITMAP_STREAM_CODECS

    @property
    def format(self) -> str:
        """pysubs2's format of the extracted file ("srt", "ass", "vtt"); the codec for a
        picture stream or one that is skipped."""
        plan = TEXT_STREAM_CODECS.get(self.stream.codec)
        return SIDECAR_FORMATS[plan[0]] if plan else self.stream.codec


def embedded_subtitle(dub: Path, stream: media.StreamInfo) -> EmbeddedSubtitle:
    """Pure: what to do with one subtitle stream of the dub (see EmbeddedSubtitle)."""
    codec = stream.codec
    if codec in TEXT_STREAM_CODECS or codec in BITMAP_RETIME_CODECS:
        skip = None
    elif codec in BITMAP_STREAM_CODECS:
        skip = BITMAP_SKIP_REASON
    else:
        skip = (f"the {codec} subtitle codec is not one SyncDub re-times (text: SubRip, "
                "ASS/SSA, WebVTT, mov_text)")
    language = language_tag(stream.language) if stream.language else UNKNOWN_TAG
    return EmbeddedSubtitle(Path(dub), stream, language, stream.forced,
                            stream.hearing_impaired, skip)


def embedded_subtitles(dub: media.MediaInfo) -> list[EmbeddedSubtitle]:
    """Pure: the dub's subtitle streams, in file order (text ones and skipped ones)."""
    return [embedded_subtitle(dub.path, s) for s in dub.of_kind("subtitle")]


def subtitle_extract_args(path: Path, stream_index: int, dst: Path,
                          codec: str = "copy") -> list[str]:
    """ffmpeg argv (without the program) writing subtitle stream `stream_index` (ffprobe
    index) of `path` to the text file `dst`, whose extension picks the writer; `codec`:
    "copy" or the encoder ("srt", "ass"). Times come out on the file's timeline (t=0 at
    its start, as the audio is read), which the time map's dub times are on."""
    return ["-y", "-i", media.ff_path(path), "-map", f"0:{stream_index}", "-c:s", codec,
            media.ff_path(dst)]


def extract_embedded(sub: EmbeddedSubtitle, work: Path, name: str) -> Path:
    """Extract the text stream `sub` into `work` as `name` + its extension; return the
    file. Raises MediaError (CommandError) when ffmpeg fails."""
    ext, codec = TEXT_STREAM_CODECS[sub.stream.codec]
    dst = Path(work) / f"{name}{ext}"
    media.run_ffmpeg(subtitle_extract_args(sub.dub, sub.stream.index, dst, codec),
                     timeout=EXTRACT_TIMEOUT)
    return dst
