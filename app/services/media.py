"""Probe and extract: ffprobe facts about a file, and its audio decoded as a stream.

Every ffmpeg/ffprobe call goes through this module's runners (`run_ffmpeg`,
`run_ffmpeg_pipe`, `run_ffmpeg_capture`, `iter_audio`, `run_ffprobe`), which check the
exit status and raise CommandError with the command and the tail of stderr. Argv lists
are built by pure functions (`extract_args`, `probe_args`, ...) tested by equality.
"""
from __future__ import annotations

import json
import logging
import os
import queue
import shlex
import shutil
import signal
import subprocess
import tempfile
import threading
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import IO, Callable, Iterator

import numpy as np

from app.errors import InputError, MediaError
from app.services.features import SAMPLE_RATE
from app.services.progress import safe_call

logger = logging.getLogger(__name__)

ANALYSIS_RATE = SAMPLE_RATE    # Hz: every decode for analysis
_BLOCK_SECONDS = 30            # decode block: memory per block ~ 2 MB
FFPROBE_TIMEOUT = 120          # s: NFS can be slow, but a probe never takes minutes
CAPTURE_TIMEOUT = 120          # s: a capture decodes seconds of media; minutes mean a hang
VERSION_TIMEOUT = 10           # s: `ffmpeg -version` answers at once
PIPE_SETTLE_TIMEOUT = 1        # s: a piped stage gets to exit after the last one failed


@dataclass(frozen=True)
class StreamInfo:
    index: int                      # ffprobe stream index within the file
    kind: str                       # video | audio | subtitle | attachment | data
    codec: str
    kind_index: int = 0             # N-th stream of its kind (0-based): "-map 0:a:N"
    channels: int = 0
    channel_layout: str = ""
    sample_rate: int = 0
    bit_rate: int = 0
    language: str = ""
    title: str = ""
    fps: float = 0.0
    start_time: float = 0.0
    duration: float = 0.0
    default: bool = False
    forced: bool = False            # dispositions (subtitle tracks: forced, SDH)
    hearing_impaired: bool = False


@dataclass(frozen=True)
class MediaInfo:
    path: Path
    format_name: str
    duration: float
    start_time: float
    streams: tuple[StreamInfo, ...] = field(default_factory=tuple)

    def of_kind(self, kind: str) -> list[StreamInfo]:
        return [s for s in self.streams if s.kind == kind]

    @property
    def audio(self) -> list[StreamInfo]:
        return self.of_kind("audio")

    @property
    def video(self) -> StreamInfo | None:
        v = [s for s in self.of_kind("video") if s.codec not in {"mjpeg", "png"}]
        return v[0] if v else None

    def audio_stream(self, n: int | None, role: str) -> StreamInfo:
        """The N-th audio stream (0-based), or the default/first one when n is None."""
        audio = self.audio
        if not audio:
            raise InputError(f"{role} file {self.path.name!r} has no audio stream: "
                             "give a file that contains the soundtrack")
        if n is None:
            defaults = [s for s in audio if s.default]
            return (defaults or audio)[0]
        if not 0 <= n < len(audio):
            raise InputError(f"{role} file {self.path.name!r} has {len(audio)} audio stream(s); "
                             f"audio track {n} does not exist (tracks count from 0)")
        return audio[n]


def ff_path(path: Path | str) -> str:
    """A file path as ffmpeg/ffprobe must get it: absolute, so that a name beginning with
    `-` is never read as an option, and one holding `:` (`a:b.mkv`, `pipe:1`) never as a
    protocol (ffmpeg takes `/...` for a plain file). Symlinks and `..` are left as given."""
    return str(Path(path).absolute())


def check_writable_folder(path: Path, what: str) -> None:
    """Raise InputError unless `path` can be written: its folder exists and takes a new
    file, or the nearest folder above it that exists does (the rest is made later).
    Checked before any heavy work, and it leaves nothing behind (not even the folder)."""
    folder = Path(path).absolute().parent
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise InputError(f"cannot write the {what} {str(path)!r}: {str(existing)!r} is a "
                         "file, not a folder; choose another place")
    try:
        fd, name = tempfile.mkstemp(prefix=".syncdub-write-check-", dir=existing)
        os.close(fd)
        os.unlink(name)
    except OSError as e:
        raise InputError(f"cannot write the {what} {str(path)!r}: the folder "
                         f"{str(existing)!r} cannot be written ({e.strerror or e}); choose "
                         "a folder you can write to") from None


