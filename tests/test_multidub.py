"""Several dubs onto one original in one job (sync_service.run_sync with `more_dubs`, the
CLI's `sync ORIGINAL DUB1 DUB2...`), on the conftest clips (24 s, the dub 1.5 s late),
--mode audio (no speech models):
  * the clips' dub (spa), and the same audio remuxed as an .mka tagged fre: two good dubs;
  * an unrelated dub: another bed of the same length, tagged ger: refused.
One MKV holds the accepted dubs' tracks in the request's order; a refused dub leaves the
others written; none accepted writes nothing; the original is decoded once."""
from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np
import pytest

from app.errors import AlignmentError, InputError, MediaError
from app.services import sync_service
from app.services.progress import Progress
from app.services.types import DubInput, DubOutcome, SyncRequest
from config import EngineSettings
from tests.helpers.cli import listing, run_cli
from tests.helpers.media import decode_mono, ffmpeg, ffprobe
from tests.helpers.subs import assert_retimed, mkv_cues, write_subs

# A bed that shares nothing with the clips' (tests/helpers/media.py BED): other gate
# periods, other tones, another noise seed.
_GATE = "gt(sin(5.1*t)*sin(1.3*t+2)*sin(0.53*t+1),0.1)"
OTHER_BED = (f"aevalsrc='{_GATE}*(0.5*sin(2*PI*(330+150*floor(mod(2.9*t,4)))*t)"
             "+0.3*(random(5)-0.5))+0.02*(random(6)-0.5)':s=48000:d=24")
FR_CUES = [(3.0, 4.5, "Bonjour"), (10.0, 12.0, "Au revoir")]


@pytest.fixture(scope="module")
def dubs(clips, tmp_path_factory) -> dict[str, Path]:
    """original, spa (the clips' dub), fre (its audio as .mka, tagged fre), unrelated."""
    orig, spa = clips
    d = tmp_path_factory.mktemp("dubs")
    fre = d / "doublage.mka"
    ffmpeg("-i", spa, "-map", "0:a", "-c", "copy", "-metadata:s:a:0", "language=fre", fre)
    other = d / "unrelated.mka"
    ffmpeg("-f", "lavfi", "-i", OTHER_BED, "-ac", "2", "-c:a", "ac3", "-b:a", "192k",
           "-metadata:s:a:0", "language=ger", other)
    return {"orig": orig, "spa": spa, "fre": fre, "unrelated": other}


def _audio(path: Path) -> list[dict]:
    return [s for s in ffprobe(path, "-show_streams")["streams"] if s["codec_type"] == "audio"]


def _tags(stream: dict) -> tuple[str | None, str | None]:
    return stream.get("tags", {}).get("language"), stream.get("tags", {}).get("title")


@pytest.fixture
def decodes(monkeypatch) -> list[Path]:
    """The files whose envelopes sync_service decodes, in order (a spy on
    track_envelope: the test is about the pipeline's structure)."""
    seen: list[Path] = []
    real = sync_service.track_envelope

    def spy(info, *args, **kwargs):
        seen.append(info.path)
        return real(info, *args, **kwargs)

    monkeypatch.setattr(sync_service, "track_envelope", spy)
    return seen


def test_two_good_dubs_two_tracks_in_order(dubs, tmp_path, decodes):
    """Both dubs written after the original's audio, in order, each with its language and
    title, the second's given subtitles re-timed through its own map; the original
    decoded once; the progress only grows, to 1."""
    out = tmp_path / "film.mkv"
    seen: list[Progress] = []
    fr_srt = write_subs(tmp_path / "doublage.fr.srt", FR_CUES)
    req = SyncRequest(dubs["orig"], dubs["spa"], out, report_path=tmp_path / "r.json",
                      mode="audio",
                      more_dubs=(DubInput(dubs["fre"], title="Doublage", subs=(fr_srt,)),))
    res = sync_service.run_sync(req, EngineSettings(), progress=seen.append)
    assert res.output == out and res.warnings == []
    assert [(d.accepted, d.language) for d in res.dubs] == [(True, "spa"), (True, "fre")]
    assert all(abs(d.report.map["segments"][0]["offset"] + 1.5) < 0.05 for d in res.dubs)
    audio = _audio(out)
    assert len(audio) == 3
    assert [_tags(a) for a in audio[1:]] == [("spa", "Spanish (SyncDub)"), ("fre", "Doublage")]
    assert listing(tmp_path) == ["doublage.fr.srt", "film.mkv", "r.json"]
    (tmp_path / "cues").mkdir()
    assert_retimed(mkv_cues(out, 0, tmp_path / "cues", "srt"), FR_CUES)
    # the original's envelope decoded once, each dub's once
    assert decodes.count(dubs["orig"]) == 1
    assert sorted(map(str, decodes)) == sorted(map(str, (dubs["orig"], dubs["spa"],
                                                         dubs["fre"])))
    overall = [p.overall for p in seen]
    assert overall == sorted(overall) and overall[-1] == pytest.approx(1.0)
    rep = json.loads((tmp_path / "r.json").read_text())
    assert rep["dub"] == str(dubs["spa"]) and rep["output"] == str(out)
    assert [d["accepted"] for d in rep["dubs"]] == [True, True]
    assert rep["dubs"][0]["report"] is None
    assert rep["dubs"][1]["report"]["subtitles"][0]["language"] == "fre"


