"""render: pure builders by equality; real renders measured by decoding (clicks +-2 ms)."""
from __future__ import annotations

import subprocess
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from app.services import render
from app.services.media import MediaInfo, StreamInfo, probe
from app.services.mux import mux
from app.services.timemap import Segment, TimeMap
from tests.helpers.clicks import SR, click_signal, decode, find_clicks, rms, write_audio
from tests.helpers.media import ffmpeg, ffprobe, make_original, streams

PAL = 1.0427


def _stream(codec="ac3", channels=2, layout="stereo", rate=48000, bit_rate=0, index=0):
    return StreamInfo(index=index, kind="audio", codec=codec, channels=channels,
                      channel_layout=layout, sample_rate=rate, bit_rate=bit_rate)


def _two_segment_map(speed: float = PAL) -> TimeMap:
    """dub [0.5, 3.0) -> orig 1.0; insert dub [3.0, 4.0); cut of 1 s; dub [4.0, 6.5)."""
    s1 = Segment(0.5, 3.0, 1.0, speed)
    s2 = Segment(4.0, 6.5, s1.orig_end + 1.0, speed)
    return TimeMap((s1, s2), orig_duration=round(s2.orig_end + 0.5, 3), dub_duration=7.0,
                   speed=speed)


# ---------------------------------------------------------------- pure

def test_speed_rates_exact_ratio():
    assert render.speed_rates(25 / (24000 / 1001), 48000) == (50050, 48000)
    assert render.speed_rates(25 / (24000 / 1001), 44100) == (44044, 42240)
    r1, r2 = render.speed_rates(PAL, 48000)
    assert Fraction(r1, r2) == Fraction(PAL).limit_denominator(2000)
    assert abs(r1 / r2 - PAL) < 1e-6 and abs(r1 - 48000) < 48000 * 0.05
    assert render.speed_rates(24 / 25, 44100)[0] / render.speed_rates(24 / 25, 44100)[1] == 24 / 25


def test_stretch_filter():
    assert render.stretch_filter(1.0, 48000) == ""
    # R2 == the output rate: no second resample
    assert render.stretch_filter(25025 / 24000, 48000) == "aresample=50050:resampler=soxr,asetrate=48000"
    assert render.stretch_filter(25025 / 24000, 44100) == (      # 44100 is no multiple of 960
        "aresample=44044:resampler=soxr,asetrate=42240,aresample=44100:resampler=soxr")
    assert render.stretch_filter(1.25, 48000, "atempo") == "atempo=0.800000000"
    assert render.stretch_filter(3.0, 48000, "atempo") == "atempo=0.5,atempo=0.666666667"
    with pytest.raises(ValueError):
        render.stretch_filter(1.1, 48000, "warp")


def test_plan_pieces_two_segments():
    tm = _two_segment_map(1.25)
    p = render.plan_pieces(tm, 1000, margin_s=0.01, shift=3)
    # segment 1: dub [0.49, 3.01) at 1.25 -> starts at 1.0 - 0.0125 = 0.9875 s -> 987.5 -> 988
    assert p[0] == render.Piece("dub", 490, 3010, 1.25, 988 - 3, 25, 25)
    s2 = tm.segments[1]
    assert p[1].start == 3990 and p[1].end == 6510
    assert p[1].pos == round((s2.orig_start - 0.0125) * 1000) - 3
    assert len(p) == 2
    q = render.plan_pieces(tm, 1000, gap_fill="original", margin_s=0.01)
    assert [(x.source, x.start, x.end, x.pos) for x in q[2:]] == [
        ("orig", 0, 1010, 0), ("orig", 4115, 5135, 4115), ("orig", 8240, 8750, 8240)]
    assert q[2].fade_in == 0 and q[2].fade_out == 20 and q[4].fade_out == 0
    with pytest.raises(ValueError):
        render.plan_pieces(tm, 1000, gap_fill="noise")


def test_plan_pieces_clips_margin_at_timeline_start():
    tm = TimeMap((Segment(2.0, 5.0, 0.0, 1.0),), orig_duration=3.0, dub_duration=5.0, speed=1.0)
    (p,) = render.plan_pieces(tm, 1000, shift=10)
    assert p == render.Piece("dub", 2000, 5000, 1.0, -10, 0, 0)


