"""mux: argv by equality; a real mux keeps the original's streams bit-exact."""
from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

import pytest

from app.errors import MediaError
from app.services import mux
from app.services.media import MediaInfo, StreamInfo, probe
from app.services.render import RenderedTrack
from tests.helpers.clicks import click_signal, decode, find_clicks, write_audio
from tests.helpers.media import ffprobe, make_original


def _info(*streams: StreamInfo, path: str = "/in/film.mp4") -> MediaInfo:
    return MediaInfo(Path(path), "mov,mp4", 100.0, 0.0, tuple(streams))


def _s(index: int, kind: str, codec: str) -> StreamInfo:
    return StreamInfo(index=index, kind=kind, codec=codec)


ORIG = _info(_s(0, "video", "h264"), _s(1, "audio", "aac"), _s(2, "audio", "ac3"),
             _s(3, "subtitle", "mov_text"), _s(4, "data", "bin_data"),
             _s(5, "subtitle", "subrip"), _s(6, "attachment", "ttf"),
             _s(7, "subtitle", "eia_608_unknown"))


def test_temp_path():
    assert mux.temp_path(Path("/out/Film (1999).mkv")) == Path("/out/.Film (1999).part.mkv")


def test_mux_args_reencoded_track():
    track = RenderedTrack(Path("/w/dub.ac3.mka"), "ac3", 6, 0.0, True)
    assert mux.mux_args(ORIG, track, Path("/o/.x.part.mkv"), language="spa",
                      title="Spanish (SyncDub)") == [
        "-y", "-thread_queue_size", "512", "-i", "/in/film.mp4",
        "-thread_queue_size", "512", "-i", "/w/dub.ac3.mka",
        "-map", "0:0", "-map", "0:1", "-map", "0:2", "-map", "0:3", "-map", "0:5",
        "-map", "0:6", "-map", "1:0",
        "-map_metadata", "0", "-map_chapters", "0", "-c", "copy", "-c:s:0", "srt",
        "-disposition:a:2", "0",
        "-metadata:s:a:2", "language=spa", "-metadata:s:a:2", "title=Spanish (SyncDub)",
        "-f", "matroska", "/o/.x.part.mkv"]


def test_mux_args_copied_track_negative_delay_and_default():
    track = RenderedTrack(Path("/d/dub.avi"), "mp3", 2, -1.5, False, stream_index=1,
                          duration_s=98.25)
    orig = _info(_s(0, "video", "h264"), _s(1, "audio", "dts"))
    assert mux.mux_args(orig, track, Path("/o.mkv"), language="fre", title="French (SyncDub)",
                      dub_default=True) == [
        "-y", "-thread_queue_size", "512", "-i", "/in/film.mp4", "-t", "98.250000",
        "-itsoffset", "-1.500000", "-thread_queue_size", "512", "-i", "/d/dub.avi", "-map", "0:0", "-map", "0:1", "-map", "1:1",
        "-map_metadata", "0", "-map_chapters", "0", "-c", "copy",
        "-disposition:a:0", "0", "-disposition:a:1", "default",
        "-metadata:s:a:1", "language=fre", "-metadata:s:a:1", "title=French (SyncDub)",
        "-ss", "0", "-f", "matroska", "/o.mkv"]


def test_mux_args_positive_delay_has_no_output_seek():
    track = RenderedTrack(Path("d.mkv"), "aac", 2, 0.25, False, stream_index=1)
    args = mux.mux_args(_info(_s(0, "video", "h264")), track, Path("o.mkv"), language="spa",
                      title="t")
    assert args[:8] == ["-y", "-thread_queue_size", "512", "-i", "/in/film.mp4",
                        "-itsoffset", "0.250000", "-thread_queue_size"]
    assert "-ss" not in args and "-t" not in args


# ---------------------------------------------------------------- real files

@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict:
    d = tmp_path_factory.mktemp("mux")
    orig = probe(make_original(d / "orig.mkv", 4.0, d))
    orig_mp4 = probe(make_original(d / "orig.mp4", 4.0, d))
    dub = write_audio(d / "dub.mka", click_signal(4.0, [1.0], channels=2), "ac3", d)
    return {"dir": d, "orig": orig, "orig_mp4": orig_mp4,
            "track": RenderedTrack(dub, "ac3", 2, 0.0, True)}


