"""The ffmpeg/ffprobe runners (app/services/media.py) and the progress-callback guard
(app/services/progress.py): real ffmpeg on a few seconds of lavfi media made here."""
from __future__ import annotations

import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

from app.errors import Cancelled, InputError, MediaError
from app.services import media, mux, picture, render
from app.services.progress import Reporter, safe_call
from app.services.timemap import Segment, TimeMap

SR = 48000


def _ff(*args: str) -> None:
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", *args], check=True)


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> dict[str, Path]:
    """tone.mka: 3 s of 440 Hz FLAC; opus.mka: the same in Opus (starts before 0: its
    pre-skip); film.mkv: 3 s of moving picture with the tone."""
    d = tmp_path_factory.mktemp("media")
    out = {"tone": d / "tone.mka", "opus": d / "opus.mka", "film": d / "film.mkv"}
    _ff("-f", "lavfi", "-i", f"sine=f=440:d=3:r={SR}", "-c:a", "flac", str(out["tone"]))
    _ff("-i", str(out["tone"]), "-c:a", "libopus", "-b:a", "64k", str(out["opus"]))
    _ff("-f", "lavfi", "-i", "testsrc2=size=64x36:rate=25:duration=3", "-i", str(out["tone"]),
        "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "copy",
        str(out["film"]))
    return out


def _to_null(src: Path) -> list[str]:
    return ["-i", str(src), "-f", "null", "-"]


# ----------------------------------------------------------------- failures and timeouts

def test_a_failing_ffmpeg_raises_with_its_command_and_stderr(tmp_path):
    missing = tmp_path / "missing.wav"
    with pytest.raises(media.CommandError) as info:
        media.run_ffmpeg(_to_null(missing))
    e = info.value
    assert isinstance(e, MediaError) and e.returncode not in (0, None) and not e.timed_out
    assert "No such file" in e.stderr_tail
    assert "No such file" in str(e) and "command: ffmpeg " in str(e)
    assert str(missing) in str(e) and e.argv[0] == "ffmpeg"


def test_a_failing_capture_raises_named_by_its_caller(tmp_path):
    with pytest.raises(media.CommandError, match=r"^could not read x \(exit \d+\): .*No such"):
        media.run_ffmpeg_capture(_to_null(tmp_path / "missing.wav"), what="could not read x")


@pytest.mark.parametrize("run", [
    lambda args: media.run_ffmpeg(args, timeout=1),
    lambda args: media.run_ffmpeg_capture(args, timeout=1),
], ids=["run_ffmpeg", "run_ffmpeg_capture"])
def test_a_run_past_its_time_limit_is_stopped_and_raises(run):
    endless = ["-re", "-f", "lavfi", "-i", f"anullsrc=r={SR}", "-f", "null", "-"]
    t0 = time.monotonic()
    with pytest.raises(media.CommandError, match="stopped after 1 s") as info:
        run(endless)
    assert info.value.timed_out and info.value.returncode is None
    assert "anullsrc" in str(info.value)
    assert time.monotonic() - t0 < 10


def test_a_pipe_reports_the_stage_that_failed_first(tmp_path):
    """A producer that fails leaves the next stage nothing to read: the error is the
    producer's. A consumer that fails leaves the producer a closed pipe: the error is the
    consumer's."""
    with pytest.raises(media.CommandError, match="No such file") as info:
        media.run_ffmpeg_pipe(["-i", str(tmp_path / "gone.wav"), "-f", "nut", "pipe:1"],
                              ["-f", "nut", "-i", "pipe:0", "-f", "null", "-"])
    assert "gone.wav" in str(info.value)
    with pytest.raises(media.CommandError) as info:
        media.run_ffmpeg_pipe(["-f", "lavfi", "-i", f"sine=d=30:r={SR}", "-f", "nut", "pipe:1"],
                              ["-f", "nut", "-i", "pipe:0", "-c:a", "no_such_codec",
                               "-f", "null", "-"])
    assert "no_such_codec" in info.value.stderr_tail and "pipe:0" in info.value.argv


def test_capture_returns_stdout_and_the_whole_stderr(clips):
    raw, log = media.run_ffmpeg_capture(
        ["-i", str(clips["tone"]), "-af", "ashowinfo", "-ac", "1", "-f", "f32le", "pipe:1"],
        loglevel="info")
    assert len(raw) == 3 * SR * 4
    assert log.count("pts_time:") > 12         # every frame's line, not only a tail


def test_ffmpeg_version_is_what_ffmpeg_says():
    first = subprocess.run(["ffmpeg", "-version"], capture_output=True,
                           text=True).stdout.split("\n", 1)[0]
    assert first.startswith(f"ffmpeg version {media.ffmpeg_version()} ")


# ----------------------------------------------------------------- ffprobe

def test_probing_a_missing_file_says_it_is_not_found(tmp_path):
    with pytest.raises(InputError, match="dub file not found"):
        media.probe(tmp_path / "nope.mkv", role="dub")


def test_ffprobe_on_a_missing_file_raises_with_its_stderr(tmp_path):
    with pytest.raises(media.CommandError, match="No such file") as info:
        media.run_ffprobe(media.probe_args(tmp_path / "nope.mkv"))
    assert info.value.argv[:5] == ["ffprobe", "-v", "error", "-print_format", "json"]


def test_a_file_that_is_not_media_is_an_input_error(tmp_path):
    notes = tmp_path / "notes.mkv"
    notes.write_text("not a film\n" * 20)
    with pytest.raises(InputError, match="'notes.mkv' is not a media file ffmpeg can read"):
        media.ffprobe_json(notes)