def test_piece_chain():
    p = render.Piece("dub", 100, 1100, 1.0, 500, 20, 20)
    assert render.piece_chain(p, 1000) == (
        "atrim=start_sample=100:end_sample=1100,asetpts=N/SR/TB,"
        "afade=t=in:ss=0:ns=20:curve=tri,afade=t=out:ss=980:ns=20:curve=tri,"
        "adelay=delays=500S:all=1")
    q = render.Piece("dub", 0, 1000, 1.25, -7, 0, 0)
    assert render.piece_chain(q, 48000) == (
        "atrim=start_sample=0:end_sample=1000,asetpts=N/SR/TB,"
        "aresample=60000:resampler=soxr,asetrate=48000,"
        "asetpts=N/SR/TB,atrim=start_sample=7,asetpts=N/SR/TB")


FMT = "aformat=sample_fmts=fltp:channel_layouts=stereo"
HEAD_2 = ("[0:1]aformat=sample_fmts=fltp:sample_rates=1000:channel_layouts=stereo,"
          "asetnsamples=n=16384:p=0,asplit=2[dub0][dub1]")


def _graph(pieces: list) -> str:
    return render.render_graph(pieces, dub_label="0:1", orig_label="1:2", sample_rate=1000,
                          layout="stereo", total=2600)


def test_render_graph_joins_pieces_in_timeline_order():
    pieces = [render.Piece("dub", 0, 1000, 1.0, 0, 0, 20), render.Piece("dub", 2000, 3000, 1.0, 1600, 20, 0),
              render.Piece("orig", 1000, 1500, 1.0, 990, 20, 20)]
    assert _graph(pieces) == ";".join([
        HEAD_2,
        "[dub0]atrim=start_sample=0:end_sample=1000,asetpts=N/SR/TB,"
        "afade=t=out:ss=980:ns=20:curve=tri,atrim=end_sample=1000,apad=whole_len=1000[p0]",
        "[dub1]atrim=start_sample=2000:end_sample=3000,asetpts=N/SR/TB,"
        "afade=t=in:ss=0:ns=20:curve=tri,atrim=end_sample=1000,apad=whole_len=1000[p1]",
        f"[1:2]aresample=1000:resampler=soxr,{FMT},asetnsamples=n=16384:p=0[orig0]",
        "[orig0]atrim=start_sample=1000:end_sample=1500,asetpts=N/SR/TB,"
        "afade=t=in:ss=0:ns=20:curve=tri,afade=t=out:ss=480:ns=20:curve=tri,"
        "atrim=end_sample=500,apad=whole_len=500[p2]",
        # dub [0, 1000) and the original from 990: 10 samples summed at the splice
        "[p0][p2]acrossfade=ns=10:o=1:c1=nofade:c2=nofade[j1]",
        # original ends at 1490, the next dub piece starts at 1600: 110 samples of silence
        "[j1]apad=pad_len=110,asetpts=N/SR/TB[g2];[g2][p1]concat=n=2:v=0:a=1[j2]",
        f"[j2]asetpts=N/SR/TB,apad=whole_len=2600,atrim=end_sample=2600,{FMT}[out]"])
    # a first piece that starts late is delayed; one before t = 0 loses its head
    late = render.render_graph([render.Piece("dub", 0, 100, 1.0, 50, 0, 0),
                           render.Piece("dub", 100, 200, 1.0, 150, 0, 0)],
                          dub_label="0:0", orig_label=None, sample_rate=1000, layout="mono",
                          total=300)
    assert "[p0]adelay=delays=50S:all=1[j0];[j0]asetpts=N/SR/TB[g1]" in late
    early = render.render_graph([render.Piece("dub", 0, 100, 1.0, -30, 0, 0),
                            render.Piece("dub", 100, 200, 1.0, 70, 0, 0)],
                           dub_label="0:0", orig_label=None, sample_rate=1000, layout="mono",
                           total=300)
    assert "atrim=start_sample=30,asetpts=N/SR/TB,atrim=end_sample=70,apad=whole_len=70[p0]" \
        in early and "[p0]asetpts=N/SR/TB[g1];[g1][p1]concat" in early


