"""Engine end to end: the CLI on small films made with ffmpeg lavfi (tests/helpers/films.py).

One 60 s "film" (testsrc2 160x90 at 24000/1001 fps, H.264; a varied stereo bed with
stand-in voices; FLAC audio tagged eng) and dubs made from the same bed with their own
voices:
  * pal_cut: 2.5 s lead-in, PAL speed-up (25025/24000, pitch rises), original [27, 33)
    cut out; AC3, tagged spa, with a 25 fps video (a full PAL release);
  * delay: 3 s lead-in only; AAC, untagged (the language comes from --dub-lang);
  * unrelated: another bed, other voices.
The true map includes the dub codec's priming delay (content really plays that late).
"""
from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest

from app.cli import main
from tests.helpers import films as mf
from tests.helpers.cli import listing, run_cli, run_module
from tests.helpers.media import decode_mono, ffmpeg, make_video_only, streams

AC3 = ["-c:a", "ac3", "-b:a", "192k"]
AAC = ["-c:a", "aac", "-b:a", "128k"]
CUT = (27.0, 33.0)
RATE = 16000               # decode rate for the sync measurement (0.06 ms per sample)


@pytest.fixture(scope="module")
def films(tmp_path_factory):
    d = tmp_path_factory.mktemp("films")
    bed = mf.make_bed(d / "bed.wav", 60.0, seed=1)
    vo = mf.make_voices(d / "voices_orig.wav", 60.0, seed=1)
    vd = mf.make_voices(d / "voices_dub.wav", 60.0, seed=2)
    film = mf.make_film(d / "original.mkv", bed, vo)
    pal = mf.make_dub(d / "dub_pal_cut.mkv", bed, vd, lead_in=2.5, speed=mf.PAL, cut=CUT,
                      audio_codec=AC3, language="spa", video_rate="25",
                      content_delay=mf.codec_delay(AC3, d))
    delay = mf.make_dub(d / "dub_delay.mka", bed, vd, lead_in=3.0, audio_codec=AAC,
                        language=None, content_delay=mf.codec_delay(AAC, d))
    other_bed = mf.make_bed(d / "bed_other.wav", 45.0, seed=99)
    mf.make_dub(d / "dub_unrelated.mka", other_bed, vd, audio_codec=AC3)
    bed_mono = mf.highpass(decode_mono(bed.path, rate=RATE), RATE)
    return {"dir": d, "bed": bed, "bed_mono": bed_mono, "film": film, "pal": pal,
            "delay": delay}


@pytest.fixture(scope="module")
def pal_run(films, tmp_path_factory):
    out_dir = tmp_path_factory.mktemp("pal_out")
    out, rep = out_dir / "synced.mkv", out_dir / "report.json"
    rc, stdout, stderr = run_cli(["sync", films["film"].path, films["dir"] / "dub_pal_cut.mkv",
                                  "-o", out, "--report", rep, "-q"])
    report = json.loads(rep.read_text()) if rep.exists() else None
    return {"rc": rc, "stdout": stdout, "stderr": stderr, "out": out, "report": report,
            "dir": out_dir}


def _check_impulses(films, out: Path, truth: mf.DubMap, min_count: int = 6) -> list[float]:
    """Lag (s) of the output's dub track against the bed at each impulse the dub has."""
    got = mf.highpass(decode_mono(out, "0:a:1", rate=RATE), RATE)
    bed = films["bed_mono"]
    lags = []
    for t in films["bed"].impulses:
        d = truth.to_dub(t)
        if d is None or not (1.0 < t < films["bed"].duration - 1.0):
            continue
        # away from the cut's edges: the splice crossfade may touch the window
        if truth.cut and truth.cut[0] - 0.5 < t < truth.cut[1] + 0.5:
            continue
        lag, peak = mf.lag_at(bed, got, t, RATE, half_window=0.1)
        assert peak > 0.5, f"impulse at original {t:.2f} s not found in the dub (ncc {peak:.2f})"
        lags.append(lag)
    assert len(lags) >= min_count, f"only {len(lags)} impulses measured"
    print(f"{out.name}: {len(lags)} impulses, lags (ms) {np.round(np.array(lags) * 1000, 2)}")
    worst = max(abs(x) for x in lags)
    assert worst <= 0.020, f"dub off by up to {worst * 1000:.1f} ms: {np.round(lags, 4)}"
    return lags


