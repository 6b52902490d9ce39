"""Picture refinement of speech-placed offsets (app/services/picture.py), on small lavfi
videos whose time map is known."""
from __future__ import annotations

from pathlib import Path

import pytest

from app.services import media
from app.services.picture import refine_picture
from app.services.timemap import Segment, TimeMap
from tests.helpers.media import ffmpeg

FPS = 24000 / 1001
FRAME = 1 / FPS
PAL = 25 / FPS                      # 1.042708: the dub runs faster
DUR = 40.0


def _x264(path: Path) -> list[str]:
    return ["-c:v", "libx264", "-preset", "ultrafast", "-crf", "23", "-pix_fmt", "yuv420p",
            str(path)]


@pytest.fixture(scope="module")
def films(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("picture")
    out = {"orig": d / "orig.mkv", "shift": d / "shift.mkv", "pal": d / "pal.mkv",
           "other": d / "other.mkv", "audio": d / "audio.mka"}
    # Original: the moving test picture, with a hard cut to a game of life at 20 s.
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=160x90:rate=24000/1001:duration=20",
        "-f", "lavfi", "-i", "life=size=160x90:rate=24000/1001:ratio=0.3:seed=5:"
        "mold=10,trim=duration=20,format=yuv420p",
        "-filter_complex", "[0:v]format=yuv420p,setsar=1[a];[1:v]setsar=1[b];"
        "[a][b]concat=n=2:v=1[v]", "-map", "[v]", *_x264(out["orig"]))
    # The same picture 1.2345 s later (a lead-in of the first frame), another encode,
    # smaller, brighter: crop/scale/levels differ as between two releases.
    ffmpeg("-i", str(out["orig"]), "-vf", "setpts=PTS-STARTPTS+1.2345/TB,"
        "fps=24000/1001:start_time=0,scale=128:72,eq=brightness=0.08:contrast=0.9",
        *_x264(out["shift"]))
    # PAL transfer: 25 fps, 4.27 % faster, 0.8 s lead-in.
    ffmpeg("-i", str(out["orig"]), "-vf", "setpts=(PTS-STARTPTS)*24000/25025+0.8/TB,"
        "fps=25:start_time=0", *_x264(out["pal"]))
    # Unrelated picture of the same kind.
    ffmpeg("-f", "lavfi", "-i", "life=size=160x90:rate=24000/1001:ratio=0.3:seed=77:mold=10,"
        f"trim=duration={DUR + 2},format=yuv420p", *_x264(out["other"]))
    ffmpeg("-f", "lavfi", "-i", f"sine=frequency=440:duration={DUR + 2}", "-c:a", "flac",
        str(out["audio"]))
    return out


def _map(dub_start: float, dub_end: float, offset: float, speed: float,
         orig_dur: float = DUR) -> TimeMap:
    seg = Segment(dub_start, dub_end, dub_start * speed + offset, speed)
    return TimeMap((seg,), orig_dur, dub_end, speed, 0.9)


def _refine(films, dub: str, tmap: TimeMap):
    orig, d = media.probe(films["orig"]), media.probe(films[dub])
    return refine_picture(tmap, orig, d)


@pytest.mark.parametrize("error", [0.23, -0.137])
def test_shifted_dub_offset_pinned_to_the_frame(films, error):
    true = -1.2345                             # orig_t = dub_t - 1.2345
    tmap = _map(1.2345, DUR + 1.2345, true + error, 1.0)
    new, diag = _refine(films, "shift", tmap)
    seg = diag["segments"][0]
    assert seg["accepted"] >= 2 and seg["shift_ms"] is not None, diag
    # Equal frame rates: the dub's frames are whole original frames, so the picture
    # can only say the nearest frame: within half a frame (+ 2 ms of timestamp rounding).
    assert abs(new.segments[0].offset - true) <= FRAME / 2 + 0.002, diag
    assert new.segments[0].dub_start == tmap.segments[0].dub_start
    assert diag["seconds"] < 30


def test_pal_dub_offset_sub_frame(films):
    true = -0.8 * PAL                          # orig_t = (dub_t - 0.8) * speed
    tmap = _map(0.8, 0.8 + DUR / PAL, true + 0.19, PAL)
    new, diag = _refine(films, "pal", tmap)
    assert diag["segments"][0]["accepted"] >= 2, diag
    # The re-timed film runs at exactly 25 fps: the dub's frames are whole film frames
    # again, so within half a dub frame (20 ms) + 2 ms of timestamp rounding.
    assert abs(new.segments[0].offset - true) <= 0.5 / 25 + 0.002, diag


def test_unrelated_picture_leaves_the_offset(films):
    tmap = _map(0.0, DUR, 0.1, 1.0)
    new, diag = _refine(films, "other", tmap)
    assert diag["segments"][0]["shift_ms"] is None, diag
    assert new.segments[0].offset == pytest.approx(0.1, abs=1e-9)


def test_no_video_leaves_the_offset(films):
    tmap = _map(0.0, DUR, 0.1, 1.0)
    new, diag = _refine(films, "audio", tmap)
    assert new is tmap and "skipped" in diag