def test_render_graph_mixes_pieces_out_of_order():
    # the dub's later material placed first (a moved scene): mixed, never queued
    pieces = [render.Piece("dub", 2000, 3000, 1.0, 0, 0, 20), render.Piece("dub", 0, 1000, 1.0, 1000, 20, 0)]
    assert not render.joinable(pieces)
    assert _graph(pieces) == ";".join([
        HEAD_2,
        "[dub0]atrim=start_sample=2000:end_sample=3000,asetpts=N/SR/TB,"
        "afade=t=out:ss=980:ns=20:curve=tri[p0]",
        "[dub1]atrim=start_sample=0:end_sample=1000,asetpts=N/SR/TB,"
        "afade=t=in:ss=0:ns=20:curve=tri,adelay=delays=1000S:all=1[p1]",
        "[p0][p1]amix=inputs=2:duration=longest:dropout_transition=0:normalize=0,"
        f"apad=whole_len=2600,atrim=end_sample=2600,{FMT}[out]"])
    one = render.render_graph(pieces[:1], dub_label="0:0", orig_label=None, sample_rate=1000,
                         layout="5.1(side)", total=900)
    assert one.endswith("[p0]apad=whole_len=900,atrim=end_sample=900,"
                        "aformat=sample_fmts=fltp:channel_layouts=5.1(side)[out]")
    assert render.render_graph([], dub_label="0:0", orig_label=None, sample_rate=1000,
                          layout="mono", total=10) == (
        "anullsrc=r=1000:cl=mono,atrim=end_sample=10,"
        "aformat=sample_fmts=fltp:channel_layouts=mono[out]")


@pytest.mark.parametrize("gap_fill", ["silence", "original"])
def test_joined_graph_sounds_like_the_mix(tmp_path, gap_fill):
    """Joining end to end is an optimisation only: same samples as mixing every piece."""
    rng = np.random.default_rng(3)
    noise = (0.3 * rng.standard_normal((SR * 6, 2))).astype(np.float32)
    src = write_audio(tmp_path / "src.flac", noise, "flac", tmp_path)
    pieces = render.plan_pieces(_two_segment_map(), SR, gap_fill=gap_fill, shift=100)
    assert render.joinable(pieces)
    total = round(_two_segment_map().orig_duration * SR)
    outs = []
    for join in (True, False):
        g = render.render_graph(pieces, dub_label="0:0", orig_label="1:0", sample_rate=SR,
                           layout="stereo", total=total, join=join)
        assert ("amix" in g) != join
        r = subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-i", str(src), "-i", str(src),
                            "-filter_complex", g, "-map", "[out]", "-f", "f32le", "-"],
                           capture_output=True, check=True)
        outs.append(np.frombuffer(r.stdout, "<f4"))
    assert len(outs[0]) == len(outs[1]) == total * 2
    assert np.abs(outs[0]).max() > 0.1
    assert np.abs(outs[0] - outs[1]).max() < 1e-5


def test_joinable():
    a = render.Piece("dub", 0, 1000, 1.0, 0, 0, 20)
    assert render.joinable([a, render.Piece("dub", 1000, 2000, 1.0, 980, 20, 0)])     # crossfade
    assert render.joinable([a, render.Piece("dub", 1000, 2000, 1.0, 5000, 20, 0)])    # gap
    # overlapping by a whole piece, or three pieces at one instant: mixed instead
    assert not render.joinable([a, render.Piece("dub", 1000, 1010, 1.0, 990, 0, 0)])
    assert not render.joinable([a, render.Piece("dub", 1000, 1500, 1.0, 600, 0, 0),
                           render.Piece("dub", 1500, 2500, 1.0, 950, 0, 0)])


def test_choose_encoder_aac_uses_the_fast_coder():
    assert render.choose_encoder(_stream("aac", bit_rate=192000)) == (
        "aac", ["-c:a", "aac", "-b:a", "192000", "-aac_coder", "fast"])


