"""Engine: ffmpeg/ffprobe argv builders and probe parsing, by equality (no ffmpeg run)."""
from __future__ import annotations

from pathlib import Path

import pytest

from app.errors import InputError
from app.services import media
from app.services.media import StreamInfo


def _audio(index=1, channels=2, layout="stereo", codec="aac", **kw) -> StreamInfo:
    return StreamInfo(index=index, kind="audio", codec=codec, channels=channels,
                      channel_layout=layout, sample_rate=48000, **kw)


TAIL = ["-ac", "1", "-ar", "16000", "-flush_packets", "0", "-f", "f32le", "pipe:1"]


def test_extract_args_stereo():
    p = Path("/films/The Film (1999).mkv")
    assert media.extract_args(p, _audio(index=1)) == [
        "-i", "/films/The Film (1999).mkv", "-map", "0:1", "-vn", "-sn", "-dn",
        "-af", "pan=mono|c0=c0+c1,aresample=16000:resampler=soxr", *TAIL]


def test_extract_args_stereo_bed_only_keeps_both_channels():
    assert media.extract_args(Path("/m/a.mkv"), _audio(index=2), bed_only=True) == [
        "-i", "/m/a.mkv", "-map", "0:2", "-vn", "-sn", "-dn",
        "-af", "pan=mono|c0=c0+c1,aresample=16000:resampler=soxr", *TAIL]


def test_extract_args_snippet_seeks_before_the_input():
    assert media.extract_args(Path("/m/a.mkv"), _audio(index=1), start=61.5,
                              duration=7.25) == [
        "-ss", "61.500000", "-t", "7.250000", "-i", "/m/a.mkv", "-map", "0:1", "-vn", "-sn",
        "-dn", "-af", "pan=mono|c0=c0+c1,aresample=16000:resampler=soxr", *TAIL]


def test_extract_args_51_bed_only_drops_the_centre():
    s = _audio(index=3, channels=6, layout="5.1(side)", codec="ac3")
    assert media.extract_args(Path("/m/o.mkv"), s, bed_only=True) == [
        "-i", "/m/o.mkv", "-map", "0:3", "-vn", "-sn", "-dn",
        "-af", "pan=mono|c0=FL+FR+LFE+SL+SR,aresample=16000:resampler=soxr", *TAIL]
    assert "FC" not in media.extract_args(Path("o.mkv"), s, bed_only=True)[8]


def test_extract_args_51_full_mix_and_other_rate():
    s = _audio(index=1, channels=6, layout="5.1", codec="eac3")
    assert media.extract_args(Path("/m/d.mka"), s, bed_only=False, rate=8000) == [
        "-i", "/m/d.mka", "-map", "0:1", "-vn", "-sn", "-dn",
        "-af", "pan=mono|c0=c0+c1+c2+c3+c4+c5,aresample=8000:resampler=soxr",
        "-ac", "1", "-ar", "8000", "-flush_packets", "0", "-f", "f32le", "pipe:1"]


@pytest.mark.parametrize("name", ["-x.mkv", "a:b.mkv", "pipe:1", "-"])
def test_paths_reach_ffmpeg_as_absolute_paths(name, tmp_path, monkeypatch):
    """A relative name that looks like an option (`-x.mkv`) or a protocol (`a:b.mkv`)
    reaches ffmpeg as an absolute path, which it takes for a plain file."""
    monkeypatch.chdir(tmp_path)
    want = str(tmp_path / name)
    assert media.ff_path(Path(name)) == want and media.ff_path(name) == want
    args = media.extract_args(Path(name), _audio())
    assert args[args.index("-i") + 1] == want


@pytest.mark.parametrize("channels,layout,bed_only,want", [
    (1, "mono", False, "pan=mono|c0=c0"),
    (1, "mono", True, "pan=mono|c0=c0"),
    (2, "stereo", False, "pan=mono|c0=c0+c1"),
    (2, "stereo", True, "pan=mono|c0=c0+c1"),
    (0, "", False, "pan=mono|c0=c0"),                          # unknown: first channel
    (6, "5.1", True, "pan=mono|c0=FL+FR+LFE+BL+BR"),
    (6, "5.1(side)", True, "pan=mono|c0=FL+FR+LFE+SL+SR"),
    (6, "", True, "pan=mono|c0=c0+c1+c3+c4+c5"),               # no layout: c2 is the centre
    (6, "5.1", False, "pan=mono|c0=c0+c1+c2+c3+c4+c5"),
    (8, "7.1", True, "pan=mono|c0=FL+FR+LFE+BL+BR+SL+SR"),
    (8, "7.1", False, "pan=mono|c0=c0+c1+c2+c3+c4+c5+c6+c7"),
])
def test_downmix_filter(channels, layout, bed_only, want):
    assert media.downmix_filter(_audio(channels=channels, layout=layout), bed_only) == want