def _packets(path: Path, sel: str) -> list[tuple[str, str]]:
    data = ffprobe(path, "-select_streams", sel, "-show_entries", "packet=pts_time,size")
    return [(p.get("pts_time"), p["size"]) for p in data["packets"]]


def _stream_md5(path: Path, sel: str) -> str:
    r = subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), "-map", f"0:{sel}",
                        "-c", "copy", "-f", "md5", "-"], capture_output=True, text=True, check=True)
    return r.stdout.strip()


def _pcm_md5(path: Path, sel: str) -> str:
    r = subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), "-map", f"0:{sel}",
                        "-f", "s16le", "-"], capture_output=True, check=True)
    return hashlib.md5(r.stdout).hexdigest()


def test_mux_keeps_everything(files, tmp_path):
    orig: MediaInfo = files["orig"]
    out = mux.mux(orig, files["track"], tmp_path / "Film.mkv", language="spa",
                title="Spanish (SyncDub)")
    assert out == tmp_path / "Film.mkv" and out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["Film.mkv"]      # no .part left
    # video: same packets (count, sizes, times)
    assert _packets(out, "v:0") == _packets(orig.path, "v:0")
    # every original audio stream bit-exact, packets and decoded PCM
    for n in range(len(orig.audio)):
        assert _stream_md5(out, f"a:{n}") == _stream_md5(orig.path, f"a:{n}")
        assert _pcm_md5(out, f"a:{n}") == _pcm_md5(orig.path, f"a:{n}")
    info = ffprobe(out, "-show_streams", "-show_chapters", "-show_format")
    kinds = [(s["codec_type"], s["codec_name"]) for s in info["streams"]]
    assert kinds == [("video", "h264"), ("audio", "aac"), ("audio", "aac"),
                     ("subtitle", "subrip"), ("audio", "ac3"), ("attachment", "ttf")]
    dub = info["streams"][4]
    assert dub["tags"]["language"] == "spa" and dub["tags"]["title"] == "Spanish (SyncDub)"
    assert dub["disposition"]["default"] == 0
    assert info["streams"][1]["disposition"]["default"] == 1
    assert info["streams"][2]["tags"].get("title") == "Commentary"
    assert [c["tags"]["title"] for c in info["chapters"]] == ["One", "Two"]
    assert info["format"]["tags"]["title"] == "Test Film"
    # the dub track is the rendered file's audio, unchanged
    assert _stream_md5(out, "a:2") == _stream_md5(files["track"].path, "a:0")


def test_mux_mp4_converts_mov_text_and_dub_default(files, tmp_path):
    orig: MediaInfo = files["orig_mp4"]
    out = mux.mux(orig, files["track"], tmp_path / "film.mkv", language="spa",
                title="Spanish (SyncDub)", dub_default=True)
    info = ffprobe(out, "-show_streams", "-show_chapters")
    subs = [s for s in info["streams"] if s["codec_type"] == "subtitle"]
    assert [s["codec_name"] for s in subs] == ["subrip"]
    audio = [s for s in info["streams"] if s["codec_type"] == "audio"]
    assert [a["disposition"]["default"] for a in audio] == [0, 0, 1]
    assert len(info["chapters"]) == 2
    _same_video_and_audio(orig.path, out)


def _same_video_and_audio(orig: Path, out: Path) -> None:
    """Video packets identical (sizes; times up to one constant: an MP4's AAC priming
    packet at pts < 0 makes the Matroska muxer move every stream, the dub included, by
    its length) and the original's audio packets bit-exact."""
    a, b = _packets(orig, "v:0"), _packets(out, "v:0")
    assert [x[1] for x in a] == [x[1] for x in b]
    shifts = {round(float(y[0]) - float(x[0]), 3) for x, y in zip(a, b)}
    assert len(shifts) == 1
    for n in range(2):
        assert _stream_md5(out, f"a:{n}") == _stream_md5(orig, f"a:{n}")


def test_precut_args():
    track = RenderedTrack(Path("/d.mkv"), "ac3", 2, -2.25, False, stream_index=3,
                          duration_s=60.0)
    assert mux.precut_args(track, Path("/o/.x.dub.part.mka")) == [
        "-y", "-t", "60.000000", "-itsoffset", "-2.250000", "-i", "/d.mkv", "-map", "0:3",
        "-c", "copy", "-ss", "0", "-f", "matroska", "/o/.x.dub.part.mka"]