@pytest.mark.parametrize("probe", [render.stream_start, mux._first_pts],
                         ids=["stream_start", "first_pts"])
def test_a_failed_probe_raises_instead_of_reading_as_zero(probe, tmp_path):
    with pytest.raises(MediaError, match="No such file"):
        probe(tmp_path / "gone.mka")


def test_stream_start_without_audio_raises(clips, tmp_path):
    video = tmp_path / "video.mkv"
    _ff("-i", str(clips["film"]), "-an", "-c", "copy", str(video))
    with pytest.raises(MediaError, match="no audio stream"):
        render.stream_start(video)


def test_stream_start_and_first_pts(clips):
    assert render.stream_start(clips["tone"]) == 0.0
    assert render.stream_start(clips["opus"]) < 0          # Opus pre-skip
    pts = mux._first_pts(clips["tone"], packets=8)
    assert len(pts) == 8 and pts == sorted(pts) and pts[0] == 0.0


# ----------------------------------------------------------------- argv, by equality

def test_probe_argvs(tmp_path):
    p = tmp_path / "a.mka"
    assert media.probe_args(p) == ["-show_format", "-show_streams", "-show_chapters", str(p)]
    assert render.stream_start_args(p) == ["-select_streams", "a:0", "-show_entries",
                                           "stream=start_time", str(p)]
    assert mux.first_pts_args(p, 16) == ["-read_intervals", "%+#16", "-show_entries",
                                         "packet=pts_time", str(p)]


def test_decode_argvs(tmp_path):
    p = tmp_path / "a.mka"
    assert render.absolute_decode_args(p, 44100) == [
        "-copyts", "-i", str(p), "-map", "0:a:0", "-af", "aresample=async=1:first_pts=0",
        "-ac", "1", "-ar", "44100", "-flush_packets", "0", "-f", "f32le", "pipe:1"]
    assert picture.signature_args(p, 2, -0.5, 4.0) == [
        "-copyts", "-ss", "0.000000", "-t", "4.000000", "-i", str(p), "-map", "0:2",
        "-an", "-sn", "-dn", "-vf", "scale=16:9:flags=area,format=gray,showinfo",
        "-fps_mode", "passthrough", "-f", "rawvideo", "pipe:1"]


# ----------------------------------------------------------------- the stages' reads

def test_snippet_and_signatures_read_through_the_runner(clips):
    info = media.probe(clips["film"])
    snip = media.read_snippet(info.path, info.audio[0], 1.0, 0.5)
    assert len(snip) == media.ANALYSIS_RATE // 2 and float(np.abs(snip).max()) > 0.05
    t, x = picture.read_signatures(info, 0.0, 2.0)
    assert len(t) == len(x) == 50 and x.shape[1] == picture.GRID_W * picture.GRID_H
    assert np.allclose(np.diff(t), 1 / 25, atol=1e-3)


def test_an_unreadable_picture_leaves_the_map_as_it_was(clips, tmp_path):
    """The picture stage is optional: a stretch ffmpeg cannot read is reported, not fatal."""
    info = media.probe(clips["film"])
    gone = media.MediaInfo(tmp_path / "gone.mkv", info.format_name, 60.0, 0.0, info.streams)
    tmap = TimeMap((Segment(0.0, 60.0, 0.0, 1.0),), 60.0, 60.0, 1.0, 0.9)
    out, diag = picture.refine_picture(tmap, gone, gone)
    assert out is tmap
    whys = [s["why"] for s in diag["segments"][0]["stretches"]]
    assert whys and all(w.startswith("not read: could not read the picture of 'gone.mkv'")
                        for w in whys)


# ----------------------------------------------------------------- progress callbacks

def test_safe_call_logs_a_broken_callback_and_passes_cancelled(caplog):
    def broken(_):
        raise ValueError("sink is down")

    def cancel(_):
        raise Cancelled("stop")

    safe_call(None, 0.5)
    safe_call(broken, 0.5)
    assert "progress callback failed" in caplog.text and "sink is down" in caplog.text
    with pytest.raises(Cancelled):
        safe_call(cancel, 0.5)


def test_reporter_survives_a_broken_callback_and_stops_on_cancel():
    seen = []

    def flaky(p):
        seen.append(p.overall)
        raise RuntimeError("flaky sink")

    r = Reporter(flaky)
    r.update("render", 0.5)
    r.update("render", 1.0)
    assert len(seen) == 2 and seen[0] < seen[1]

    def cancel(_):
        raise Cancelled("stop")

    with pytest.raises(Cancelled):
        Reporter(cancel).update("render", 0.5)


def test_a_progress_callback_that_raises_does_not_break_a_run(clips, tmp_path):
    calls = []

    def broken(f):
        calls.append(f)
        raise ValueError("sink is down")

    out = tmp_path / "out.wav"
    media.run_ffmpeg(["-y", "-i", str(clips["tone"]), str(out)], progress=broken, duration=3.0)
    assert calls and out.stat().st_size > 3 * SR * 2


def test_cancelled_from_a_progress_callback_stops_the_run(clips, tmp_path):
    def cancel(_):
        raise Cancelled("cancelled by the user")

    with pytest.raises(Cancelled):
        media.run_ffmpeg(["-y", "-re", "-i", str(clips["tone"]), str(tmp_path / "out.wav")],
                         progress=cancel, duration=3.0)


def test_read_audio_progress_is_guarded(clips):
    info = media.probe(clips["tone"])

    def broken(_):
        raise ValueError("sink is down")

    audio = media.read_audio(info.path, info.audio[0], expected_seconds=3.0, progress=broken)
    assert len(audio) == 3 * media.ANALYSIS_RATE