# ------------------------------------------------------------------ PAL + lead-in + cut

@pytest.mark.slow
def test_sync_pal_cut_exits_0_with_the_right_map(pal_run, films):
    assert pal_run["rc"] == 0, pal_run["stderr"]
    assert pal_run["out"].is_file()
    rep, truth = pal_run["report"], films["pal"]
    assert rep is not None
    assert abs(rep["speed"] - float(mf.PAL)) <= 1e-4, rep["speed"]
    assert rep["confidence"] >= 0.5
    segs = rep["segments"]
    assert len(segs) == 2, segs
    for got, want in zip([s["offset"] for s in segs], truth.offsets):
        assert abs(got - want) <= 0.020, ([s["offset"] for s in segs], truth.offsets)
    cuts = [c for c in rep["cuts"] if c[1] - c[0] > 0.1]
    assert len(cuts) == 1, rep["cuts"]
    assert abs(cuts[0][0] - CUT[0]) <= 0.05 and abs(cuts[0][1] - CUT[1]) <= 0.05, cuts
    inserts = [i for i in rep["inserts"] if i[1] - i[0] > 0.1]
    assert len(inserts) == 1 and abs(inserts[0][1] - truth.segments[0][0]) <= 0.05, inserts
    assert rep["languages"]["dub"] == "spa"
    assert rep["output"] == str(pal_run["out"])
    assert "wrote" in pal_run["stdout"]


@pytest.mark.slow
def test_sync_pal_cut_output_streams(pal_run, films):
    assert pal_run["rc"] == 0, pal_run["stderr"]
    src = streams(films["film"].path, count_packets=True)
    out = streams(pal_run["out"], count_packets=True)
    assert [s["codec_type"] for s in out] == ["video", "audio", "audio"]
    v_src, a_src = src[0], src[1]
    v, a_orig, a_dub = out
    # video and original audio stream-copied: same codec, same number of packets
    assert (v["codec_name"], v["nb_read_packets"]) == (v_src["codec_name"],
                                                       v_src["nb_read_packets"])
    assert (v["width"], v["height"], v["r_frame_rate"]) == (160, 90, "24000/1001")
    assert (a_orig["codec_name"], a_orig["nb_read_packets"]) == (a_src["codec_name"],
                                                                 a_src["nb_read_packets"])
    assert a_orig.get("tags", {}).get("language") == "eng"
    # the dub: its own codec and layout, its own language tag, a SyncDub title
    assert a_dub["codec_name"] == "ac3" and a_dub["channels"] == 2
    tags = {k.lower(): v for k, v in a_dub.get("tags", {}).items()}
    assert tags.get("language") == "spa"
    assert tags.get("title") == "Spanish (SyncDub)"   # named from the stream tag "spa"
    # nothing left beside the output but the report
    assert listing(pal_run["dir"]) == ["report.json", "synced.mkv"]


@pytest.mark.slow
def test_sync_pal_cut_is_in_sync_at_impulses(pal_run, films):
    """The dub as played from the output, against the bed at its true place: +-20 ms at
    every impulse the dub has (measured by cross-correlation)."""
    assert pal_run["rc"] == 0, pal_run["stderr"]
    _check_impulses(films, pal_run["out"], films["pal"])
    # the cut: the dub lacks original [27, 33), silence is played there
    got = decode_mono(pal_run["out"], "0:a:1", rate=RATE)
    inside = got[int((CUT[0] + 0.3) * RATE):int((CUT[1] - 0.3) * RATE)]
    before = got[int(20 * RATE):int(26 * RATE)]
    assert np.sqrt(np.mean(inside ** 2)) < 0.01 * np.sqrt(np.mean(before ** 2))
    # the dub track lasts as long as the film
    assert abs(len(got) / RATE - films["film"].duration) <= 0.1