def test_choose_encoder():
    assert render.choose_encoder(_stream("ac3", bit_rate=384000)) == (
        "ac3", ["-c:a", "ac3", "-b:a", "384000"])
    assert render.choose_encoder(_stream("ac3", 6, "5.1(side)")) == (
        "ac3", ["-c:a", "ac3", "-b:a", "576000"])
    assert render.choose_encoder(_stream("opus")) == ("opus", ["-c:a", "libopus", "-b:a", "128000"])
    assert render.choose_encoder(_stream("mp3", bit_rate=999000)) == (
        "mp3", ["-c:a", "libmp3lame", "-b:a", "320000"])
    assert render.choose_encoder(_stream("flac")) == ("flac", ["-c:a", "flac"])
    assert render.choose_encoder(_stream("dts", 6, "5.1(side)")) == ("flac", ["-c:a", "flac"])
    assert render.choose_encoder(_stream("truehd", 8, "7.1")) == ("flac", ["-c:a", "flac"])
    assert render.choose_encoder(_stream("ac3", rate=96000)) == ("flac", ["-c:a", "flac"])
    assert render.choose_encoder(_stream("mp3", 6, "5.1")) == ("flac", ["-c:a", "flac"])


def test_layout_name():
    assert render.layout_name(_stream(layout="5.1(side)", channels=6)) == "5.1(side)"
    assert render.layout_name(_stream(layout="", channels=2)) == "stereo"
    assert render.layout_name(_stream(layout="", channels=3)) == "3c"


def test_render_args():
    """The filter graph and the encoder are two processes joined by a pipe (float PCM in
    NUT keeps rate and layout), so they use both cores."""
    assert render.render_args(Path("/d.mkv"), Path("/o.mkv"), "G", ["-c:a", "flac"], 48000,
                         Path("/x/out.mka")) == (
        ["-y", "-i", "/d.mkv", "-i", "/o.mkv", "-filter_complex", "G", "-map", "[out]",
         "-c:a", "pcm_f32le", "-flush_packets", "0", "-f", "nut", "pipe:1"],
        ["-y", "-f", "nut", "-i", "pipe:0", "-c:a", "flac", "-ar", "48000",
         "-f", "matroska", "/x/out.mka"])
    assert render.render_args(Path("/d.mkv"), None, "G", [], 44100, Path("/o.mka"))[0][:4] == [
        "-y", "-i", "/d.mkv", "-filter_complex"]


def test_copy_placement():
    dub = MediaInfo(Path("d.mkv"), "matroska", 10.0, 0.0)
    tm = TimeMap((Segment(3.0, 10.0, 1.0, 1.0),), orig_duration=6.0, dub_duration=10.0, speed=1.0)
    assert render.copy_placement(dub, _stream(), tm) == (-2.0, 6.0)
    orig = MediaInfo(Path("o.mkv"), "matroska", 6.0, 0.5)
    late = StreamInfo(index=1, kind="audio", codec="aac", start_time=0.6)
    delay, end = render.copy_placement(dub, _stream(), tm, orig, late)
    assert delay == pytest.approx(-1.9) and end == pytest.approx(6.1)


# ---------------------------------------------------------------- real renders

@pytest.fixture(scope="module")
def media_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("render")


@pytest.fixture(scope="module")
def original(media_dir) -> MediaInfo:
    """A plain film (video + one AAC 1 kHz sine) 8 s long: long enough for every map here."""
    return probe(make_original(media_dir / "orig.mkv", 8.0, media_dir, with_extras=False))


def _dub(media_dir: Path, codec: str, clicks: list[float], seconds: float = 7.0,
         tone=(500.0, 0.1), channels: int = 2, name: str = "dub") -> MediaInfo:
    sig = click_signal(seconds, clicks, channels=channels, tone=tone)
    return probe(write_audio(media_dir / f"{name}.{codec}.mka", sig, codec, media_dir))


def _dub_clicks(dub: MediaInfo, n: int) -> list[float]:
    """Click times on the dub timeline as the analysis sees it (first decoded sample = 0)."""
    return find_clicks(decode(dub.path, scorer=False), n)


def _muxed_dub(original: MediaInfo, track: render.RenderedTrack, out: Path,
               source: list | None = None) -> np.ndarray:
    mux(original, track, out, language="spa", title="Spanish (SyncDub)", source=source)
    info = probe(out)
    return decode(out, info.audio[-1].index)