@pytest.mark.parametrize("name", ["orig", "orig_mp4"])
def test_mux_negative_offset_copy(files, tmp_path, name):
    """A copied dub with a lead-in (negative delay): its head is dropped, its clicks land
    where the map says (+-2 ms, relative to the video), and the original's streams are
    untouched, also for an MP4 original whose AAC starts with a packet at pts < 0."""
    orig: MediaInfo = files[name]
    dub = write_audio(tmp_path / "lead.mka", click_signal(4.0, [0.3, 1.5, 3.0]), "ac3",
                      tmp_path)
    track = RenderedTrack(dub, "ac3", 2, -0.75, False, duration_s=3.5)
    out = mux.mux(orig, track, tmp_path / "neg.mkv", language="spa", title="t")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lead.mka", "neg.mkv"]
    _same_video_and_audio(orig.path, out)
    v0 = float(_packets(out, "v:0")[0][0]) - float(_packets(orig.path, "v:0")[0][0])
    got = find_clicks(decode(out, probe(out).audio[-1].index), 2)
    want = find_clicks(decode(dub), 3)[1:]
    for g, w in zip(got, want):
        assert abs(g - v0 - (w - 0.75)) < 0.002, (got, want, v0)
    pts = [float(p[0]) for p in _packets(out, "a:2")]
    assert min(pts) >= 0 and max(pts) < 3.5


def test_mux_progress(files, tmp_path):
    seen: list[float] = []
    mux.mux(files["orig"], files["track"], tmp_path / "p.mkv", language="spa", title="t",
          progress=seen.append)
    assert seen and max(seen) <= 1.0


def test_failed_mux_leaves_no_file(files, tmp_path):
    junk = tmp_path / "junk.mka"
    junk.write_text("not audio")
    track = RenderedTrack(junk, "ac3", 2, 0.0, True)
    out = tmp_path / "out" / "film.mkv"
    with pytest.raises(MediaError):
        mux.mux(files["orig"], track, out, language="spa", title="t")
    assert not out.exists() and list(out.parent.iterdir()) == []


def test_interrupted_mux_removes_temp(files, tmp_path, monkeypatch):
    out = tmp_path / "film.mkv"

    def interrupted(*stages, **kw):
        Path(stages[-1][-1]).write_bytes(b"half a file")
        raise KeyboardInterrupt

    monkeypatch.setattr(mux, "run_ffmpeg_pipe", interrupted)
    with pytest.raises(KeyboardInterrupt):
        mux.mux(files["orig"], files["track"], out, language="spa", title="t")
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------- several dub tracks

def test_mux_tracks_args_one_track_is_mux_args():
    track = RenderedTrack(Path("/d/dub.avi"), "mp3", 2, -1.5, False, stream_index=1,
                          duration_s=98.25)
    for piped in (False, True):
        assert mux.mux_tracks_args(
            ORIG, [mux.DubTrack(track, "fre", "French (SyncDub)")], Path("/o.mkv"),
            dub_default=True, piped=0 if piped else None) == mux.mux_args(
            ORIG, track, Path("/o.mkv"), language="fre", title="French (SyncDub)",
            dub_default=True, piped=piped)