@pytest.mark.slow
def test_sync_gap_fill_original_plays_the_original_in_the_cut(films, tmp_path):
    """--gap-fill original: the render reads both files (streamed into the mux like any
    re-encode); the cut carries the original's own audio, the rest stays in sync."""
    out = tmp_path / "filled.mkv"
    rc, _, stderr = run_cli(["sync", films["film"].path, films["dir"] / "dub_pal_cut.mkv",
                             "-o", out, "--gap-fill", "original", "-q"])
    assert rc == 0, stderr
    _check_impulses(films, out, films["pal"])
    dub = decode_mono(out, "0:a:1", rate=RATE)
    orig = decode_mono(out, "0:a:0", rate=RATE)
    a, b = int((CUT[0] + 0.3) * RATE), int((CUT[1] - 0.3) * RATE)
    level = np.sqrt(np.mean(orig[a:b] ** 2))
    assert level > 0.01
    assert np.sqrt(np.mean((dub[a:b] - orig[a:b]) ** 2)) < 0.2 * level   # the original, in phase
    assert listing(tmp_path) == ["filled.mkv"]


@pytest.mark.slow
def test_sync_flac_dub_renders_a_whole_file_then_muxes(films, tmp_path):
    """A FLAC dub (also what DTS/TrueHD dubs become) is rendered to a file before the mux,
    so its header keeps the length and MD5; in sync like the streamed codecs."""
    d = films["dir"]
    dub = tmp_path / "dub_flac.mkv"
    truth = mf.make_dub(dub, films["bed"], d / "voices_dub.wav", lead_in=1.5, cut=CUT,
                        audio_codec=["-c:a", "flac"], language="spa")
    out, rep = tmp_path / "out.mkv", tmp_path / "r.json"
    rc, _, stderr = run_cli(["sync", films["film"].path, dub, "-o", out,
                             "--report", rep, "-q"])
    assert rc == 0, stderr
    report = json.loads(rep.read_text())
    assert report["render"] == {"reencoded": True, "codec": "flac"}
    assert "render" in report["timings"] and "render_mux" not in report["timings"]
    _check_impulses(films, out, truth)
    flac = tmp_path / "dub.flac"
    ffmpeg("-i", str(out), "-map", "0:a:1", "-c", "copy", str(flac))
    info = flac.read_bytes()[8:42]
    assert int.from_bytes(info[14:18], "big") > 0 and info[18:34] != bytes(16)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dub.flac", "dub_flac.mkv",
                                                          "out.mkv", "r.json"]