def test_two_segments_cut_insert_pal(media_dir, original, tmp_path):
    """Clicks land at their mapped original times (+-2 ms, measured ~0.03 ms); the insert's
    click is gone, the cut is silent, the level is unchanged and the pitch is lowered by
    the speed (PAL reversal)."""
    tm = _two_segment_map()
    dub = _dub(media_dir, "flac", [1.0, 2.5, 3.5, 4.5, 5.5])
    dc = _dub_clicks(dub, 5)
    track = render.render_dub(dub, dub.audio[0], tm, tmp_path)
    assert track.reencoded and track.codec == "flac" and track.channels == 2
    assert track.path.parent == tmp_path and track.path.suffix == ".mka"
    x = decode(track.path)
    assert abs(len(x) / SR - tm.orig_duration) < 0.002
    s1, s2 = tm.segments
    want = [s1.to_original(dc[0]), s1.to_original(dc[1]), s2.to_original(dc[3]),
            s2.to_original(dc[4])]
    got = find_clicks(x, 4)
    assert np.max(np.abs(np.array(got) - want)) < 0.002, (got, want)
    cut0, cut1 = tm.cuts[1]
    assert rms(x, cut0 + 0.03, cut1 - 0.03) < 1e-4            # the cut (and the insert) silent
    assert rms(x, 0.0, 0.98) < 1e-4                           # head before segment 1
    assert rms(x, 5.3, 6.0) == pytest.approx(0.1, rel=0.03)   # 0.1 = the dub's own level
    seg = x[round(2.0 * SR):round(2.0 * SR) + SR]             # 1 s inside segment 1
    peak_hz = np.argmax(np.abs(np.fft.rfft(seg)))
    assert abs(peak_hz - 500 / PAL) <= 1


def test_atempo_mode_keeps_timing(media_dir, original, tmp_path):
    tm = _two_segment_map()
    dub = _dub(media_dir, "flac", [1.0, 2.5, 3.5, 4.5, 5.5])
    dc = _dub_clicks(dub, 5)
    track = render.render_dub(dub, dub.audio[0], tm, tmp_path, stretch="atempo")
    got = find_clicks(decode(track.path), 4)
    s1, s2 = tm.segments
    want = [s1.to_original(dc[0]), s1.to_original(dc[1]), s2.to_original(dc[3]),
            s2.to_original(dc[4])]
    assert np.max(np.abs(np.array(got) - want)) < 0.010, (got, want)   # WSOLA moves transients a few ms


def test_gap_fill_original(media_dir, original, tmp_path):
    """Gaps carry the original's 1 kHz sine at its own level; segments carry only the dub."""
    tm = _two_segment_map()
    dub = _dub(media_dir, "flac", [1.0, 2.5, 3.5, 4.5, 5.5], tone=None)
    track = render.render_dub(dub, dub.audio[0], tm, tmp_path, gap_fill="original",
                         original=original, orig_stream=original.audio[0])
    x = decode(track.path)
    o = decode(original.path, original.audio[0].index, scorer=False)
    cut0, cut1 = tm.cuts[1]
    level = rms(o, cut0, cut1)
    assert level > 0.05
    assert rms(x, cut0 + 0.03, cut1 - 0.03) == pytest.approx(level, rel=0.02)
    assert rms(x, 0.05, 0.95) == pytest.approx(level, rel=0.02)          # head gap
    assert rms(x, 1.6, 2.4) < 1e-3                                       # inside segment 1
    # the original fills in phase: the residual against the original is tiny
    a, b = round((cut0 + 0.05) * SR), round((cut1 - 0.05) * SR)
    assert rms(x[a:b] - o[a:b], 0, (b - a) / SR) < 0.05 * level


