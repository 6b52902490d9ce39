"""The dub's own subtitle streams carried into the MKV (issue 12, part 3): the extraction
argv by equality, what is done with each codec (pure), the stage's skip and error paths,
then a real sync of the conftest pair whose dub holds a SubRip (spa) and an ASS (cat)
stream, both coming out re-timed, tagged and listed as "embedded"."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from app.errors import MediaError
from app.services import media, subtitles, sync_service
from app.services.media import StreamInfo
from app.services.timemap import Segment, TimeMap
from app.services.types import SubtitleInfo, SyncRequest
from config import EngineSettings
from tests.helpers.media import ffmpeg, ffprobe
from tests.helpers.subs import assert_retimed, mkv_cues, write_subs

ES_CUES = [(3.0, 4.5, "Hola"), (10.0, 12.0, "Adiós"), (20.25, 21.5, "Fin")]
CA_CUES = [(5.0, 6.0, "Bon dia"), (15.5, 16.25, "Adeu")]
SIDE_CUES = [(7.0, 8.0, "Lado")]
DUB = Path("/in/dub.mkv")
# dub 0..24 s -> original -1.5..22.5 s, as the clips' pair (the dub 1.5 s late)
TMAP = TimeMap((Segment(0.0, 24.0, -1.5, 1.0),), 22.5, 24.0, 1.0)


def _sub(index: int, codec: str, **kw) -> StreamInfo:
    return StreamInfo(index=index, kind="subtitle", codec=codec, **kw)


def test_subtitle_extract_args():
    assert subtitles.subtitle_extract_args(DUB, 3, Path("/w/embedded1.ass")) == [
        "-y", "-i", "/in/dub.mkv", "-map", "0:3", "-c:s", "copy", "/w/embedded1.ass"]
    assert subtitles.subtitle_extract_args(DUB, 5, Path("/w/e.srt"), "srt") == [
        "-y", "-i", "/in/dub.mkv", "-map", "0:5", "-c:s", "srt", "/w/e.srt"]


@pytest.mark.parametrize("codec, fmt, skip", [
    ("subrip", "srt", None), ("ass", "ass", None), ("ssa", "ass", None),
    ("webvtt", "vtt", None), ("mov_text", "srt", None),
    ("hdmv_pgs_subtitle", "hdmv_pgs_subtitle", None),
    ("dvd_subtitle", "dvd_subtitle", None),
    ("xsub", "xsub", subtitles.BITMAP_SKIP_REASON),
    ("eia_608", "eia_608", "the eia_608 subtitle codec is not one SyncDub re-times "
                           "(text: SubRip, ASS/SSA, WebVTT, mov_text)")])
def test_embedded_subtitle_by_codec(codec, fmt, skip):
    e = subtitles.embedded_subtitle(DUB, _sub(2, codec))
    assert (e.format, e.skip, e.language) == (fmt, skip, "und")


@pytest.mark.parametrize("tag, language", [("spa", "spa"), ("es", "spa"), ("fra", "fre"),
                                           ("", "und"), ("und", "und")])
def test_embedded_subtitle_language_from_the_tag(tag, language):
    assert subtitles.embedded_subtitle(DUB, _sub(2, "subrip", language=tag)).language \
        == language


def test_embedded_subtitle_forced_and_sdh_from_the_disposition():
    info = media.parse_probe(DUB, {"streams": [
        {"index": 0, "codec_type": "audio", "codec_name": "aac"},
        {"index": 1, "codec_type": "subtitle", "codec_name": "ass",
         "tags": {"language": "cat"}, "disposition": {"forced": 1, "hearing_impaired": 1}}]})
    (e,) = subtitles.embedded_subtitles(info)
    assert (e.stream.index, e.language, e.forced, e.hearing_impaired) == (1, "cat", True, True)


def _no_ffmpeg(monkeypatch):
    def boom(*a, **k):
        raise AssertionError("ffmpeg was run for a stream that is skipped")
    monkeypatch.setattr(media, "run_ffmpeg", boom)


def test_xsub_stream_is_skipped_without_running_ffmpeg(tmp_path, monkeypatch):
    _no_ffmpeg(monkeypatch)
    xsub = subtitles.embedded_subtitle(DUB, _sub(4, "xsub", language="fre"))
    infos, added = sync_service._retime_subtitles([(xsub, "embedded")], TMAP, tmp_path)
    assert added == []
    assert infos == [SubtitleInfo(source="/in/dub.mkv", origin="embedded",
                                  format="xsub", language="fre", stream=4,
                                  error=subtitles.BITMAP_SKIP_REASON)]
    assert list(tmp_path.iterdir()) == []


def test_stream_that_cannot_be_extracted_or_read_is_skipped(tmp_path, monkeypatch):
    """ffmpeg fails on one stream (a missing file here), another comes out as bytes no
    reader takes, a third is fine: the first two are skipped with their error, the third
    is re-timed; nothing raises."""
    good = write_subs(tmp_path / "good.srt", ES_CUES)
    real_extract = subtitles.extract_embedded

    def extract(emb, work, name):
        if emb.stream.index == 3:
            dst = Path(work) / f"{name}.srt"
            dst.write_bytes(b"\x00\x01 not a subtitle file \xff")
            return dst
        if emb.stream.index == 4:
            dst = Path(work) / f"{name}.srt"
            shutil.copy(good, dst)
            return dst
        return real_extract(emb, work, name)
    monkeypatch.setattr(subtitles, "extract_embedded", extract)
    work = tmp_path / "work"
    work.mkdir()
    missing = tmp_path / "gone.mkv"
    sources = [(subtitles.embedded_subtitle(missing, _sub(i, "subrip", language="spa")),
                "embedded") for i in (2, 3, 4)]
    infos, added = sync_service._retime_subtitles(sources, TMAP, work)
    assert [(i.stream, i.origin, i.language) for i in infos] == [
        (2, "embedded", "spa"), (3, "embedded", "spa"), (4, "embedded", "spa")]
    assert infos[0].error.startswith("the stream could not be extracted: ")
    assert infos[1].error == "no subtitle cue found in it"
    assert infos[2].error is None and infos[2].moved == 3
    assert [a.path.name for a in added] == ["subtitle2.srt"]


# ---------------------------------------------------------------------- a real sync
@pytest.fixture(scope="module")
def dub_with_streams(clips, tmp_path_factory) -> tuple[Path, Path]:
    """(original, dub.mkv): the clips' dub remuxed with a SubRip stream tagged spa (cues
    at ES_CUES) and an ASS stream tagged cat (CA_CUES), beside a sidecar dub.es.srt."""
    orig, dub = clips
    tmp = tmp_path_factory.mktemp("embedded")
    srt = write_subs(tmp / "a.srt", ES_CUES)
    ass = write_subs(tmp / "b.ass", CA_CUES)
    folder = tmp / "dub"
    folder.mkdir()
    out = folder / "dub.mkv"
    ffmpeg("-i", dub, "-i", srt, "-i", ass, "-map", "0", "-map", "1:0", "-map", "2:0",
           "-c", "copy", "-metadata:s:s:0", "language=spa", "-metadata:s:s:1",
           "language=cat", out)
    write_subs(folder / "dub.es.srt", SIDE_CUES)
    return orig, out


def test_sync_carries_the_dubs_subtitle_streams_retimed(dub_with_streams, tmp_path):
    orig, dub = dub_with_streams
    indexes = [s["index"] for s in ffprobe(dub, "-show_streams")["streams"]
               if s["codec_type"] == "subtitle"]
    out = tmp_path / "out" / "film.mkv"
    res = sync_service.run_sync(SyncRequest(orig, dub, out, mode="audio"), EngineSettings())
    subs = [s for s in ffprobe(out, "-show_streams")["streams"]
            if s["codec_type"] == "subtitle"]
    assert [(s["codec_name"], s["tags"].get("language"), s["tags"].get("title"),
             s["disposition"]["default"]) for s in subs] == [
        ("subrip", "spa", "Spanish (SyncDub)", 0), ("ass", "cat", "Catalan (SyncDub)", 0),
        ("subrip", "spa", "Spanish (SyncDub)", 0)]
    assert_retimed(mkv_cues(out, 0, tmp_path, "srt"), ES_CUES)
    assert_retimed(mkv_cues(out, 1, tmp_path, "ass"), CA_CUES)
    assert_retimed(mkv_cues(out, 2, tmp_path, "srt"), SIDE_CUES)

    entries = res.report.to_dict()["subtitles"]
    assert [(e["origin"], e.get("stream"), e["language"]) for e in entries] == [
        ("embedded", indexes[0], "spa"), ("embedded", indexes[1], "cat"),
        ("sidecar", None, "spa")]
    assert entries[0] == {
        "source": str(dub), "origin": "embedded", "format": "srt", "language": "spa",
        "forced": False, "hearing_impaired": False, "kept": 3, "moved": 3, "clipped": 0,
        "dropped": 0, "error": None, "stream": indexes[0]}
    assert entries[1]["format"] == "ass" and entries[1]["moved"] == 2
    assert "stream" not in entries[2]          # a file's entry keeps the keys it had
    assert sorted(p.name for p in out.parent.iterdir()) == ["film.mkv"]


def test_sync_survives_a_stream_that_fails_to_extract(dub_with_streams, tmp_path,
                                                      monkeypatch):
    orig, dub = dub_with_streams
    real_extract = subtitles.extract_embedded

    def extract(emb, work, name):
        if emb.language == "cat":
            raise MediaError("ffmpeg failed: Invalid data found when processing input")
        return real_extract(emb, work, name)
    monkeypatch.setattr(subtitles, "extract_embedded", extract)
    out = tmp_path / "film.mkv"
    res = sync_service.run_sync(SyncRequest(orig, dub, out, mode="audio"), EngineSettings())
    langs = [s["tags"].get("language") for s in ffprobe(out, "-show_streams")["streams"]
             if s["codec_type"] == "subtitle"]
    assert langs == ["spa", "spa"]
    cat = [e for e in res.report.subtitles if e.language == "cat"]
    assert [(e.origin, e.error) for e in cat] == [
        ("embedded", "the stream could not be extracted: ffmpeg failed: Invalid data found "
                     "when processing input")]