def test_unrelated_dub_refused_the_other_written(dubs, tmp_path, decodes):
    """The refused dub first: the MKV holds the good one only; the result, the report
    (the written dub's, with both entries) and the warnings name the refused file."""
    out = tmp_path / "out" / "film.mkv"
    rep_path = tmp_path / "report.json"
    req = SyncRequest(dubs["orig"], dubs["unrelated"], out, report_path=rep_path,
                      mode="audio", more_dubs=(DubInput(dubs["spa"], lang="spa"),))
    res = sync_service.run_sync(req, EngineSettings())
    refused, written = res.dubs
    assert isinstance(refused, DubOutcome) and not refused.accepted and written.accepted
    assert refused.error_code == AlignmentError.code and refused.language == "ger"
    assert "same film" in refused.error and refused.report is not None
    assert refused.confidence < 0.5
    assert len(res.warnings) == 1 and res.warnings[0].startswith("unrelated.mka: ")
    orig_streams = ffprobe(dubs["orig"], "-show_streams")["streams"]
    streams = ffprobe(out, "-show_streams")["streams"]
    assert [s["codec_type"] for s in streams] == [s["codec_type"] for s in orig_streams] + [
        "audio"]
    assert _tags(streams[-1]) == ("spa", "Spanish (SyncDub)")
    assert listing(out.parent) == ["film.mkv"]
    assert res.report.dub == str(dubs["spa"]) and res.confidence == written.confidence
    rep = json.loads(rep_path.read_text())
    assert rep["dub"] == str(dubs["spa"])
    assert [(d["dub"], d["accepted"], d["error_code"]) for d in rep["dubs"]] == [
        (str(dubs["unrelated"]), False, "not_same_film"), (str(dubs["spa"]), True, None)]
    assert rep["dubs"][0]["report"]["confidence"] < 0.5 and rep["dubs"][1]["report"] is None
    assert decodes.count(dubs["orig"]) == 1


def test_all_refused_writes_no_mkv(dubs, tmp_path):
    out = tmp_path / "film.mkv"
    rep_path = tmp_path / "report.json"
    req = SyncRequest(dubs["orig"], dubs["unrelated"], out, report_path=rep_path,
                      mode="audio", more_dubs=(DubInput(dubs["unrelated"], lang="ita"),))
    with pytest.raises(AlignmentError) as e:
        sync_service.run_sync(req, EngineSettings())
    assert "unrelated.mka (ger)" in str(e.value) and "unrelated.mka (ita)" in str(e.value)
    assert e.value.report is not None and len(e.value.report.dubs) == 2
    assert listing(tmp_path) == ["report.json"]          # no MKV, no temporary file
    rep = json.loads(rep_path.read_text())
    assert [d["accepted"] for d in rep["dubs"]] == [False, False]


def test_a_dub_whose_decode_fails_is_left_out(dubs, tmp_path, monkeypatch):
    """A dub whose analysis fails with MediaError (ffmpeg, after a good probe) is
    recorded with its error; the other is written."""
    real = sync_service.track_envelope

    def broken(info, *args, **kwargs):
        if info.path == dubs["fre"]:
            raise MediaError("ffmpeg failed on doublage.mka")
        return real(info, *args, **kwargs)

    monkeypatch.setattr(sync_service, "track_envelope", broken)
    req = SyncRequest(dubs["orig"], dubs["fre"], tmp_path / "f.mkv", mode="audio",
                      more_dubs=(DubInput(dubs["spa"]),))
    res = sync_service.run_sync(req, EngineSettings())
    assert [(d.accepted, d.error_code) for d in res.dubs] == [(False, "media_error"),
                                                              (True, None)]
    assert res.dubs[0].error == "ffmpeg failed on doublage.mka"
    assert [_tags(a)[0] for a in _audio(tmp_path / "f.mkv")] == ["eng", "spa"]


def test_bad_input_fails_up_front(dubs, tmp_path, decodes):
    req = SyncRequest(dubs["orig"], dubs["spa"], tmp_path / "f.mkv", mode="audio",
                      more_dubs=(DubInput(tmp_path / "missing.mkv"),))
    with pytest.raises(InputError, match="missing.mkv"):
        sync_service.run_sync(req, EngineSettings())
    assert decodes == [] and listing(tmp_path) == []


def test_analyze_takes_one_dub(dubs):
    req = SyncRequest(dubs["orig"], dubs["spa"], mode="audio",
                      more_dubs=(DubInput(dubs["fre"]),))
    with pytest.raises(InputError, match="one dub"):
        sync_service.analyze(req, EngineSettings())