def test_analyze_prints_the_map_and_writes_nothing(films, tmp_path):
    before = listing(films["dir"])
    r = run_module(["analyze", films["film"].path, films["dir"] / "dub_pal_cut.mkv", "-q"],
                   cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert "speed      1.0427" in out, out
    assert out.count("segment ") == 2, out
    cut = [line for line in out.splitlines() if line.startswith("cut ")][0].split()
    assert abs(float(cut[2].rstrip("-")) - CUT[0]) <= 0.05, out
    assert "confidence" in out
    assert listing(films["dir"]) == before
    assert listing(tmp_path) == []


def test_analyze_json(films, tmp_path):
    r = run_module(["analyze", films["film"].path, films["dir"] / "dub_delay.mka", "--json",
                    "-q"], cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    rep = json.loads(r.stdout)
    assert rep["output"] is None
    assert len(rep["segments"]) == 1
    assert abs(rep["segments"][0]["offset"] - films["delay"].offsets[0]) <= 0.020
    assert listing(tmp_path) == []


def test_analyze_map_goes_to_the_current_stdout(films):
    """The map is printed to sys.stdout as it is when main() runs (so a caller that
    redirects stdout, e.g. contextlib.redirect_stdout, gets it)."""
    rc, stdout, stderr = run_cli(["analyze", films["film"].path,
                                  films["dir"] / "dub_delay.mka", "-q"])
    assert rc == 0, stderr
    assert "speed      1.000000" in stdout, f"stdout was {stdout!r}"


# ------------------------------------------------------------------ delay only

@pytest.mark.slow
def test_sync_delay_only_copies_the_dub_and_takes_dub_lang(films, tmp_path):
    out, rep_path = tmp_path / "out.mkv", tmp_path / "r.json"
    rc, _stdout, stderr = run_cli(["sync", films["film"].path, films["dir"] / "dub_delay.mka",
                                   "-o", out, "--report", rep_path, "--dub-lang", "ita", "-q"])
    assert rc == 0, stderr
    rep = json.loads(rep_path.read_text())
    truth = films["delay"]
    assert rep["speed"] == 1.0
    assert len(rep["segments"]) == 1
    assert abs(rep["segments"][0]["offset"] - truth.offsets[0]) <= 0.020, \
        (rep["segments"], truth.offsets)
    assert rep["render"]["reencoded"] is False        # one segment at speed 1: packets shifted
    out_streams = streams(out)
    a_dub = out_streams[-1]
    assert a_dub["codec_type"] == "audio" and a_dub["codec_name"] == "aac"
    assert {k.lower(): v for k, v in a_dub["tags"].items()}.get("language") == "ita"
    _check_impulses(films, out, truth)
    assert listing(tmp_path) == ["out.mkv", "r.json"]


# ------------------------------------------------------------------ refused

def test_unrelated_films_are_refused_and_nothing_is_left(films, tmp_path):
    """Audio evidence only (--mode audio): the default auto mode would also try the speech
    path (Whisper), minutes on a 2-core machine."""
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    out = out_dir / "synced.mkv"
    rc, _stdout, stderr = run_cli(["sync", films["film"].path,
                                   films["dir"] / "dub_unrelated.mka", "-o", out,
                                   "--mode", "audio", "-q"])
    assert rc == 3, stderr
    assert "do not seem to be the same film" in stderr
    assert listing(out_dir) == []                  # no output, no temporary file


def test_unrelated_films_refused_report_says_why(films, tmp_path):
    rep = tmp_path / "r.json"
    rc, _o, stderr = run_cli(["sync", films["film"].path, films["dir"] / "dub_unrelated.mka",
                              "-o", tmp_path / "x.mkv", "--report", rep, "--mode", "audio",
                              "-q"])
    assert rc == 3, stderr
    assert listing(tmp_path) == ["r.json"]
    r = json.loads(rep.read_text())
    assert r["confidence"] < 0.5 and r["reasons"] and r["output"] is None


# ------------------------------------------------------------------ bad inputs: exit 2

@pytest.fixture(scope="module")
def bad(tmp_path_factory):
    d = tmp_path_factory.mktemp("bad")
    text = d / "notes.mkv"
    text.write_text("this is not a video\n" * 20)
    empty = d / "empty.mkv"
    empty.touch()
    silent = make_video_only(d / "silent.mp4", 4.0)
    return {"dir": d, "text": text, "empty": empty, "silent": silent,
            "missing": d / "no_such_film.mkv"}


@pytest.mark.parametrize("which,role,words", [
    ("text", "dub", ["notes.mkv", "not a media file"]),
    ("text", "original", ["notes.mkv", "not a media file"]),
    ("silent", "dub", ["silent.mp4", "no audio stream"]),
    ("empty", "dub", ["empty.mkv", "empty", "0 bytes"]),
    ("empty", "original", ["empty.mkv", "empty", "0 bytes"]),
    ("missing", "dub", ["not found", "no_such_film.mkv"]),
    ("missing", "original", ["not found", "no_such_film.mkv"]),
])
def test_bad_input_exits_2_saying_what_is_wrong(which, role, words, bad, films, tmp_path,
                                                capsys):
    orig, dub = films["film"].path, films["dir"] / "dub_delay.mka"
    if role == "dub":
        dub = bad[which]
    else:
        orig = bad[which]
    out = tmp_path / "o.mkv"
    rc = main(["sync", str(orig), str(dub), "-o", str(out), "-q"])
    err = capsys.readouterr().err
    assert rc == 2, err
    assert err.startswith("error:"), err
    for w in words:
        assert w in err, f"{w!r} not in {err!r}"
    assert listing(tmp_path) == []


def test_original_without_video_exits_2(films, tmp_path, capsys):
    rc = main(["sync", str(films["dir"] / "dub_delay.mka"), str(films["film"].path),
               "-o", str(tmp_path / "o.mkv"), "-q"])
    err = capsys.readouterr().err
    assert rc == 2 and "no video stream" in err, err


def test_analyze_bad_input_exits_2(bad, films, capsys):
    rc = main(["analyze", str(films["film"].path), str(bad["silent"]), "-q"])
    err = capsys.readouterr().err
    assert rc == 2 and "silent.mp4" in err and "no audio stream" in err, err


def test_output_must_be_mkv_and_not_overwritten(films, tmp_path, capsys):
    rc = main(["sync", str(films["film"].path), str(films["dir"] / "dub_delay.mka"),
               "-o", str(tmp_path / "o.mp4"), "-q"])
    assert rc == 2 and ".mkv" in capsys.readouterr().err
    existing = tmp_path / "exists.mkv"
    existing.write_bytes(b"keep me")
    rc = main(["sync", str(films["film"].path), str(films["dir"] / "dub_delay.mka"),
               "-o", str(existing), "-q"])
    assert rc == 2 and "--force" in capsys.readouterr().err
    assert existing.read_bytes() == b"keep me"


def test_print_map_skips_slivers_at_the_ends():
    from app.cli import _print_map
    from app.services.types import SyncReport
    out = io.StringIO()
    _print_map(SyncReport(original="o.mkv", dub="d.mkv", speed=1.0, confidence=0.9,
                          cuts=[[27.0, 33.0], [600.004, 600.01]],
                          inserts=[[0.0, 2.5], [574.99, 575.004]]), out)
    text = out.getvalue()
    assert "27.000-   33.000 s not in the dub" in text and "600.004" not in text
    assert "0.000-    2.500 s dropped" in text and "574.990" not in text


def test_a_shared_opening_theme_alone_is_refused_in_words(films, tmp_path):
    """Two 'episodes' that open on the same 20 s of music and share nothing after it:
    the map explains only the theme, and the refusal says so (exit 3, nothing written)."""
    for name, seed in (("ep_a.mka", 11), ("ep_b.mka", 12)):
        rest = mf.make_bed(tmp_path / f"rest{seed}.wav", 100.0, seed=seed)
        ffmpeg("-i", films["bed"].path, "-i", rest.path, "-filter_complex",
                  "[0:a]atrim=0:20,asetpts=PTS-STARTPTS[t];[t][1:a]concat=n=2:v=0:a=1[a]",
                  "-map", "[a]", "-c:a", "ac3", tmp_path / name)
    rep = tmp_path / "r.json"
    rc, out, err = run_cli(["analyze", tmp_path / "ep_a.mka", tmp_path / "ep_b.mka",
                            "--mode", "audio", "--json", "--report", rep, "-q"])
    assert rc == 3, err
    r = json.loads(out)
    ev = r["evidence"]
    assert not ev["accounts_for_dub"] and 0 < ev["sound_on_map"] < 0.3 * ev["sound_windows"]
    assert "stretches of its sound match the original" in err
    assert json.loads(rep.read_text())["confidence"] < 0.5
