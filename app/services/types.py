"""Values that cross stage boundaries. Times are seconds.

Sign convention everywhere: a time map sends a dub time to an original time,
`orig_t = orig_start + (dub_t - dub_start) * speed`; speed > 1 means the dub runs
faster than the original (a PAL transfer of a 23.976 fps film: 1.0427).
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, get_args

if TYPE_CHECKING:
    from app.services.timemap import TimeMap

# What the map is found from: "audio" the shared music and effects, "speech" the dialogue
# matched by meaning, "auto" the audio first and speech where it leaves the map unsure.
Mode = Literal["auto", "audio", "speech"]
MODES: tuple[str, ...] = get_args(Mode)
# What plays where the dub has nothing for the original's timeline (a cut in the dub):
# "silence", or the original's own audio.
GapFill = Literal["silence", "original"]
GAP_FILLS: tuple[str, ...] = get_args(GapFill)


@dataclass(frozen=True)
class Anchor:
    """One piece of evidence that `dub_t` (dub timeline) plays at `orig_t` (original).

    `score` is the evidence's strength: for audio anchors the correlation peak's
    z-score; for speech anchors a similarity-derived weight on the same scale
    (~5 weak, >= 10 strong). `source` is "audio" or "speech".
    """

    dub_t: float
    orig_t: float
    score: float
    source: str = "audio"


@dataclass(frozen=True)
class PhrasePair:
    """A dub phrase matched to an original phrase by meaning (speech path)."""

    dub_start: float
    dub_end: float
    dub_text: str
    orig_start: float
    orig_end: float
    orig_text: str
    similarity: float


@dataclass(frozen=True)
class SpeechResult:
    anchors: list[Anchor]
    pairs: list[PhrasePair]
    orig_language: str | None       # Whisper code, e.g. "en"
    dub_language: str | None
    timings: dict[str, float] = field(default_factory=dict)  # e.g. rtf per track
    # Every sentence Whisper heard on the dub (start, end, text), paired or not: what a
    # speech-placed map has to account for (app.services.evidence).
    dub_lines: tuple[tuple[float, float, str], ...] = ()


@dataclass(frozen=True)
class SyncRequest:
    original: Path
    dub: Path
    output: Path | None = None            # None: analyze only
    report_path: Path | None = None
    dub_lang: str | None = None           # ISO 639-2 tag forced by the user
    gap_fill: GapFill | None = None       # None: settings
    mode: Mode | None = None              # None: settings
    orig_audio_track: int | None = None   # N-th audio stream (0-based) of each file
    dub_audio_track: int | None = None
    title: str | None = None              # dub track title; default "<Language> (SyncDub)"
    # Text subtitle files of the dub (SubRip, ASS/SSA, WebVTT) re-timed and muxed, besides
    # the sidecars found beside the dub (subtitles.find_sidecar_subtitles).
    dub_subs: tuple[Path, ...] = ()
    # Further dubs of the same original, each with its own map, confidence and refusal,
    # written as further audio tracks of the one MKV (the original probed and decoded
    # once). `dub`, `dub_lang`, `dub_audio_track`, `title` and `dub_subs` are the first.
    more_dubs: tuple[DubInput, ...] = ()
    # A map given by hand (app.services.mapdoc: `sync --map`): rendered as it is, with no
    # analysis and no refusal for its confidence; one dub only. None: the map is found.
    given_map: TimeMap | None = None


@dataclass(frozen=True)
class DubInput:
    """One more dub for a SyncRequest (`more_dubs`): its file and the same per-dub
    choices the request makes for its first dub."""

    path: Path
    lang: str | None = None               # ISO 639-2 tag forced by the user
    audio_track: int | None = None        # N-th audio stream (0-based)
    title: str | None = None
    subs: tuple[Path, ...] = ()


@dataclass(frozen=True)
class ModelStatus:
    """Whether and where a configured model (Whisper: transcribe.model_status; the meaning
    model: embed.model_status) is found, by the rules loading uses, without loading it.

    `name`, `backend`: the model and backend settings. `source`: where it loads from (each
    module names its sources); `path`: its folder or file, when it has one. When not
    `available`, `source` is "" and `problem` is the ModelError message loading would raise.
    """

    name: str
    backend: str
    available: bool
    source: str = ""
    path: Path | None = None
    problem: str = ""


REPORT_VERSION = 1   # the report's shape; raised when a key changes meaning or goes


@dataclass(frozen=True)
class Languages:
    """ISO 639-2 tags ("und" where unknown; None where not looked for)."""

    original: str | None = None
    dub: str | None = None


@dataclass(frozen=True)
class ReportStreams:
    """The audio streams used: N-th audio stream of each file (0-based), the dub's codec
    and channel count."""

    original_audio: int
    dub_audio: int
    dub_codec: str
    dub_channels: int


@dataclass(frozen=True)
class RenderInfo:
    """How the dub track was written: re-encoded (re-timed) or its packets kept."""

    reencoded: bool
    codec: str


@dataclass(frozen=True)
class SubtitleInfo:
    """A subtitle file of the dub re-timed into the MKV (or skipped: `error` says why).

    `source`: the file; `origin`: "sidecar" (found beside the dub), "given" (dub_subs) or
    "embedded" (a subtitle stream of the dub: `source` is the dub, `stream` its ffprobe
    index; `stream` is None, and left out of the JSON, for the other two);
    `format`: pysubs2's name ("srt", "ass", "ssa", "vtt"; an embedded stream skipped
    before extraction: its codec, "hdmv_pgs_subtitle"); `language`: ISO 639-2 ("und"
    when its name or tag gives none); the counts are subtitles.RetimeResult's (all 0 when
    skipped)."""

    source: str
    origin: str
    format: str
    language: str
    forced: bool = False
    hearing_impaired: bool = False
    kept: int = 0
    moved: int = 0
    clipped: int = 0
    dropped: int = 0
    error: str | None = None
    stream: int | None = None


@dataclass(frozen=True, kw_only=True)
class SyncReport:
    """What the engine found and did, for the user, the API and the CLI (`analyze --json`).

    Times are seconds; `speed` is original seconds per dub second; an offset is
    orig_t - speed * dub_t (positive: the dub plays later). A refused pair has a report
    too (`confidence` below the bar, `reasons` say why); a pair refused by the speech
    probe before any map was fitted has no map: `map`/`speed` None and `speech_probe`
    set. `to_dict` is the JSON form (`dataclasses.asdict`); `render`, `speech_probe` and
    `subtitles` are left out when None (written files, probes, and written files that
    had subtitles to carry over only).
    """

    version: int = REPORT_VERSION
    original: str
    dub: str
    mode: Mode | None = None
    gap_fill: GapFill | None = None
    speed: float | None = None
    speed_hint: float | None = None          # from the frame rates (dub fps / original fps)
    confidence: float = 0.0                  # 0..1
    reasons: list[str] = field(default_factory=list)   # not to trust the map; empty: trust it
    map: dict[str, Any] | None = None        # TimeMap.to_dict()
    segments: list[dict[str, Any]] = field(default_factory=list)   # map["segments"]
    cuts: list[list[float]] = field(default_factory=list)      # original [start, end)
    inserts: list[list[float]] = field(default_factory=list)   # dub [start, end)
    anchors: list[Anchor] = field(default_factory=list)        # thinned
    anchor_count: int = 0
    languages: Languages = field(default_factory=Languages)
    phrase_pairs: list[PhrasePair] = field(default_factory=list)
    speech: dict[str, float] | None = None   # the speech stage's timings (None: not heard)
    evidence: dict[str, Any] | None = None   # evidence.Evidence.to_dict()
    diagnostics: dict[str, Any] = field(default_factory=dict)  # AlignmentDiagnostics.to_dict()
    streams: ReportStreams | None = None
    output: str | None = None                # the MKV written (None: analysis or refused)
    timings: dict[str, float] = field(default_factory=dict)    # wall s per stage
    render: RenderInfo | None = None
    speech_probe: dict[str, Any] | None = None   # regions (s), pairs and timings
    subtitles: list[SubtitleInfo] | None = None  # the dub's subtitle files muxed (or not)
    # A job of several dubs: one entry per dub in the request's order (DubOutcome.to_dict;
    # the entry of the dub this report is about has "report": None). None: one dub.
    dubs: list[dict[str, Any]] | None = None
    # "given": the map was set by hand (SyncRequest.given_map), rendered with no analysis
    # (no anchors, evidence or reasons; never refused). None: found by the engine.
    map_source: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The JSON form: every field, but `render`, `speech_probe`, `subtitles`, `dubs`
        and `map_source` only when set."""
        d = asdict(self)
        for key in ("render", "speech_probe", "subtitles", "dubs", "map_source"):
            if d[key] is None:
                del d[key]
        for sub in d.get("subtitles") or ():
            if sub["stream"] is None:       # files: the keys they always had
                del sub["stream"]
        return d

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, default=str)