def require_tools() -> None:
    """Raise MediaError unless both ffmpeg and ffprobe are on PATH."""
    for tool in ("ffmpeg", "ffprobe"):
        _require(tool)


def _require(tool: str) -> None:
    if shutil.which(tool) is None:
        raise MediaError(f"{tool} was not found on PATH: install ffmpeg "
                         "(Debian/Ubuntu: apt-get install ffmpeg) or run ./start.sh setup")


def _tail(text: str, n: int = 12) -> str:
    return "\n".join(text.strip().splitlines()[-n:])


class CommandError(MediaError):
    """An ffmpeg or ffprobe run that failed (`returncode` != 0) or ran past its time limit
    (`returncode` None, `timeout` in seconds). The message names what failed, the tail of
    stderr and the whole command."""

    def __init__(self, what: str, argv: list[str], returncode: int | None, stderr_tail: str,
                 timeout: float | None = None):
        self.argv = list(argv)
        self.returncode = returncode
        self.stderr_tail = stderr_tail
        self.timeout = timeout
        if returncode is None:
            head = f"{what}: stopped after {timeout:g} s (time limit)"
        else:
            head = f"{what} (exit {returncode}): {stderr_tail}"
        super().__init__(f"{head}\ncommand: {shlex.join(self.argv)}")

    @property
    def timed_out(self) -> bool:
        return self.returncode is None


_READ_AHEAD = 4                     # decoded blocks buffered ahead of the caller
_FFPROBE = ["ffprobe", "-v", "error", "-print_format", "json"]


def _ffmpeg(loglevel: str = "error") -> list[str]:
    """The program and the options every ffmpeg run starts with."""
    return ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", loglevel]


_FFMPEG = _ffmpeg()


class _FFmpegProcess:
    """ffmpeg with stdout piped to the caller and stderr drained by a thread (so a full
    stderr pipe never blocks it). Killed if the caller's block raises, or after `timeout`
    seconds; `check()` waits for it and raises CommandError unless it succeeded."""

    def __init__(self, argv: list[str], text: bool, stdin: IO | None = None,
                 timeout: float | None = None):
        _require(argv[0])
        logger.debug("%s", shlex.join(argv))
        self.argv = argv
        self.timeout = timeout
        self.timed_out = False
        self.stderr = ""
        self.proc = subprocess.Popen(argv, stdin=stdin, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=text)
        self._err: list = []
        self._t = threading.Thread(target=lambda: self._err.append(self.proc.stderr.read()),
                                   daemon=True)
        self._t.start()
        self._timer: threading.Timer | None = None
        if timeout is not None:
            self._timer = threading.Timer(timeout, self._expire)
            self._timer.daemon = True
            self._timer.start()

    def _expire(self) -> None:
        if self.proc.poll() is None:
            self.timed_out = True
            self.proc.kill()

    def __enter__(self) -> "_FFmpegProcess":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            self.proc.kill()
            self.proc.wait()
        if self._timer is not None:
            self._timer.cancel()

    def finish(self) -> tuple[int, str]:
        """Wait for the end; (exit status, tail of stderr). The whole of stderr is kept
        in `self.stderr`."""
        rc = self.proc.wait()
        if self._timer is not None:
            self._timer.cancel()
        self._t.join(5)
        self.stderr = "".join(e if isinstance(e, str) else e.decode("utf-8", "replace")
                              for e in self._err)
        return rc, _tail(self.stderr)

    def check(self, what: str = "ffmpeg failed") -> None:
        """Wait for the end; raise CommandError (named `what`) on a failure or a timeout."""
        rc, err = self.finish()
        if self.timed_out:
            raise CommandError(what, self.argv, None, err, self.timeout)
        if rc != 0:
            raise CommandError(what, self.argv, rc, err)


