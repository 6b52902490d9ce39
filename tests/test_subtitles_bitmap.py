"""Picture subtitle streams (PGS, VobSub, DVB) re-timed through their packets
(app/services/subtitle_bitmaps.py, issue 12 §3): the plan (pure) on hand-made display sets, the
ffmpeg argv and -bsf chain by equality, then real streams: a PGS stream written here
byte by byte (ffmpeg 5.1 has no PGS encoder; it reads .sup and copies PGS), and VobSub
and DVB streams ffmpeg encodes from it, each re-timed through a PAL map with a cut and
an insert, its packets probed and its pictures decoded back.

Expected original times come from the segment formula with the constants below.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from app.services import media, subtitle_bitmaps, subtitles
from app.services.subtitle_bitmaps import (BitmapPlan, DisplaySet, KeptSet, bitmap_bsf,
                                           plan_bitmap)
from app.services.subtitles import RetimeResult
from app.services.timemap import Segment, TimeMap
from tests.helpers.media import ffmpeg, ffprobe
from tests.helpers.pgs import write_sup

PAL = 25 / 23.976
# A: dub [0.5, 20) s -> original from 2.0 s; insert dub [20, 25); B: dub [25, 50) ->
# original from 25.0 s. A ends on the original at 2 + 19.5 * PAL = 22.33 s: a cut to 25.
A_DUB, A_END, A_ORIG, B_DUB, B_ORIG = 500, 20000, 2000, 25000, 25000
TMAP = TimeMap((Segment(0.5, 20.0, 2.0, PAL), Segment(25.0, 50.0, 25.0, PAL)),
               orig_duration=60.0, dub_duration=50.0, speed=PAL)
TOLERANCE_MS = 42


def on_a(ms: float) -> float:
    return A_ORIG + (ms - A_DUB) * PAL


def on_b(ms: float) -> float:
    return B_ORIG + (ms - B_DUB) * PAL


# --------------------------------------------------------------------------- the plan
def test_plan_pgs_pictures_and_clears():
    sets = [DisplaySet(1000), DisplaySet(2500, empty=True),        # in A
            DisplaySet(19000), DisplaySet(21500, empty=True),      # over A's end
            DisplaySet(22000), DisplaySet(23000, empty=True),      # in the insert
            DisplaySet(24000), DisplaySet(27000, empty=True)]      # over B's start
    plan = plan_bitmap(sets, TMAP)
    assert [(k.dub_pts, k.pts) for k in plan.kept] == [
        (1000, round(on_a(1000))), (2500, round(on_a(2500))),
        (19000, round(on_a(19000))), (21500, round(on_a(A_END))),  # clear -> A's end
        (24000, B_ORIG), (27000, round(on_b(27000)))]              # -> B's start
    assert plan.dropped == (22000, 23000)
    assert plan.result.counts() == {"kept": 6, "moved": 3, "clipped": 2, "dropped": 1}
    assert plan.overstays == 0


def test_plan_picture_ended_by_a_dropped_picture_overstays():
    # 19 s shows until 21.5 s, which shows (no clear) in the insert until its clear
    sets = [DisplaySet(19000), DisplaySet(21500), DisplaySet(23000, empty=True),
            DisplaySet(30000), DisplaySet(31000, empty=True)]
    plan = plan_bitmap(sets, TMAP)
    assert [k.dub_pts for k in plan.kept] == [19000, 23000, 30000, 31000]
    # the insert's clear ends the 19 s picture at A's end on the original
    assert plan.kept[1].pts == round(on_a(A_END)) and plan.overstays == 0
    # no clear: the insert's picture (1 s long) is dropped, the 19 s one overstays
    plan = plan_bitmap([sets[0], DisplaySet(21500, 1000)] + sets[3:], TMAP)
    assert [k.dub_pts for k in plan.kept] == [19000, 30000, 31000]
    assert plan.overstays == 1


def test_plan_vobsub_durations_scaled_and_clipped():
    sets = [DisplaySet(1000, 1500), DisplaySet(19000, 2500), DisplaySet(22000, 1000)]
    plan = plan_bitmap(sets, TMAP)
    assert plan.kept == (
        KeptSet(1000, round(on_a(1000)), round(on_a(2500)) - round(on_a(1000))),
        KeptSet(19000, round(on_a(19000)), round(on_a(A_END)) - round(on_a(19000))))
    assert plan.dropped == (22000,) and plan.overstays == 0     # each ends by itself


def test_plan_lead_in_and_before_zero():
    tm = TimeMap((Segment(1.0, 10.0, -0.5, 1.0),), 20.0, 10.0, 1.0)
    plan = plan_bitmap([DisplaySet(200, 500), DisplaySet(1000, 200), DisplaySet(1300, 900),
                        DisplaySet(4000, 500)], tm)
    assert plan.dropped == (200, 1000)                   # lead-in; wholly before 0
    assert plan.kept == (KeptSet(1300, 0, 700), KeptSet(4000, 2500, 500))


def test_bitmap_bsf_lines_and_values():
    plan = plan_bitmap([DisplaySet(1000), DisplaySet(2500, empty=True),
                        DisplaySet(19000), DisplaySet(21500, empty=True),
                        DisplaySet(22000), DisplaySet(23000, empty=True),
                        DisplaySet(30000), DisplaySet(31000, empty=True)], TMAP)
    # the 22 s picture is in the insert; the clear after it (no picture up) goes by its
    # own time, [23, 30) s mostly in B: to B's start
    assert [(k.dub_pts, k.pts) for k in plan.kept][3:5] == [(21500, 22333), (23000, 25000)]
    a = f"2000+(PTS-500)*{PAL!r}"
    b = f"25000+(PTS-25000)*{PAL!r}"
    ts = f"if(lt(PTS,23000),if(lt(PTS,21500),{a},22333),if(lt(PTS,30000),25000,{b}))"
    assert bitmap_bsf(plan, TMAP, {}) == (
        "noise=amount=0:drop='between(pts\\,22000\\,22000)',"
        "setts=ts='" + ts.replace(",", "\\,") + "':duration='DURATION'")


def test_bitmap_bsf_durations_and_nothing_dropped():
    tm = TimeMap((Segment(0.0, 10.0, 0.0, 1.0),), 10.0, 10.0, 1.0)
    plan = BitmapPlan((KeptSet(1000, 1000, 500), KeptSet(9000, 9000, 800)), (),
                      RetimeResult())
    assert bitmap_bsf(plan, tm, {1000: 500, 9000: 1000}) == (
        "setts=ts='0+(PTS-0)*1':duration='if(lt(PTS\\,9000)\\,DURATION*1\\,800)'")
    assert bitmap_bsf(BitmapPlan((), (5,), RetimeResult()), tm, {}) == \
        "noise=amount=0:drop='between(pts\\,5\\,5)'"


def test_argvs():
    dub, w = Path("/in/dub.mkv"), Path("/w")
    assert subtitle_bitmaps.bitmap_extract_args(dub, 3, w / "s.mks", "hdmv_pgs_subtitle") == [
        "-y", "-i", "/in/dub.mkv", "-map", "0:3", "-c:s", "copy", "-bsf:s",
        "pgs_frame_merge", "-f", "matroska", "/w/s.mks"]
    assert subtitle_bitmaps.bitmap_extract_args(dub, 4, w / "s.mks", "dvd_subtitle") == [
        "-y", "-i", "/in/dub.mkv", "-map", "0:4", "-c:s", "copy", "-f", "matroska",
        "/w/s.mks"]
    assert subtitle_bitmaps.bitmap_retime_args(w / "s.mks", w / "o.mks", "null") == [
        "-y", "-copyts", "-i", "/w/s.mks", "-f", "lavfi", "-t", "0.001", "-i",
        "anullsrc=r=8000:cl=mono", "-map", "0:0", "-map", "1:0", "-c:s", "copy",
        "-bsf:s", "null", "-c:a", "pcm_s16le", "-f", "matroska", "/w/o.mks"]
    assert subtitle_bitmaps.bitmap_probe_args(w / "s.mks") == [
        "-select_streams", "0", "-show_entries",
        "stream=codec_name,time_base:packet=pts,duration", "/w/s.mks"]
    assert subtitle_bitmaps.bitmap_probe_args(w / "s.mks", frames=True) == [
        "-select_streams", "0", "-show_frames", "/w/s.mks"]


def test_parse_display_sets():
    packets = {"streams": [{"codec_name": "hdmv_pgs_subtitle", "time_base": "1/90000"}],
               "packets": [{"pts": 90000}, {"pts": 90000}, {"pts": 225000, "duration": 0},
                           {"pts": 450000, "duration": 9000}]}
    frames = {"frames": [{"media_type": "subtitle", "pts": 1000000, "num_rects": 1},
                         {"media_type": "subtitle", "pts": 2500000, "num_rects": 0}]}
    assert subtitle_bitmaps.parse_display_sets(packets, frames) == [
        DisplaySet(1000), DisplaySet(2500, empty=True), DisplaySet(5000, 100)]


@pytest.mark.parametrize("codec, retimed", [("hdmv_pgs_subtitle", True),
                                            ("dvd_subtitle", True), ("dvb_subtitle", True),
                                            ("xsub", False)])
def test_picture_streams_are_retimed_but_xsub(codec, retimed):
    s = media.StreamInfo(index=2, kind="subtitle", codec=codec)
    e = subtitles.embedded_subtitle(Path("/in/dub.mkv"), s)
    assert e.is_bitmap and (e.skip is None) == retimed
    if not retimed:
        assert e.skip == subtitles.BITMAP_SKIP_REASON


# --------------------------------------------------------------------------- real streams
CUES = [(1000, 2500), (5000, 6000), (19000, 21500), (22000, 23000), (24000, 27000),
        (30000, 31000), (41000, 42000)]
IN_INSERT = (22000, 23000)


def want(start: int, end: int) -> tuple[float, float]:
    """Where the picture (start, end) of CUES goes on the original (ms)."""
    if start == 19000:
        return on_a(start), on_a(A_END)              # clipped at A's end
    if start == 24000:
        return B_ORIG, on_b(end)                     # moved to B's start
    return (on_a(start), on_a(end)) if start < A_END else (on_b(start), on_b(end))


@pytest.fixture(scope="module")
def dubs(tmp_path_factory) -> dict[str, Path]:
    """Dubs (50 s of silence + one picture subtitle stream holding CUES) by codec."""
    d = tmp_path_factory.mktemp("bitmap")
    sup = write_sup(d / "cues.sup", CUES)
    silence = ["-f", "lavfi", "-i", "anullsrc=r=48000:cl=mono:d=50"]
    out = {"hdmv_pgs_subtitle": d / "pgs.mkv"}
    ffmpeg("-copyts", *silence, "-i", sup, "-map", "0", "-map", "1", "-c:a", "flac",
           "-c:s", "copy", "-bsf:s", "pgs_frame_merge", out["hdmv_pgs_subtitle"])
    for codec, enc in (("dvd_subtitle", "dvdsub"), ("dvb_subtitle", "dvbsub")):
        out[codec] = d / f"{enc}.mkv"
        ffmpeg("-copyts", *silence, "-fix_sub_duration", "-i", out["hdmv_pgs_subtitle"],
               "-map", "0", "-map", "1:s", "-c:a", "flac", "-c:s", enc, out[codec])
    return out


def _frames(path: Path) -> list[tuple[int, int]]:
    """(pts ms, pictures) of each subtitle decoded from `path`: decoding it is the test
    that the stream is still readable."""
    return [(round(f["pts"] / 1000), f["num_rects"])
            for f in ffprobe(path, "-select_streams", "s", "-show_frames")["frames"]]


@pytest.mark.parametrize("codec", ["hdmv_pgs_subtitle", "dvd_subtitle", "dvb_subtitle"])
def test_real_stream_retimed_through_pal_map_with_cut_and_insert(dubs, tmp_path, codec):
    dub = dubs[codec]
    (emb,) = subtitles.embedded_subtitles(media.probe(dub))
    assert emb.stream.codec == codec
    out, res = subtitle_bitmaps.retime_bitmap(emb, TMAP, tmp_path, "sub0")
    assert out == tmp_path / "sub0.mks" and not (tmp_path / "sub0.dub.mks").exists()
    assert (res.moved, res.dropped, res.clipped) == (6, 1, 2)
    st, anchor = ffprobe(out, "-show_entries",
                         "stream=codec_name,extradata_size,start_time")["streams"]
    assert st["codec_name"] == codec and anchor["start_time"] == "0.000000"
    if codec == "dvd_subtitle":                     # its palette (extradata) came along
        assert st["extradata_size"] > 0
    frames = _frames(out)
    pictures = [t for t, n in frames if n > 0]
    expected = [want(a, b) for a, b in CUES if (a, b) != IN_INSERT]
    assert len(pictures) == len(expected)           # the insert's picture is gone
    errors = [abs(t - w[0]) for t, w in zip(pictures, expected)]
    assert max(errors) <= TOLERANCE_MS, (pictures, expected)
    if codec == "dvd_subtitle":                     # no clears: each packet's duration
        packets = ffprobe(out, "-select_streams", "s", "-show_entries",
                          "packet=pts,duration")["packets"]
        ends = [p["pts"] + p["duration"] for p in packets]
        assert max(abs(e - w[1]) for e, w in zip(ends, expected)) <= TOLERANCE_MS
    else:                                           # each picture's clear at its end
        clears = [t for t, n in frames if n == 0]
        assert max(abs(c - w[1]) for c, w in zip(clears, expected)) <= TOLERANCE_MS
        assert len(clears) == len(expected)
    ffmpeg("-i", out, "-map", "0", "-c:s", "dvbsub", "-f", "null", "-")   # decodes


def test_nothing_kept_writes_nothing(dubs, tmp_path):
    (emb,) = subtitles.embedded_subtitles(media.probe(dubs["hdmv_pgs_subtitle"]))
    tm = TimeMap((Segment(45.0, 50.0, 40.0, 1.0),), 45.0, 50.0, 1.0)   # after every cue
    out, res = subtitle_bitmaps.retime_bitmap(emb, tm, tmp_path, "sub0")
    assert (res.moved, res.dropped) == (0, 7)
    assert sorted(p.name for p in tmp_path.iterdir()) == []
