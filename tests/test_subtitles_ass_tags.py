"""ASS/SSA timed override tags scaled with the cue (app/services/subtitles.py,
`scale_override_times`): a cue placed through a PAL segment lasts 4.27 % longer on the
original, and so must its karaoke syllables, transforms, moves and fades."""
from __future__ import annotations

import re

import pysubs2
import pytest
from pysubs2 import SSAEvent

from app.services.subtitles import retime_events, retime_file, scale_override_times
from app.services.timemap import Segment, TimeMap

PAL = 25 / 23.976


@pytest.mark.parametrize("text, factor, expected", [
    # karaoke, centiseconds, rounded on the running sum: 20.85 -> 21, 52.13 -> 52 (+31)
    (r"{\k20}Ka{\k30}ra", PAL, r"{\k21}Ka{\k31}ra"),
    (r"{\K20}a{\kf30}b{\ko40}c", PAL, r"{\K21}a{\kf31}b{\ko42}c"),
    (r"{\k50}La {\k100}la {\k150}la", PAL, r"{\k52}La {\k104}la {\k157}la"),
    (r"{\k100}slow", 1 / PAL, r"{\k96}slow"),                        # speed < 1
    # \t: t1, t2 scaled; accel, its own modifiers (a clip's coordinates) kept
    (r"{\t(0,1000,\frz30)}x", PAL, r"{\t(0,1043,\frz30)}x"),
    (r"{\t(100,500,0.5,\clip(0,0,320,240))}x", PAL, r"{\t(104,521,0.5,\clip(0,0,320,240))}x"),
    (r"{\t(0.5,\frz30)}x", PAL, r"{\t(0.5,\frz30)}x"),               # no times
    (r"{\t(\frz30)}x", PAL, r"{\t(\frz30)}x"),
    # \move: only the two times; spaces kept
    (r"{\move(10, 20,30,40, 0, 500)}x", PAL, r"{\move(10, 20,30,40, 0, 521)}x"),
    (r"{\move(10,20,30,40)}x", PAL, r"{\move(10,20,30,40)}x"),
    # \fad, \fade (7 arguments: the alphas kept, the four times scaled)
    (r"{\pos(960,100)\fad(200,200)}SIGN", PAL, r"{\pos(960,100)\fad(209,209)}SIGN"),
    (r"{\fade(255,0,255,0,100,900,1000)}x", PAL, r"{\fade(255,0,255,0,104,938,1043)}x"),
    (r"{\fade(300,0)}x", PAL, r"{\fade(313,0)}x"),
    # other tags, colours, text outside the braces untouched; \kt is not a duration
    (r"{\c&H0000FF&\b1\kt50\fs40}Hi\N{\i1}there{\i0}", PAL,
     r"{\c&H0000FF&\b1\kt50\fs40}Hi\N{\i1}there{\i0}"),
    (r"k50 \k50 (text) {\k50}x", PAL, r"k50 \k50 (text) {\k52}x"),
    (r"{\move(1,2,3,4,5,6", PAL, r"{\move(1,2,3,4,5,6"),             # unclosed block
    (r"{\t(0,1000\frz30}x", PAL, r"{\t(0,1000\frz30}x"),             # unclosed bracket
    # speed 1: the very same text
    (r"{\k20}Ka{\t(0,1000,\frz30)\fad(200,200)}ra", 1.0,
     r"{\k20}Ka{\t(0,1000,\frz30)\fad(200,200)}ra"),
])
def test_scale_override_times(text, factor, expected):
    assert scale_override_times(text, factor) == expected


def test_speed_one_map_leaves_the_text_identical():
    text = r"{\k20.5}Ka{\move(1.5,2,3,4,0.0,500.0)}ra"       # odd numbers, never rewritten
    tm = TimeMap((Segment(0.0, 100.0, 2.5, 1.0),), 110.0, 100.0, 1.0)
    (ev,) = retime_events([SSAEvent(start=1000, end=2000, text=text)], tm).events
    assert ev.text == text


def _k_sum_ms(text: str) -> int:
    return 10 * sum(int(v) for v in re.findall(r"\\(?:kf|ko|k|K)(\d+)", text))


KARAOKE_ASS = r"""[Script Info]
ScriptType: v4.00+
PlayResX: 1920
PlayResY: 1080

[V4+ Styles]
Format: Name, Fontname, Fontsize, PrimaryColour, SecondaryColour, OutlineColour, BackColour, Bold, Italic, Underline, StrikeOut, ScaleX, ScaleY, Spacing, Angle, BorderStyle, Outline, Shadow, Alignment, MarginL, MarginR, MarginV, Encoding
Style: Default,Arial,48,&H00FFFFFF,&H000000FF,&H00000000,&H64000000,0,0,0,0,100,100,0,0,1,2,1,2,20,20,40,1

[Events]
Format: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text
Dialogue: 0,0:00:05.00,0:00:08.00,Default,,0,0,0,,{\k50}La {\k100}la {\k150}la
Dialogue: 0,0:00:12.37,0:00:16.84,Default,,0,0,0,,{\kf33}Twin{\kf41}kle {\kf57}twin{\kf45}kle {\kf71}lit{\kf38}tle {\kf162}star
Dialogue: 0,0:01:02.10,0:01:04.53,Default,,0,0,0,,{\fad(120,80)\ko12}A{\ko37}ve {\ko97}Ma{\ko97}ri{\ko0}a
"""


def test_karaoke_file_through_pal_map_still_adds_up(tmp_path):
    """Each line's syllables lasted exactly the line; through a PAL map (with a cut and
    an insert) they still do, within 1 cs per syllable."""
    src, dst = tmp_path / "k.ass", tmp_path / "out.ass"
    src.write_text(KARAOKE_ASS, encoding="utf-8")
    before = pysubs2.load(str(src)).events
    assert all(_k_sum_ms(e.text) == e.end - e.start for e in before)
    tm = TimeMap((Segment(2.0, 40.0, 3.0, PAL), Segment(45.0, 100.0, 50.0, PAL)),
                 110.0, 100.0, PAL)
    res = retime_file(src, dst, tm)
    assert res.counts() == {"kept": 3, "moved": 3, "clipped": 0, "dropped": 0}
    after = pysubs2.load(str(dst)).events
    for old, new in zip(before, after):
        syllables = len(re.findall(r"\\(?:kf|ko|k|K)\d", old.text))
        assert abs(_k_sum_ms(new.text) - (new.end - new.start)) <= 10 * syllables
        # ASS stores centiseconds: the line's own length is within 10 ms of the scaled one
        assert abs((new.end - new.start) - (old.end - old.start) * PAL) <= 10
    assert after[2].text.startswith(r"{\fad(125,83)\ko13}A")