def run_ffmpeg(args: list[str], *, progress: Callable[[float], None] | None = None,
               duration: float = 0.0, timeout: float | None = None,
               stdin: IO | None = None) -> None:
    """Run ffmpeg with `args` (argv without the program). Raise CommandError on failure
    or after `timeout` seconds (None: no limit).

    With `progress` and `duration` (s), parses `-progress pipe:1` output (out_time_us)
    and reports the fraction done (0..1) through `progress.safe_call`: an error the
    callback raises is logged, except Cancelled, which stops ffmpeg and propagates.
    `stdin`: a pipe to read from (see run_ffmpeg_pipe).
    """
    argv = list(_FFMPEG)
    if progress is not None:
        argv += ["-progress", "pipe:1", "-nostats"]
    argv += args
    with _FFmpegProcess(argv, text=True, stdin=stdin, timeout=timeout) as ff:
        assert ff.proc.stdout is not None
        for line in ff.proc.stdout:
            if progress is not None and duration > 0 and line.startswith("out_time_us="):
                try:
                    us = int(line.split("=", 1)[1])
                except ValueError:
                    continue
                safe_call(progress, min(1.0, us / 1e6 / duration))
        ff.check()


def run_ffmpeg_capture(args: list[str], *, timeout: float | None = CAPTURE_TIMEOUT,
                       loglevel: str = "error", what: str = "ffmpeg failed"
                       ) -> tuple[bytes, str]:
    """Run ffmpeg with `args` (argv without the program) writing its output to stdout;
    return (stdout, the whole of stderr). For short outputs held in memory (a few seconds
    of audio, a grid per frame). `loglevel`: what ffmpeg logs to stderr ("info" for
    showinfo's lines). Raise CommandError (named `what`) on failure or after `timeout`
    seconds (None: no limit)."""
    with _FFmpegProcess([*_ffmpeg(loglevel), *args], text=False, timeout=timeout) as ff:
        assert ff.proc.stdout is not None
        out = ff.proc.stdout.read()
        ff.check(what)
    return out, ff.stderr


def ffmpeg_version(timeout: float = VERSION_TIMEOUT) -> str:
    """The version ffmpeg reports ("6.1.1", "N-113000-g..."). Raise MediaError when it
    is missing, fails or takes longer than `timeout` seconds."""
    out, _ = run_ffmpeg_capture(["-version"], timeout=timeout)
    first = out.decode("utf-8", "replace").split("\n", 1)[0]
    return first.replace("ffmpeg version ", "").split(" ")[0]


def _widen_pipe(f) -> None:
    """Grow a pipe's buffer to 1 MiB (Linux; elsewhere a no-op). ffmpeg naps 10 ms each
    time an input has nothing to read; behind a 64 KiB pipe a two-hour mux spends half
    its time in those naps (2.7 s of AC-3 per nap instead of 40 s)."""
    try:
        import fcntl
        fcntl.fcntl(f.fileno(), getattr(fcntl, "F_SETPIPE_SZ", 1031), 1 << 20)
    except (ImportError, OSError, AttributeError, ValueError):
        pass


def _raise_first_failure(procs: list[_FFmpegProcess]) -> None:
    """When the last stage of a pipe failed, raise the error of the first earlier stage
    that failed on its own: the later stages, fed nothing, failed because of it. A stage
    that failed writing to a closed pipe (EPIPE) failed because of a later one."""
    for ff in procs:
        try:
            rc = ff.proc.wait(timeout=PIPE_SETTLE_TIMEOUT)
        except subprocess.TimeoutExpired:
            continue
        if rc == 0 or rc == -signal.SIGPIPE:
            continue
        ff.finish()
        if "Broken pipe" not in ff.stderr:
            ff.check()


def run_ffmpeg_pipe(*stages: list[str], progress: Callable[[float], None] | None = None,
                    duration: float = 0.0) -> None:
    """ffmpeg processes at once, each one's stdout feeding the next one's stdin (e.g. a
    filter graph writing PCM in NUT, an encoder, the mux): on two cores they run side by
    side instead of one after the other. Every stage must succeed (a stage that dies
    early would otherwise leave a short but "successful" output); one failing kills the
    others. Progress (fraction 0..1) comes from the last stage; `duration` in seconds."""
    if not stages:
        return
    procs: list[_FFmpegProcess] = []
    try:
        for argv in stages[:-1]:
            prev = procs[-1].proc.stdout if procs else None
            procs.append(_FFmpegProcess([*_FFMPEG, *argv], text=False, stdin=prev))
            _widen_pipe(procs[-1].proc.stdout)
            if prev is not None:
                prev.close()                   # the child holds it now
        last_in = procs[-1].proc.stdout if procs else None
        try:
            run_ffmpeg(stages[-1], progress=progress, duration=duration, stdin=last_in)
        except CommandError:
            if last_in is not None:
                last_in.close()                # lets a stage still writing see EPIPE
            _raise_first_failure(procs)
            raise
        finally:
            if last_in is not None:
                last_in.close()
        for ff in procs:
            ff.check()
    except BaseException:
        for ff in procs:
            if ff.proc.poll() is None:
                ff.proc.kill()
            ff.proc.wait()
        raise


