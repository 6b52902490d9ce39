"""The dub's subtitles carried into the MKV (issue 12, part 3, the MKV side): mux argv by
equality, then a real sync of a generated pair with a known offset whose sidecar and
given subtitle files come out re-timed, tagged and titled."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from app.errors import InputError
from app.services import media, mux, sync_service
from app.services.media import MediaInfo, StreamInfo
from app.services.render import RenderedTrack
from app.services.types import SyncRequest
from config import EngineSettings
from tests.helpers.cli import run_cli
from tests.helpers.media import ffmpeg, ffprobe
from tests.helpers.subs import DELAY, TOLERANCE_MS
from tests.helpers.subs import mkv_cues as _cues
from tests.helpers.subs import write_subs as _srt


def _s(index: int, kind: str, codec: str) -> StreamInfo:
    return StreamInfo(index=index, kind=kind, codec=codec)


ORIG = MediaInfo(Path("/in/film.mkv"), "matroska,webm", 100.0, 0.0,
                 (_s(0, "video", "h264"), _s(1, "audio", "aac"), _s(2, "subtitle", "subrip"),
                  _s(3, "subtitle", "mov_text")))
TRACK = RenderedTrack(Path("/w/dub.ac3.mka"), "ac3", 6, 0.0, True)
SUBS = (mux.AddedSubtitle(Path("/w/subtitle0.srt"), "spa", "Spanish (SyncDub)"),
        mux.AddedSubtitle(Path("/w/subtitle1.ass"), "eng", "English (SyncDub)", forced=True,
                          hearing_impaired=True))


def test_mux_args_add_subtitle_files_after_the_originals():
    assert mux.mux_args(ORIG, TRACK, Path("/o/.x.part.mkv"), language="spa",
                        title="Spanish (SyncDub)", subtitles=SUBS) == [
        "-y", "-thread_queue_size", "512", "-i", "/in/film.mkv",
        "-thread_queue_size", "512", "-i", "/w/dub.ac3.mka",
        "-i", "/w/subtitle0.srt", "-i", "/w/subtitle1.ass",
        "-map", "0:0", "-map", "0:1", "-map", "0:2", "-map", "0:3", "-map", "1:0",
        "-map", "2:0", "-map", "3:0",
        "-map_metadata", "0", "-map_chapters", "0", "-c", "copy", "-c:s:1", "srt",
        "-disposition:a:1", "0",
        "-metadata:s:a:1", "language=spa", "-metadata:s:a:1", "title=Spanish (SyncDub)",
        "-disposition:s:2", "0",
        "-metadata:s:s:2", "language=spa", "-metadata:s:s:2", "title=Spanish (SyncDub)",
        "-disposition:s:3", "forced+hearing_impaired",
        "-metadata:s:s:3", "language=eng", "-metadata:s:s:3", "title=English (SyncDub)",
        "-f", "matroska", "/o/.x.part.mkv"]


@pytest.mark.parametrize("piped", [False, True])
def test_mux_args_without_subtitles_are_unchanged(piped):
    plain = mux.mux_args(ORIG, TRACK, Path("/o.mkv"), language="spa", title="t", piped=piped)
    assert mux.mux_args(ORIG, TRACK, Path("/o.mkv"), language="spa", title="t", piped=piped,
                        subtitles=()) == plain
    assert not any(a.startswith(("-disposition:s", "-metadata:s:s")) for a in plain)


# ---------------------------------------------------------------------- a real sync
# dub times (s); the first lies in the dub's lead-in, which the original does not have
ES_CUES = [(0.3, 1.0, "Antes"), (3.0, 4.5, "Hola"), (10.0, 12.0, "Adiós"),
           (20.25, 21.5, "Fin")]
EN_CUES = [(5.0, 6.0, "SIGN: EXIT"), (15.5, 16.25, "SIGN: BANK")]


@pytest.fixture
def dub_folder(clips, tmp_path) -> tuple[Path, Path, Path]:
    """(original, dub with sidecars, a given file): the clips' dub copied as dub.mkv beside
    dub.es.srt (cues at ES_CUES) and dub.fr.srt (not subtitles), and an ASS file
    signs.forced.en.ass elsewhere."""
    orig, dub = clips
    folder = tmp_path / "dub"
    folder.mkdir()
    shutil.copy(dub, folder / "dub.mkv")
    _srt(folder / "dub.es.srt", ES_CUES)
    (folder / "dub.fr.srt").write_bytes(b"\x00\x01 not a subtitle file \xff")
    given = _srt(tmp_path / "signs.forced.en.ass", EN_CUES)
    return orig, folder / "dub.mkv", given


def test_sync_carries_sidecar_and_given_subtitles_retimed(dub_folder, tmp_path):
    orig, dub, given = dub_folder
    out = tmp_path / "out" / "film.mkv"
    res = sync_service.run_sync(SyncRequest(orig, dub, out, mode="audio", dub_subs=(given,)),
                                EngineSettings())
    subs = [s for s in ffprobe(out, "-show_streams")["streams"]
            if s["codec_type"] == "subtitle"]
    assert [(s["codec_name"], s["tags"].get("language"), s["tags"].get("title"),
             s["disposition"]["forced"], s["disposition"]["default"]) for s in subs] == [
        ("ass", "eng", "English (SyncDub)", 1, 0), ("subrip", "spa", "Spanish (SyncDub)", 0, 0)]

    def mapped(cues):
        return [(round((a - DELAY) * 1000), round((b - DELAY) * 1000), t) for a, b, t in cues]

    for n, ext, want in ((0, "ass", mapped(EN_CUES)), (1, "srt", mapped(ES_CUES[1:]))):
        got = _cues(out, n, tmp_path, ext)
        assert [t for _, _, t in got] == [t for _, _, t in want]
        for (a, b, _), (wa, wb, _) in zip(got, want):
            assert abs(a - wa) <= TOLERANCE_MS and abs(b - wb) <= TOLERANCE_MS, (got, want)

    report = res.report.to_dict()
    entries = {Path(e["source"]).name: e for e in report["subtitles"]}
    assert list(entries) == ["signs.forced.en.ass", "dub.es.srt", "dub.fr.srt"]
    assert entries["dub.es.srt"] == {
        "source": str(dub.parent / "dub.es.srt"), "origin": "sidecar", "format": "srt",
        "language": "spa", "forced": False, "hearing_impaired": False,
        "kept": 3, "moved": 3, "clipped": 0, "dropped": 1, "error": None}
    assert entries["signs.forced.en.ass"]["origin"] == "given"
    assert entries["signs.forced.en.ass"]["forced"] is True
    assert entries["dub.fr.srt"]["error"] == "no subtitle cue found in it"
    assert entries["dub.fr.srt"]["kept"] == 0
    assert res.report.timings.get("subtitles") is not None
    # nothing left behind: the work folder and the temporary names are gone
    assert sorted(p.name for p in out.parent.iterdir()) == ["film.mkv"]


def test_sync_without_subtitles_reports_none(clips, tmp_path):
    out = tmp_path / "film.mkv"
    res = sync_service.run_sync(SyncRequest(*clips, out, mode="audio"), EngineSettings())
    assert res.report.subtitles is None and "subtitles" not in res.report.to_dict()
    assert not [s for s in ffprobe(out, "-show_streams")["streams"]
                if s["codec_type"] == "subtitle"]


def _no_probe(monkeypatch):
    def boom(*a, **k):
        raise AssertionError("the inputs were read before the subtitle files were checked")
    monkeypatch.setattr(media, "probe", boom)


@pytest.mark.parametrize("what, message", [
    ("missing", "does not exist"), ("folder", "not a file"), ("binary", "no subtitle cue"),
    ("empty", "no subtitle cue"), ("unknown", "not a subtitle file")])
def test_given_subtitle_file_that_cannot_be_used_fails_before_the_analysis(
        what, message, clips, tmp_path, monkeypatch):
    bad = tmp_path / ("bad.es.txt" if what == "unknown" else "bad.es.srt")
    if what == "folder":
        bad.mkdir()
    elif what == "binary":
        bad.write_bytes(b"\x00\x01 not a subtitle file \xff")
    elif what in ("empty", "unknown"):
        bad.write_text("" if what == "empty" else "just some notes\n")
    _no_probe(monkeypatch)
    with pytest.raises(InputError, match=message):
        sync_service.run_sync(SyncRequest(*clips, tmp_path / "o.mkv", dub_subs=(bad,)),
                              EngineSettings())
    assert not (tmp_path / "o.mkv").exists()


def test_given_subtitle_of_another_format_is_refused(tmp_path):
    sub = tmp_path / "film.sub"
    sub.write_text("{0}{25}Hola\n{50}{75}Adiós\n")
    with pytest.raises(InputError):
        sync_service.given_subtitle(sub)


@pytest.mark.parametrize("name, language, forced", [
    ("Film.es.srt", "spa", False), ("es.srt", "spa", False),
    ("subs.forced.fre.ass", "fre", True), ("Film.srt", "und", False)])
def test_given_subtitle_language_from_its_name(name, language, forced, tmp_path):
    path = _srt(tmp_path / name, [(1.0, 2.0, "x")])
    sc = sync_service.given_subtitle(path)
    assert (sc.language, sc.forced, sc.format) == (language, forced, path.suffix[1:])


# ---------------------------------------------------------------------- the command line
def test_cli_sync_dub_subs_missing_exits_2_before_reading_the_films(clips, tmp_path,
                                                                     monkeypatch):
    _no_probe(monkeypatch)
    rc, out, err = run_cli(["sync", *clips, "-o", tmp_path / "o.mkv", "-q",
                            "--dub-subs", tmp_path / "nope.es.srt"])
    assert rc == 2 and "nope.es.srt does not exist" in err, err
    assert not (tmp_path / "o.mkv").exists()


def test_cli_sync_dub_subs_repeatable_and_listed(clips, tmp_path):
    a = _srt(tmp_path / "a.es.srt", ES_CUES)
    b = _srt(tmp_path / "b.forced.en.vtt", EN_CUES)
    out = tmp_path / "o.mkv"
    rc, stdout, err = run_cli(["sync", *clips, "-o", out, "-q", "--mode", "audio",
                               "--dub-subs", a, "--dub-subs", b])
    assert rc == 0, err
    assert "subtitles  a.es.srt  (spa, 3 cues re-timed, 1 dropped)" in stdout, stdout
    assert "subtitles  b.forced.en.vtt  (eng, 2 cues re-timed, 0 dropped)" in stdout, stdout
    subs = [s for s in ffprobe(out, "-show_streams")["streams"]
            if s["codec_type"] == "subtitle"]
    assert [(s["codec_name"], s["tags"]["language"], s["disposition"]["forced"])
            for s in subs] == [("subrip", "spa", 0), ("webvtt", "eng", 1)]
    got = _cues(out, 1, tmp_path, "vtt")
    assert abs(got[0][0] - round((EN_CUES[0][0] - DELAY) * 1000)) <= TOLERANCE_MS, got


def test_streamed_render_muxes_the_subtitles_too(tmp_path):
    """A re-encoded track streamed into the mux (ffmpeg reads the track on stdin) with a
    subtitle file as a third input: the cues keep their times, added after the original's
    own subtitles, which are kept with its chapters."""
    from app.services import render
    from app.services.timemap import Segment, TimeMap
    from tests.helpers.clicks import click_signal, write_audio
    from tests.helpers.media import make_original
    original = media.probe(make_original(tmp_path / "orig.mkv", 6.0, tmp_path))
    dub = media.probe(write_audio(tmp_path / "dub.ac3.mka", click_signal(5.0, [1.3]), "ac3",
                                  tmp_path))
    # two segments force a re-encode
    tm = TimeMap((Segment(0.0, 2.0, 0.5, 1.0), Segment(2.0, 5.0, 3.0, 1.0)),
                 orig_duration=6.0, dub_duration=5.0, speed=1.0)
    plan = render.plan_render(dub, dub.audio[0], tm, tmp_path)
    assert plan.streamable
    sub = _srt(tmp_path / "s.srt", [(1.0, 2.0, "uno"), (4.0, 5.5, "dos")])
    out = tmp_path / "out.mkv"
    mux.mux(original, plan.track, out, language="spa", title="Spanish (SyncDub)",
            source=plan.stages(to_pipe=True),
            subtitles=[mux.AddedSubtitle(sub, "spa", "Spanish (SyncDub)")])
    probed = ffprobe(out, "-show_streams", "-show_chapters")
    subs = [(s["codec_name"], s.get("tags", {}).get("language"), s.get("tags", {}).get("title"))
            for s in probed["streams"] if s["codec_type"] == "subtitle"]
    assert subs == [("subrip", None, None), ("subrip", "spa", "Spanish (SyncDub)")], subs
    assert [c["tags"]["title"] for c in probed["chapters"]] == ["One", "Two"]
    assert [s["codec_type"] for s in probed["streams"]].count("attachment") == 1
    assert [t for _, _, t in _cues(out, 0, tmp_path, "srt")] == ["Hello", "World"]
    assert _cues(out, 1, tmp_path, "srt") == [(1000, 2000, "uno"), (4000, 5500, "dos")]


def test_sync_carries_a_pgs_track_of_the_dub_retimed(clips, tmp_path):
    """A dub with a picture subtitle stream (PGS, as on a Blu-ray): it comes out of a real
    sync as a PGS stream of the MKV, tagged, each picture 1.5 s earlier (the dub's
    lead-in), the picture in the lead-in dropped."""
    from tests.helpers.pgs import write_sup
    orig, dub = clips
    cues_ms = [(600, 1200), (3000, 4500), (10000, 12000), (20250, 21500)]
    sup = write_sup(tmp_path / "cues.sup", cues_ms)
    dub_pgs = tmp_path / "dub_pgs.mkv"
    ffmpeg("-copyts", "-i", dub, "-i", sup, "-map", "0", "-map", "1", "-c", "copy",
           "-metadata:s:s:0", "language=spa", dub_pgs)
    out = tmp_path / "out" / "film.mkv"
    res = sync_service.run_sync(SyncRequest(orig, dub_pgs, out, mode="audio"),
                                EngineSettings())
    (sub,) = [s for s in ffprobe(out, "-show_streams")["streams"]
              if s["codec_type"] == "subtitle"]
    assert (sub["codec_name"], sub["tags"]["language"], sub["tags"]["title"]) == (
        "hdmv_pgs_subtitle", "spa", "Spanish (SyncDub)")
    frames = ffprobe(out, "-select_streams", "s", "-show_frames")["frames"]
    pictures = [round(f["pts"] / 1000) for f in frames if f["num_rects"] > 0]
    want = [a - round(DELAY * 1000) for a, _ in cues_ms[1:]]
    assert len(pictures) == len(want)
    assert max(abs(p - w) for p, w in zip(pictures, want)) <= TOLERANCE_MS, (pictures, want)
    (entry,) = res.report.to_dict()["subtitles"]
    assert (entry["origin"], entry["format"], entry["moved"], entry["error"]) == (
        "embedded", "hdmv_pgs_subtitle", 3, None)
    assert sorted(p.name for p in out.parent.iterdir()) == ["film.mkv"]