@pytest.mark.parametrize("streamed", [False, True], ids=["file", "streamed"])
@pytest.mark.parametrize("codec", ["ac3", "aac", "eac3", "flac", "opus", "mp3"])
def test_encoder_delay_compensated(media_dir, original, tmp_path, codec, streamed):
    """An impulse mapped to 1.000 s comes out at 1.000 +- 1 ms after render + mux + decode
    (decoded like the corpus scorer: timestamps honoured), whether the render writes a
    file that the mux reads or is streamed into the mux; the original's streams keep
    their packets and timestamps either way."""
    dub = _dub(media_dir, codec, [1.3], seconds=3.0, tone=None, name="one")
    (dc,) = _dub_clicks(dub, 1)
    # two segments force a re-encode; the second holds no click
    tm = TimeMap((Segment(0.1, 2.0, 1.000 - (dc - 0.1), 1.0), Segment(2.0, 3.0, 2.5, 1.0)),
                 orig_duration=4.0, dub_duration=3.0, speed=1.0)
    out = tmp_path / "out.mkv"
    if streamed:
        plan = render.plan_render(dub, dub.audio[0], tm, tmp_path)
        track = plan.track
        x = _muxed_dub(original, track, out, source=plan.stages(to_pipe=True))
        assert not track.path.exists()                  # no intermediate file
    else:
        track = render.render_dub(dub, dub.audio[0], tm, tmp_path)
        x = _muxed_dub(original, track, out)
    assert track.codec == codec and track.reencoded
    (got,) = find_clicks(x, 1)
    assert abs(got - 1.000) < 0.001, f"{codec}: {got:.5f}"
    assert abs(len(x) / SR - 4.0) < 0.05
    for sel in ("v:0", "a:0"):
        packets = [ffprobe(f, "-select_streams", sel, "-show_entries", "packet=pts,size")
                   ["packets"] for f in (original.path, out)]
        assert packets[0] == packets[1]


@pytest.mark.parametrize("codec,offset", [("ac3", 0.750), ("ac3", -1.234), ("aac", -0.5),
                                          ("aac", 0.3)])
def test_single_shift_copies_packets(media_dir, original, tmp_path, codec, offset):
    """One segment at speed 1: the dub's packets are copied, shifted by the offset; with a
    negative offset (a logo lead-in) the head is dropped and the video still starts where
    the original's does."""
    dub = _dub(media_dir, codec, [1.5, 3.0, 5.0], seconds=6.0, name="shift")
    dc = _dub_clicks(dub, 3)
    start = max(0.0, -offset)
    tm = TimeMap((Segment(start, 6.0, start + offset, 1.0),), orig_duration=8.0,
                 dub_duration=6.0, speed=1.0)
    track = render.render_dub(dub, dub.audio[0], tm, tmp_path)
    assert not track.reencoded and track.path == dub.path and track.delay_s == pytest.approx(offset)
    out = tmp_path / "out.mkv"
    x = _muxed_dub(original, track, out)
    kept = [c for c in dc if c + offset > 0.05]
    got = find_clicks(x, len(kept))
    assert np.max(np.abs(np.array(got) - np.array(kept) - offset)) < 0.002, (got, kept)
    v_in = ffprobe(original.path, "-select_streams", "v:0", "-show_entries", "stream=start_time")
    v_out = ffprobe(out, "-select_streams", "v:0", "-show_entries", "stream=start_time")
    assert v_out["streams"][0]["start_time"] == v_in["streams"][0]["start_time"]
    a = ffprobe(out, "-select_streams", "a:1", "-show_entries", "packet=pts_time")
    assert min(float(p["pts_time"]) for p in a["packets"]) >= 0.0
    assert ffprobe(out, "-show_entries", "format=start_time")["format"]["start_time"] == \
        ffprobe(original.path, "-show_entries", "format=start_time")["format"]["start_time"]


def test_single_shift_with_audible_lead_in_reencodes(media_dir, tmp_path):
    dub = _dub(media_dir, "flac", [1.0], seconds=3.0, name="lead")
    tm = TimeMap((Segment(1.0, 3.0, 2.0, 1.0),), orig_duration=4.0, dub_duration=3.0, speed=1.0)
    track = render.render_dub(dub, dub.audio[0], tm, tmp_path)
    assert track.reencoded                   # the dub's first second would play at orig 1.0
    x = decode(track.path)
    assert rms(x, 0.0, 1.95) < 1e-4