# ------------------------------------------------------------------ parse_probe

PROBE = {
    "streams": [
        {"index": 0, "codec_name": "h264", "codec_type": "video", "width": 1920,
         "height": 1080, "r_frame_rate": "24000/1001", "avg_frame_rate": "24000/1001",
         "start_time": "0.000000", "duration": "5400.021000",
         "disposition": {"default": 1}, "tags": {"language": "eng"}},
        {"index": 1, "codec_name": "ac3", "codec_type": "audio", "sample_rate": "48000",
         "channels": 6, "channel_layout": "5.1(side)", "bit_rate": "448000",
         "start_time": "0.012000", "disposition": {"default": 0},
         "tags": {"language": "eng", "title": "Surround 5.1"}},
        {"index": 2, "codec_name": "aac", "codec_type": "audio", "sample_rate": "44100",
         "channels": 2, "channel_layout": "stereo", "disposition": {"default": 1},
         "tags": {"LANGUAGE": "spa", "TITLE": "Castellano"}},
        {"index": 3, "codec_name": "subrip", "codec_type": "subtitle",
         "tags": {"language": "fre"}},
        {"index": 4, "codec_name": "mjpeg", "codec_type": "video",
         "r_frame_rate": "90000/1", "avg_frame_rate": "0/0",
         "disposition": {"attached_pic": 1}},
    ],
    "format": {"format_name": "matroska,webm", "duration": "5400.100000",
               "start_time": "0.000000"},
}


def test_parse_probe_canned_json():
    info = media.parse_probe(Path("film.mkv"), PROBE)
    assert info.path == Path("film.mkv")
    assert info.format_name == "matroska,webm"
    assert info.duration == 5400.1 and info.start_time == 0.0
    assert [s.kind for s in info.streams] == ["video", "audio", "audio", "subtitle", "video"]
    assert [s.kind_index for s in info.streams] == [0, 0, 1, 0, 1]
    v = info.video
    assert v is not None and v.index == 0 and v.codec == "h264"
    assert v.fps == pytest.approx(24000 / 1001)
    assert v.duration == pytest.approx(5400.021)
    a1, a2 = info.audio
    assert (a1.index, a1.codec, a1.channels, a1.channel_layout, a1.sample_rate, a1.bit_rate) == \
        (1, "ac3", 6, "5.1(side)", 48000, 448000)
    assert (a1.language, a1.title, a1.start_time, a1.default) == \
        ("eng", "Surround 5.1", 0.012, False)
    assert (a2.language, a2.title, a2.sample_rate, a2.default, a2.bit_rate) == \
        ("spa", "Castellano", 44100, True, 0)              # tag keys are case-insensitive
    assert a1.fps == 0.0
    sub = info.of_kind("subtitle")[0]
    assert (sub.index, sub.codec, sub.language) == (3, "subrip", "fre")
    assert info.streams[4].fps == 0.0                 # 90000/1 is a cover-art clock, not a rate
    # the default audio stream wins when no track is asked for; N counts audio streams
    assert info.audio_stream(None, "original").index == 2
    assert info.audio_stream(0, "original").index == 1
    with pytest.raises(InputError, match="audio track 2 does not exist"):
        info.audio_stream(2, "original")


def test_parse_probe_cover_art_is_not_the_video():
    data = {"streams": [PROBE["streams"][4], PROBE["streams"][2]], "format": {}}
    info = media.parse_probe(Path("a.mka"), data)
    assert info.video is None
    assert info.duration == 0.0 and info.format_name == ""


def test_parse_probe_no_audio_says_so():
    data = {"streams": [PROBE["streams"][0]], "format": {"duration": "10"}}
    info = media.parse_probe(Path("silent.mp4"), data)
    assert info.audio == []
    with pytest.raises(InputError, match="silent.mp4.*no audio stream"):
        info.audio_stream(None, "dubbed")


def test_parse_probe_tolerates_missing_and_odd_fields():
    data = {"streams": [{"codec_type": "audio", "sample_rate": "N/A", "channels": None,
                         "r_frame_rate": "0/0"},
                        {"codec_type": "video", "avg_frame_rate": "0/0",
                         "r_frame_rate": "25/1"}]}
    info = media.parse_probe(Path("x"), data)
    a, v = info.streams
    assert (a.index, a.codec, a.channels, a.sample_rate, a.language) == (0, "unknown", 0, 0, "")
    assert v.index == 1 and v.fps == 25.0
    assert info.duration == 0.0