def test_mux_tracks_args_two_tracks_in_order_one_piped():
    """Two dubs: inputs 1 and 2 in order (the second from stdin, shifted and cut), mapped
    after the original's audio, each tagged and titled; the negative delay adds `-ss 0`."""
    spa = RenderedTrack(Path("/w/dub0/dub_rendered.ac3.mka"), "ac3", 6, 0.032, True)
    fre = RenderedTrack(Path("/w/dub1/dub_rendered.aac.mka"), "aac", 2, -0.5, True,
                        duration_s=99.5)
    sub = mux.AddedSubtitle(Path("/w/dub1/subtitle0.srt"), "fre", "French (SyncDub)")
    orig = _info(_s(0, "video", "h264"), _s(1, "audio", "dts"), _s(2, "subtitle", "subrip"))
    assert mux.mux_tracks_args(orig, [mux.DubTrack(spa, "spa", "Spanish (SyncDub)"),
                                      mux.DubTrack(fre, "fre", "Doublage")],
                               Path("/o.mkv"), piped=1, subtitles=[sub]) == [
        "-y", "-thread_queue_size", "512", "-i", "/in/film.mp4",
        "-itsoffset", "0.032000", "-thread_queue_size", "512",
        "-i", "/w/dub0/dub_rendered.ac3.mka",
        "-t", "99.500000", "-itsoffset", "-0.500000", "-thread_queue_size", "512",
        "-f", "matroska", "-i", "pipe:0",
        "-i", "/w/dub1/subtitle0.srt",
        "-map", "0:0", "-map", "0:1", "-map", "0:2", "-map", "1:0", "-map", "2:0",
        "-map", "3:0",
        "-map_metadata", "0", "-map_chapters", "0", "-c", "copy",
        "-disposition:a:1", "0",
        "-metadata:s:a:1", "language=spa", "-metadata:s:a:1", "title=Spanish (SyncDub)",
        "-disposition:a:2", "0",
        "-metadata:s:a:2", "language=fre", "-metadata:s:a:2", "title=Doublage",
        "-disposition:s:1", "0",
        "-metadata:s:s:1", "language=fre", "-metadata:s:s:1", "title=French (SyncDub)",
        "-ss", "0", "-f", "matroska", "/o.mkv"]


def test_mux_tracks_args_dub_default_is_the_first_dub():
    a = RenderedTrack(Path("/a.mka"), "ac3", 2, 0.0, True)
    args = mux.mux_tracks_args(_info(_s(0, "video", "h264"), _s(1, "audio", "aac")),
                               [mux.DubTrack(a, "spa", "s"), mux.DubTrack(a, "fre", "f")],
                               Path("/o.mkv"), dub_default=True)
    assert " ".join(args).count("-disposition") == 3
    assert args[args.index("-disposition:a:0") + 1] == "0"
    assert args[args.index("-disposition:a:1") + 1] == "default"
    assert args[args.index("-disposition:a:2") + 1] == "0"


@pytest.mark.parametrize("name", ["orig", "orig_mp4"])
def test_mux_tracks_two_dubs_one_with_a_lead_in(files, tmp_path, name):
    """A re-encoded dub and a copied one with a lead-in (pre-cut for the MP4 original):
    both after the original's audio in order, tagged, the original untouched, the second
    one's clicks where its delay says, nothing else left in the folder."""
    orig: MediaInfo = files[name]
    dub = write_audio(tmp_path / "lead.mka", click_signal(4.0, [0.3, 1.5, 3.0]), "ac3",
                      tmp_path)
    lead = RenderedTrack(dub, "ac3", 2, -0.75, False, duration_s=3.5)
    out = mux.mux_tracks(orig, [mux.DubTrack(files["track"], "spa", "Spanish (SyncDub)"),
                                mux.DubTrack(lead, "fre", "French (SyncDub)")],
                         tmp_path / "two.mkv")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lead.mka", "two.mkv"]
    _same_video_and_audio(orig.path, out)
    audio = [s for s in ffprobe(out, "-show_streams")["streams"] if s["codec_type"] == "audio"]
    assert [(a["tags"].get("language"), a["tags"].get("title")) for a in audio[2:]] == [
        ("spa", "Spanish (SyncDub)"), ("fre", "French (SyncDub)")]
    assert _stream_md5(out, "a:2") == _stream_md5(files["track"].path, "a:0")
    v0 = float(_packets(out, "v:0")[0][0]) - float(_packets(orig.path, "v:0")[0][0])
    got = find_clicks(decode(out, probe(out).audio[-1].index), 2)
    want = find_clicks(decode(dub), 3)[1:]
    for g, w in zip(got, want):
        assert abs(g - v0 - (w - 0.75)) < 0.002, (got, want, v0)


def test_failed_mux_tracks_leaves_nothing(files, tmp_path):
    junk = tmp_path / "junk.mka"
    junk.write_text("not audio")
    out = tmp_path / "out" / "film.mkv"
    with pytest.raises(MediaError):
        mux.mux_tracks(files["orig"], [mux.DubTrack(files["track"], "spa", "s"),
                                       mux.DubTrack(RenderedTrack(junk, "ac3", 2, 0.0, True),
                                                    "fre", "f")], out)
    assert not out.exists() and list(out.parent.iterdir()) == []