def test_render_failure_leaves_nothing(media_dir, tmp_path):
    dub = _dub(media_dir, "flac", [1.0], seconds=3.0, name="fail")
    bad = MediaInfo(tmp_path / "missing.mkv", dub.format_name, dub.duration, 0.0, dub.streams)
    tm = _two_segment_map()
    with pytest.raises(render.MediaError):
        render.render_dub(bad, dub.audio[0], tm, tmp_path / "out")
    assert list((tmp_path / "out").iterdir()) == []


def _streaminfo(path: Path, tmp: Path) -> tuple[int, str]:
    """(total samples, MD5 hex) from the FLAC header of a file's dub track."""
    flac = tmp / "dub.flac"
    ffmpeg("-i", str(path), "-map", "0:a:1", "-c", "copy", str(flac))
    si = flac.read_bytes()[8:42]
    return ((si[13] & 0x0F) << 32) | int.from_bytes(si[14:18], "big"), si[18:34].hex()


def test_flac_is_written_whole_before_the_mux(media_dir, original, tmp_path):
    """FLAC's header (length, MD5) is completed at the end of a seekable file: streamed
    into the mux it would stay blank, so FLAC renders go to a file first."""
    tm = _two_segment_map()
    assert not render.plan_render(_dub(media_dir, "flac", [1.0]), _stream("flac"), tm,
                             tmp_path).streamable
    assert render.plan_render(_dub(media_dir, "ac3", [1.0]), _stream("ac3"), tm, tmp_path).streamable
    dub = _dub(media_dir, "flac", [1.0])
    track = render.run_plan(render.plan_render(dub, dub.audio[0], tm, tmp_path), tm.orig_duration)
    mux(original, track, tmp_path / "out.mkv", language="spa", title="t")
    total, md5 = _streaminfo(tmp_path / "out.mkv", tmp_path)
    assert total == round(tm.orig_duration * SR) and md5 != "0" * 32


def test_streamed_render_failure_leaves_nothing(media_dir, original, tmp_path):
    """A render that dies while streamed into the mux fails the mux: no output file and
    no temporary file (the mux must not finish a film with a short dub track)."""
    dub = _dub(media_dir, "flac", [1.0], seconds=3.0, name="sfail")
    bad = MediaInfo(tmp_path / "gone.mka", dub.format_name, dub.duration, 0.0, dub.streams)
    plan = render.plan_render(bad, dub.audio[0], _two_segment_map(), tmp_path / "work")
    out = tmp_path / "film.mkv"
    with pytest.raises(render.MediaError, match="exit"):
        mux(original, plan.track, out, language="spa", title="t",
            source=plan.stages(to_pipe=True))
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_progress_reported(media_dir, tmp_path):
    dub = _dub(media_dir, "flac", [1.0, 2.5, 3.5, 4.5, 5.5])
    seen: list[float] = []
    render.render_dub(dub, dub.audio[0], _two_segment_map(), tmp_path, progress=seen.append)
    assert seen and all(0 <= f <= 1 for f in seen) and seen == sorted(seen)


def test_pipe_fails_when_the_producer_fails(tmp_path):
    """A filter process that dies must fail the render, not leave a short encode."""
    from app.errors import MediaError
    from app.services.media import run_ffmpeg_pipe
    out = tmp_path / "o.mka"
    with pytest.raises(MediaError, match="exit"):
        run_ffmpeg_pipe(["-y", "-i", str(tmp_path / "missing.wav"), "-c:a", "pcm_f32le",
                         "-f", "nut", "pipe:1"],
                        ["-y", "-f", "nut", "-i", "pipe:0", "-c:a", "flac", "-f", "matroska",
                         str(out)])


def test_pipe_joins_filter_and_encoder(tmp_path):
    from app.services.media import run_ffmpeg_pipe
    out = tmp_path / "o.mka"
    run_ffmpeg_pipe(["-f", "lavfi", "-i", "sine=f=440:d=3:r=48000", "-af",
                     "aformat=channel_layouts=5.1(side)", "-c:a", "pcm_f32le", "-f", "nut",
                     "pipe:1"],
                    ["-y", "-f", "nut", "-i", "pipe:0", "-c:a", "ac3", "-b:a", "384k",
                     "-f", "matroska", str(out)])
    s = streams(out)[0]
    assert s["codec_name"] == "ac3" and s["channel_layout"] == "5.1(side)"