def run_ffprobe(args: list[str], *, timeout: float = FFPROBE_TIMEOUT) -> dict:
    """Run ffprobe with `args` (argv without the program and its output options) and
    return its JSON output. Raise CommandError on failure or after `timeout` seconds, and
    MediaError when what it prints is not JSON."""
    argv = [*_FFPROBE, *args]
    _require("ffprobe")
    logger.debug("%s", shlex.join(argv))
    try:
        r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        err = e.stderr.decode("utf-8", "replace") if isinstance(e.stderr, bytes) else e.stderr
        raise CommandError("ffprobe failed", argv, None, _tail(err or ""), timeout) from None
    if r.returncode != 0:
        raise CommandError("ffprobe failed", argv, r.returncode, _tail(r.stderr))
    try:
        return json.loads(r.stdout or "{}")
    except json.JSONDecodeError as e:
        raise MediaError(f"ffprobe printed something that is not JSON ({e})\n"
                         f"command: {shlex.join(argv)}") from None


def probe_args(path: Path) -> list[str]:
    """ffprobe args (after `-print_format json`) describing a file's format, streams and
    chapters."""
    return ["-show_format", "-show_streams", "-show_chapters", ff_path(path)]


def ffprobe_json(path: Path) -> dict:
    """ffprobe's JSON description of a user's file. Raise InputError when ffprobe cannot
    read it as media or takes longer than FFPROBE_TIMEOUT seconds."""
    path = Path(path)
    try:
        return run_ffprobe(probe_args(path))
    except CommandError as e:
        if e.timed_out:
            raise InputError(f"{path.name!r}: ffprobe took longer than {FFPROBE_TIMEOUT} s; "
                             "is the file on a reachable disk?") from None
        raise InputError(f"{path.name!r} is not a media file ffmpeg can read "
                         f"({_tail(e.stderr_tail, 2) or 'unknown format'}): "
                         "give a video or audio file") from None


def _fps(s: dict) -> float:
    for key in ("avg_frame_rate", "r_frame_rate"):
        v = s.get(key) or "0/0"
        try:
            f = Fraction(v)
        except (ValueError, ZeroDivisionError):
            continue
        if 0 < f < 1000:
            return float(f)
    return 0.0


def _float(v, default: float = 0.0) -> float:
    try:
        return float(v)
    except (TypeError, ValueError):
        return default


def parse_probe(path: Path, data: dict) -> MediaInfo:
    """Pure: ffprobe JSON -> MediaInfo."""
    counters: dict[str, int] = {}
    streams = []
    for s in data.get("streams", []):
        kind = s.get("codec_type", "data")
        n = counters.get(kind, 0)
        counters[kind] = n + 1
        tags = {k.lower(): v for k, v in (s.get("tags") or {}).items()}
        streams.append(StreamInfo(
            index=int(s.get("index", len(streams))), kind=kind,
            codec=s.get("codec_name", "unknown"), kind_index=n,
            channels=int(s.get("channels", 0) or 0),
            channel_layout=s.get("channel_layout", "") or "",
            sample_rate=int(_float(s.get("sample_rate"))),
            bit_rate=int(_float(s.get("bit_rate"))),
            language=tags.get("language", ""), title=tags.get("title", ""),
            fps=_fps(s) if kind == "video" else 0.0,
            start_time=_float(s.get("start_time")),
            duration=_float(s.get("duration")),
            default=bool((s.get("disposition") or {}).get("default", 0)),
            forced=bool((s.get("disposition") or {}).get("forced", 0)),
            hearing_impaired=bool((s.get("disposition") or {}).get("hearing_impaired", 0)),
        ))
    fmt = data.get("format", {})
    return MediaInfo(path=path, format_name=fmt.get("format_name", ""),
                     duration=_float(fmt.get("duration")),
                     start_time=_float(fmt.get("start_time")), streams=tuple(streams))