@dataclass(frozen=True)
class DubOutcome:
    """What became of one dub of a several-dub request: accepted (its track is in the
    MKV) or not (`error`/`error_code` say why: the error's code, "not_same_film" for
    a refusal); `report`: its own report (None where there is none, e.g. a file
    that could not be read)."""

    dub: str
    language: str | None
    accepted: bool
    confidence: float = 0.0
    speed: float | None = None
    reasons: list[str] = field(default_factory=list)
    error: str | None = None
    error_code: str | None = None
    report: SyncReport | None = None

    def to_dict(self) -> dict[str, Any]:
        d = {k: getattr(self, k) for k in ("dub", "language", "accepted", "confidence",
                                           "speed", "reasons", "error", "error_code")}
        d["report"] = self.report.to_dict() if self.report is not None else None
        return d


@dataclass
class SyncResult:
    """`report`: the first accepted dub's. `dubs`: a several-dub request's outcomes in
    its order (empty for one dub); `warnings`: one line per dub that was not written."""

    output: Path | None
    confidence: float
    speed: float
    report: SyncReport
    dubs: tuple[DubOutcome, ...] = ()

    @property
    def warnings(self) -> list[str]:
        return [f"{Path(d.dub).name}: {d.error}" for d in self.dubs if not d.accepted]