def test_cancel_stops_everything(dubs, tmp_path):
    """Cancelled during the second dub's analysis: nothing is written."""
    cancel = threading.Event()

    def progress(p: Progress) -> None:
        if p.overall > 0.5:
            cancel.set()

    from app.errors import Cancelled
    req = SyncRequest(dubs["orig"], dubs["spa"], tmp_path / "f.mkv", mode="audio",
                      more_dubs=(DubInput(dubs["fre"]),))
    with pytest.raises(Cancelled):
        sync_service.run_sync(req, EngineSettings(), progress=progress, cancel=cancel)
    assert listing(tmp_path) == []


# ------------------------------------------------------------------------- the CLI

def test_cli_two_dubs_one_refused_exits_3(dubs, tmp_path):
    out = tmp_path / "film.mkv"
    rc, stdout, stderr = run_cli(["sync", dubs["orig"], dubs["spa"], dubs["unrelated"],
                                  "-o", out, "--mode", "audio", "--dub-lang", "spa",
                                  "--dub-lang", "ger", "-q"])
    assert rc == 3, stderr
    assert "1 of 2 dubs written" in stdout and "1 of 2 dubs written" in stderr
    assert "dub 2      refused  unrelated.mka (ger)" in stdout
    assert [_tags(a)[0] for a in _audio(out)] == ["eng", "spa"]


def test_cli_two_dubs_written_exits_0(dubs, tmp_path):
    out = tmp_path / "film.mkv"
    rc, stdout, stderr = run_cli(["sync", dubs["orig"], dubs["spa"], dubs["fre"], "-o", out,
                                  "--mode", "audio", "--title", "Uno", "--title", "Deux",
                                  "-q"])
    assert rc == 0, stderr
    assert "2 of 2 dubs written" in stdout
    assert [_tags(a) for a in _audio(out)[1:]] == [("spa", "Uno"), ("fre", "Deux")]


@pytest.mark.parametrize("extra", [["--dub-lang", "spa"],
                                   ["--title", "a", "--title", "b", "--title", "c"],
                                   ["--dub-subs", "x.srt"]])
def test_cli_per_dub_options_must_match(dubs, tmp_path, extra):
    rc, _, stderr = run_cli(["sync", dubs["orig"], dubs["spa"], dubs["fre"],
                             "-o", tmp_path / "f.mkv", "-q", *extra])
    assert rc == 2 and "error:" in stderr
    assert listing(tmp_path) == []


def _lag_s(a: np.ndarray, b: np.ndarray, rate: int = 16000) -> float:
    """Seconds `b` plays later than `a` (cross-correlation over 4-16 s, +-0.5 s)."""
    x, y = a[4 * rate:16 * rate], b[4 * rate:16 * rate]
    corr = np.correlate(y, x[rate // 2:-rate // 2], mode="valid")
    return (int(np.argmax(corr)) - rate // 2) / rate


def test_reencoded_dubs_one_rendered_to_a_file_one_piped(dubs, tmp_path, monkeypatch):
    """Both dubs re-encoded (forced: a single shift is normally copied): the first is
    rendered to a file, the last piped into the mux; both play in sync with the original."""
    from app.services import render
    rendered: list[Path] = []
    real_plan, real_run = render.plan_render, render.run_plan
    monkeypatch.setattr(render, "plan_render",
                        lambda *a, **k: real_plan(*a, **k, force_reencode=True))
    monkeypatch.setattr(render, "run_plan",
                        lambda plan, *a, **k: rendered.append(plan.track.path)
                        or real_run(plan, *a, **k))
    out = tmp_path / "film.mkv"
    res = sync_service.run_sync(SyncRequest(dubs["orig"], dubs["spa"], out, mode="audio",
                                            more_dubs=(DubInput(dubs["fre"]),)),
                                EngineSettings())
    assert [d.report.render.reencoded for d in res.dubs] == [True, True]
    assert [p.parent.name for p in rendered] == ["dub0"]           # the second: piped
    assert listing(tmp_path) == ["film.mkv"]
    orig = decode_mono(out, "0:a:0")
    for n in (1, 2):
        assert abs(_lag_s(orig, decode_mono(out, f"0:a:{n}"))) <= 0.02


def test_every_analysis_failed_is_a_media_error(dubs, tmp_path, monkeypatch):
    """No dub refused, none accepted (every dub's decode failed): MediaError naming each,
    nothing written but the report."""
    real = sync_service.track_envelope

    def broken(info, *args, **kwargs):
        if info.path != dubs["orig"]:
            raise MediaError(f"ffmpeg failed on {info.path.name}")
        return real(info, *args, **kwargs)

    monkeypatch.setattr(sync_service, "track_envelope", broken)
    req = SyncRequest(dubs["orig"], dubs["fre"], tmp_path / "f.mkv", mode="audio",
                      report_path=tmp_path / "r.json", more_dubs=(DubInput(dubs["spa"]),))
    with pytest.raises(MediaError, match="doublage.mka.*dubbed.mkv"):
        sync_service.run_sync(req, EngineSettings())
    assert listing(tmp_path) == ["r.json"]
    rep = json.loads((tmp_path / "r.json").read_text())
    assert [d["error_code"] for d in rep["dubs"]] == ["media_error", "media_error"]