def probe(path: Path, role: str = "input") -> MediaInfo:
    """Check that `path` is readable media and describe it. `role` names it in errors."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{role} file not found: {path}")
    if not path.is_file():
        raise InputError(f"{role} path is not a file: {path}")
    if path.stat().st_size == 0:
        raise InputError(f"{role} file {path.name!r} is empty (0 bytes): the copy or upload "
                         "did not complete; copy it again")
    info = parse_probe(path, ffprobe_json(path))
    if not info.streams:
        raise InputError(f"{role} file {path.name!r} holds no audio or video streams")
    if info.duration <= 0:
        durations = [s.duration for s in info.streams if s.duration > 0]
        if durations:
            info = MediaInfo(info.path, info.format_name, max(durations), info.start_time,
                             info.streams)
    return info


def downmix_filter(stream: StreamInfo, bed_only: bool) -> str:
    """The pan filter that makes the analysis signal.

    With `bed_only` and a layout holding a centre channel (5.1, 7.1), the centre (where
    dialogue lives) is dropped so the music-and-effects bed dominates.
    """
    layout = stream.channel_layout
    if bed_only and stream.channels >= 6 and ("5.1" in layout or "7.1" in layout or not layout):
        if stream.channels >= 8:
            return "pan=mono|c0=FL+FR+LFE+BL+BR+SL+SR"
        surround = "SL+SR" if "side" in layout else "BL+BR"
        if not layout:
            return "pan=mono|c0=c0+c1+c3+c4+c5"
        return f"pan=mono|c0=FL+FR+LFE+{surround}"
    return "pan=mono|c0=" + "+".join(f"c{i}" for i in range(max(1, stream.channels)))


#: Output options for a stream written to a pipe: ffmpeg otherwise flushes its output
#: after every packet when it cannot seek it, and a decoder's packets are small (AC-3:
#: 512 samples at 16 kHz, 2 KB), so a 2-hour track went through the pipe in ~225 000
#: writes of 2 KB, each a wake-up of the reader: 4.2 s of kernel time per track. With
#: the 32 KB I/O buffer filled first it is 0.9 s. Nothing waits on the data sooner: every
#: reader of these pipes reads to the end.
PIPE_OUT = ["-flush_packets", "0"]


def extract_args(path: Path, stream: StreamInfo, *, bed_only: bool = False,
                 rate: int = ANALYSIS_RATE, start: float | None = None,
                 duration: float | None = None) -> list[str]:
    """ffmpeg argv (without the program) decoding one audio stream to mono float32 on stdout.

    The output starts at the stream's own time zero of the file's timeline: `-copyts` is
    not used, so ffmpeg's output t=0 is the file's start (first packet of any stream).
    `start`/`duration` (s) decode only that stretch (input seek: fast, sample-accurate
    after ffmpeg's trim).
    """
    seek = (["-ss", f"{start:.6f}"] if start else []) + \
        (["-t", f"{duration:.6f}"] if duration is not None else [])
    return [*seek, "-i", ff_path(path), "-map", f"0:{stream.index}", "-vn", "-sn", "-dn",
            "-af", f"{downmix_filter(stream, bed_only)},aresample={rate}:resampler=soxr",
            "-ac", "1", "-ar", str(rate), *PIPE_OUT, "-f", "f32le", "pipe:1"]


def iter_audio(path: Path, stream: StreamInfo, *, bed_only: bool = False,
               rate: int = ANALYSIS_RATE, block_seconds: float = _BLOCK_SECONDS,
               start: float | None = None, duration: float | None = None
               ) -> Iterator[np.ndarray]:
    """Yield the decoded mono signal in float32 blocks; memory does not grow with the file.
    `start`/`duration`: only that stretch (see extract_args).

    A reader thread drains ffmpeg's pipe into a short queue, so the decoder keeps running
    while the caller computes on the previous block (a bare 64 KB pipe would make the two
    take turns)."""
    argv = [*_FFMPEG, *extract_args(path, stream, bed_only=bed_only, rate=rate, start=start,
                                    duration=duration)]
    block_bytes = int(rate * block_seconds) * 4
    with _FFmpegProcess(argv, text=False) as ff:
        assert ff.proc.stdout is not None
        _widen_pipe(ff.proc.stdout)             # fewer wake-ups of the reader
        q: queue.Queue = queue.Queue(maxsize=_READ_AHEAD)
        stop = threading.Event()

        def reader() -> None:
            try:
                while not stop.is_set():
                    chunk = ff.proc.stdout.read(block_bytes)
                    q.put(chunk)
                    if not chunk:
                        return
            except BaseException as e:          # surfaced in the caller's thread
                q.put(e)
        t = threading.Thread(target=reader, daemon=True, name="ffmpeg-reader")
        t.start()
        pending = b""
        at_end = False
        try:
            while True:
                chunk = q.get()
                if isinstance(chunk, BaseException):
                    raise chunk
                if not chunk:
                    at_end = True
                    break
                chunk = pending + chunk
                usable = len(chunk) - len(chunk) % 4
                pending = chunk[usable:]
                if usable:
                    yield np.frombuffer(chunk[:usable], dtype="<f4")
        finally:
            stop.set()
            if not at_end:                      # the caller stopped early: stop ffmpeg
                ff.proc.kill()
            while t.is_alive():                 # unblock a reader stuck on a full queue
                try:
                    q.get_nowait()
                except queue.Empty:
                    t.join(0.05)
        ff.check(f"could not decode the audio of {path.name!r}")


class AudioBuffer:
    """Growing float32 buffer: blocks are copied into one preallocated array (sized from
    the expected duration, grown geometrically), so the peak is one array plus one block,
    not a list of blocks plus their concatenation."""

    def __init__(self, expected_seconds: float, rate: int = ANALYSIS_RATE):
        self._buf = np.empty(int(max(expected_seconds, 1.0) * rate * 1.02) + rate, np.float32)
        self.n = 0

    def append(self, block: np.ndarray) -> None:
        if self.n + len(block) > len(self._buf):
            new = np.empty(max(len(self._buf) * 3 // 2, self.n + len(block)), np.float32)
            new[:self.n] = self._buf[:self.n]
            self._buf = new
        self._buf[self.n:self.n + len(block)] = block
        self.n += len(block)

    def array(self) -> np.ndarray:
        return self._buf[:self.n]


def read_snippet(path: Path, stream: StreamInfo, start: float, duration: float, *,
                 bed_only: bool = False, rate: int = ANALYSIS_RATE) -> np.ndarray:
    """A few seconds of one audio stream, mono float32 (for edge refinement). A stretch
    of no length (`duration` <= 0: a window past the file's end) is empty."""
    if duration <= 0:
        return np.zeros(0, np.float32)
    raw, _ = run_ffmpeg_capture(
        extract_args(path, stream, bed_only=bed_only, rate=rate, start=max(0.0, start),
                     duration=duration),
        what=f"could not decode the audio of {path.name!r} at {start:.1f} s",
        # A long stretch (the speech probe reads 15 minutes) may decode at no better than
        # real time from a slow disk or share: its limit grows with it.
        timeout=CAPTURE_TIMEOUT + duration)
    return np.frombuffer(raw[: len(raw) // 4 * 4], dtype="<f4")


def read_audio(path: Path, stream: StreamInfo, *, bed_only: bool = False,
               rate: int = ANALYSIS_RATE, expected_seconds: float = 0.0,
               progress: Callable[[float], None] | None = None) -> np.ndarray:
    """Decode a whole audio stream to one mono float32 array (16 kHz: 230 MB per hour).
    `expected_seconds`: its length, for sizing the buffer and for `progress` (fraction
    0..1, through `progress.safe_call`)."""
    buf = AudioBuffer(expected_seconds, rate)
    for block in iter_audio(path, stream, bed_only=bed_only, rate=rate):
        buf.append(block)
        if expected_seconds > 0:
            safe_call(progress, min(1.0, buf.n / rate / expected_seconds))
    if buf.n == 0:
        raise InputError(f"{path.name!r}: its audio stream decodes to nothing (empty or "
                         "damaged); check the file plays")
    return buf.array()
