"""Listening points (pure, on hand-made reports) and clips (argv by equality; real ffmpeg
on a real MKV: the clip decodes, has the length and channels asked, its left ear is the
original and its right ear the dub; a cached clip is not made again)."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

from app.errors import InputError
from app.services import clips, media
from app.services.clips import (accepted_dubs, clip_args, clip_window, dub_stream_index,
                                listening_points, make_clip, report_for_track)
from tests.helpers.media import ffmpeg, ffprobe, streams

PAL = 25 / (24000 / 1001)


def seg(dub_start, dub_end, orig_start, speed=1.0, confidence=0.9):
    return {"dub_start": dub_start, "dub_end": dub_end, "orig_start": orig_start,
            "orig_end": orig_start + speed * (dub_end - dub_start), "speed": speed,
            "offset": orig_start - speed * dub_start, "confidence": confidence}


def rep(segments, cuts=(), inserts=(), confidence=0.9, **extra):
    return {"segments": list(segments), "cuts": [list(c) for c in cuts],
            "inserts": [list(i) for i in inserts], "confidence": confidence, **extra}


# (name, report, [(kind, t)], {point index: confidence})
CASES = [
    ("one short segment: its middle",
     rep([seg(1.5, 25.5, 0.0)], inserts=[(0, 1.5)]),
     [("insert", 0.0), ("inside", 12.0)], {}),
    ("a long cut: a point at each end, one inside each side",
     rep([seg(0, 100, 0, confidence=0.95), seg(100, 200, 130, confidence=0.7)],
         cuts=[(100, 130)]),
     [("inside", 50.0), ("cut", 100.0), ("cut", 130.0), ("inside", 180.0)],
     {0: 0.95, 1: 0.7, 2: 0.7, 3: 0.7}),
    ("a short cut: its middle (the edge beside it merged)",
     rep([seg(0, 100, 0), seg(100, 200, 104)], cuts=[(100, 104)]),
     [("inside", 50.0), ("cut", 102.0), ("inside", 154.0)], {}),
    ("an insert: where it was dropped, on the original's timeline",
     rep([seg(0, 100, 0, confidence=0.8), seg(130, 230, 100, confidence=0.6)],
         inserts=[(100, 130)]),
     [("inside", 50.0), ("insert", 100.0), ("inside", 150.0)], {1: 0.6}),
    ("an offset change with neither cut nor insert: an edge",
     rep([seg(0, 100, 0), seg(100, 200, 100.5)]),
     [("inside", 50.0), ("edge", 100.5), ("inside", 150.5)], {}),
    ("a PAL dub: inside points every ~10 min, each saying the speed",
     rep([seg(0, 6000 / PAL, 0, speed=PAL)], speed=PAL),
     [("inside", 300.0 + 600 * i) for i in range(10)], {}),
    ("a 2-hour segment: 12 points inside",
     rep([seg(2, 7202, 0)]),
     [("inside", 300.0 + 600 * i) for i in range(12)], {}),
]


@pytest.mark.parametrize("name,report,expected,confs", CASES, ids=[c[0] for c in CASES])
def test_listening_points(name, report, expected, confs):
    points = listening_points(report)
    assert [(p.kind, p.t) for p in points] == [(k, pytest.approx(t, abs=0.01))
                                              for k, t in expected]
    assert [p.id for p in points] == [f"p{i + 1}" for i in range(len(points))]
    for i, c in confs.items():
        assert points[i].confidence == pytest.approx(c)
    assert all(p.label for p in points)


def test_pal_points_say_the_speed():
    points = listening_points(CASES[5][1])
    assert all("1.04271" in p.label and p.detail["speed"] == pytest.approx(PAL)
               for p in points)


def test_points_close_together_are_one_the_cut_wins_with_the_lower_confidence():
    report = rep([seg(0, 100, 0, confidence=0.9), seg(100, 200, 102, confidence=0.9),
                  seg(205, 300, 202, confidence=0.5)],
                 cuts=[(100, 102)], inserts=[(200, 205)])
    points = listening_points(report)
    # the cut's middle (101) and the edge at 102; the insert at 202 and the edge beside it
    edges = [p for p in points if p.kind != "inside"]
    assert [(p.kind, p.t) for p in edges] == [("cut", 101.0), ("insert", 202.0)]
    assert edges[0].confidence == 0.9 and edges[1].confidence == 0.5
    assert all(b.t - a.t >= clips.DEDUPE_SECONDS for a, b in zip(points, points[1:]))


def test_the_cap_keeps_edges_first_the_least_sure_first():
    segs, t = [], 0.0
    for i in range(60):     # 59 edges (the offset alternates), 60 segments of 120 s
        segs.append(seg(t, t + 120, t + (0.5 if i % 2 else 0.0), confidence=0.5 + i / 200))
        t += 120
    points = listening_points(rep(segs))
    assert len(points) == clips.MAX_POINTS
    assert {p.kind for p in points} == {"edge"}
    assert max(p.confidence for p in points) <= sorted(
        min(a["confidence"], b["confidence"]) for a, b in zip(segs, segs[1:]))[39] + 1e-9
    assert [p.t for p in points] == sorted(p.t for p in points)


def test_the_cap_fills_with_inside_points_spread_over_the_film():
    report = rep([seg(0, 100, 0), seg(130, 36130, 100)], inserts=[(100, 130)])
    points = listening_points(report, limit=10)
    assert len(points) == 10 and sum(p.kind == "insert" for p in points) == 1
    inside = [p.t for p in points if p.kind == "inside"]
    assert inside[0] < 3600 and inside[-1] > 30000


def test_no_segments_no_points():
    assert listening_points(rep([])) == []


@pytest.mark.parametrize("t,film,expected", [
    (12.0, 24.0, (8.0, 8.0)), (0.0, 24.0, (0.0, 8.0)), (23.0, 24.0, (16.0, 8.0)),
    (2.0, 5.0, (0.0, 5.0)), (3600.0, 7200.0, (3596.0, 8.0))])
def test_clip_window(t, film, expected):
    assert clip_window(t, film) == expected


def test_which_stream_is_the_dub():
    assert dub_stream_index(2, 1, 0) == 1          # original + one dub
    assert dub_stream_index(3, 1, 0) == 2          # original, commentary, dub
    assert dub_stream_index(4, 2, 0) == 2 and dub_stream_index(4, 2, 1) == 3
    with pytest.raises(InputError, match="track=0"):
        dub_stream_index(2, 1, 1)
    with pytest.raises(InputError, match="too few"):
        dub_stream_index(1, 1, 0)
    several = {"dubs": [{"accepted": True, "report": None},
                        {"accepted": False, "report": {"segments": ["refused"]}},
                        {"accepted": True, "report": {"segments": ["second"]}}],
               "segments": ["first"]}
    assert accepted_dubs(several) == 2 and accepted_dubs({"segments": []}) == 1
    assert report_for_track(several, 0) is several
    assert report_for_track(several, 1)["segments"] == ["second"]


def test_clip_args():
    mkv, out = Path("/m/Film.mkv"), Path("/c/x.ogg")
    o = ("[0:a:0]aresample=async=1:first_pts=0,apad,aformat=sample_fmts=fltp:"
         "sample_rates=48000:channel_layouts={}[{}]")
    d = o.replace("0:a:0", "0:a:2")
    tail = ["-map", "[a]", "-t", "8.000", "-vn", "-sn", "-dn", "-map_metadata", "-1"]
    opus = ["-c:a", "libopus", "-b:a", "64k", "-f", "ogg", "/c/x.ogg"]
    head = ["-y", "-ss", "12.500", "-i", "/m/Film.mkv", "-filter_complex"]
    assert clip_args(mkv, 12.5, 8, "original", 0, 2, out) == \
        [*head, o.format("stereo", "a"), *tail, *opus]
    assert clip_args(mkv, 12.5, 8, "dub", 0, 2, out) == \
        [*head, d.format("stereo", "a"), *tail, *opus]
    assert clip_args(mkv, 12.5, 8, "both", 0, 2, out) == \
        [*head, o.format("mono", "o") + ";" + d.format("mono", "d") + ";"
         "[o][d]join=inputs=2:channel_layout=stereo:map=0.0-FL|1.0-FR[a]", *tail, *opus]
    assert clip_args(mkv, 12.5, 8, "mix", 0, 2, out) == \
        [*head, o.format("stereo", "o") + ";" + d.format("stereo", "d") + ";"
         "[o][d]amix=inputs=2:duration=longest[a]", *tail, *opus]
    assert clip_args(mkv, -1, 8, "dub", 0, 2, Path("/c/x.m4a"), opus=False)[-8:] == \
        ["-c:a", "aac", "-b:a", "96k", "-movflags", "+faststart", "-f", "mp4", "/c/x.m4a"][1:]
    assert clip_args(mkv, -1, 8, "dub", 0, 2, out)[2] == "0.000"
    with pytest.raises(InputError, match="original, dub, both, mix"):
        clip_args(mkv, 0, 8, "karaoke", 0, 1, out)


# -- real ffmpeg ---------------------------------------------------------------------------
SECONDS = 20.0
DUB_DELAY = 1.0      # s: the dub track starts this late in the MKV (a container delay)


@pytest.fixture(scope="module")
def synced(tmp_path_factory) -> tuple[Path, Path, Path]:
    """A synced MKV: video, the original's audio (stereo brown noise, seed 1), a
    commentary, the dub (mono brown noise, seed 2, starting DUB_DELAY s late); and the
    two sounds as WAV files."""
    tmp = tmp_path_factory.mktemp("synced")
    orig, dub, mkv = tmp / "orig.wav", tmp / "dub.wav", tmp / "synced.mkv"
    ffmpeg("-f", "lavfi", "-i", f"anoisesrc=d={SECONDS}:c=brown:r=48000:a=0.5:seed=1",
           "-ac", "2", orig)
    ffmpeg("-f", "lavfi", "-i", f"anoisesrc=d={SECONDS - DUB_DELAY}:c=brown:r=48000:a=0.5"
           ":seed=2", dub)
    ffmpeg("-f", "lavfi", "-i", f"testsrc2=s=160x90:r=10:d={SECONDS}", "-i", orig,
           "-f", "lavfi", "-i", f"sine=f=300:r=48000:d={SECONDS}",
           "-itsoffset", DUB_DELAY, "-i", dub,
           "-map", "0:v", "-map", "1:a", "-map", "2:a", "-map", "3:a",
           "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "flac",
           "-metadata:s:a:2", "language=spa", "-metadata:s:a:2", "title=Spanish (SyncDub)",
           mkv)
    return mkv, orig, dub


def _decode(path: Path, start: float = 0.0, duration: float | None = None,
            channels: int = 2) -> np.ndarray:
    args = ["ffmpeg", "-nostdin", "-v", "error", "-ss", str(start), "-i", str(path)]
    if duration:
        args += ["-t", str(duration)]
    r = subprocess.run([*args, "-ac", str(channels), "-ar", "48000", "-f", "f32le", "-"],
                       capture_output=True, check=True)
    return np.frombuffer(r.stdout, dtype="<f4").reshape(-1, channels)


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    n = min(len(a), len(b))
    return float(np.corrcoef(a[:n], b[:n])[0, 1])


def _duration(path: Path) -> float:
    return float(ffprobe(path, "-show_format")["format"]["duration"])


@pytest.mark.parametrize("kind", clips.CLIP_KINDS)
def test_a_real_clip_decodes_with_the_length_and_channels_asked(synced, tmp_path, kind):
    mkv = synced[0]
    info = media.probe(mkv)
    dub = dub_stream_index(len(info.audio), 1, 0)
    assert dub == 2
    path = make_clip(mkv, 6.0, 8.0, kind, 0, dub, tmp_path / "cache")
    assert path.parent == tmp_path / "cache" and path.suffix == clips.clip_format()[0]
    (st,) = streams(path)
    assert st["codec_name"] == ("opus" if path.suffix == ".ogg" else "aac")
    assert st["channels"] == clips.CLIP_CHANNELS[kind] == 2
    assert _duration(path) == pytest.approx(8.0, abs=0.1)
    pcm = _decode(path)
    assert len(pcm) / 48000 == pytest.approx(8.0, abs=0.1)
    assert float(np.abs(pcm).max()) > 0.01
    assert [p.name for p in (tmp_path / "cache").iterdir()] == [path.name]   # no temp left


def test_both_puts_the_original_left_and_the_dub_right(synced, tmp_path):
    mkv, orig, dub = synced
    path = make_clip(mkv, 6.0, 8.0, "both", 0, 2, tmp_path)
    pcm = _decode(path)
    o = _decode(orig, 6.0, 8.0, channels=1)[:, 0]
    d = _decode(dub, 6.0 - DUB_DELAY, 8.0, channels=1)[:, 0]
    left, right = pcm[:, 0], pcm[:, 1]
    assert _corr(left, o) > 0.8 and _corr(right, d) > 0.8, (_corr(left, o), _corr(right, d))
    assert abs(_corr(left, d)) < 0.3 and abs(_corr(right, o)) < 0.3


def test_a_late_dub_is_padded_and_the_end_is_clamped(synced, tmp_path):
    mkv = synced[0]
    start, duration = clip_window(0.0, media.probe(mkv).duration)
    path = make_clip(mkv, start, duration, "dub", 0, 2, tmp_path)
    pcm = _decode(path)
    assert len(pcm) / 48000 == pytest.approx(8.0, abs=0.1)
    head = int(0.8 * 48000)
    assert float(np.abs(pcm[:head]).max()) < 0.01 < float(np.abs(pcm[head + 9600:]).max())
    start, duration = clip_window(SECONDS - 1, media.probe(mkv).duration)
    assert start + duration == pytest.approx(SECONDS, abs=0.05)
    last = make_clip(mkv, start, duration, "mix", 0, 2, tmp_path)
    assert _duration(last) == pytest.approx(duration, abs=0.1)


def test_a_cached_clip_is_not_made_again(synced, tmp_path, monkeypatch):
    mkv = synced[0]
    first = make_clip(mkv, 2.0, 8.0, "original", 0, 2, tmp_path)
    mtime = first.stat().st_mtime_ns
    os.utime(first, ns=(mtime - 10**9, mtime - 10**9))
    calls = []
    monkeypatch.setattr(media, "run_ffmpeg", lambda *a, **k: calls.append(a))
    again = make_clip(mkv, 2.0, 8.0, "original", 0, 2, tmp_path)
    assert again == first and calls == [] and again.stat().st_mtime_ns == mtime - 10**9
    other = make_clip(mkv, 2.0, 8.0, "dub", 0, 2, tmp_path)   # another kind: a new run
    assert len(calls) == 1 and other != first


def test_a_failed_clip_leaves_nothing(tmp_path):
    junk = tmp_path / "junk.mkv"
    junk.write_bytes(b"not a film" * 100)
    with pytest.raises(media.MediaError):
        make_clip(junk, 0.0, 8.0, "both", 0, 1, tmp_path / "cache")
    assert list((tmp_path / "cache").iterdir()) == []


def test_labels_name_their_times_to_a_tenth():
    (p,) = [p for p in listening_points(rep([seg(1.5, 25.5, 0.0)], inserts=[(0, 1.5)]))
            if p.kind == "insert"]
    assert p.label == "dub 0:00:00.0–0:00:01.5 (1.5 s) dropped here"
    assert clips.hms(3725.25) == "1:02:05.2"
