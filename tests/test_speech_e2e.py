"""The speech path end to end through the CLI, with the real Whisper and USE models.

A 24 s "film" whose English dialogue sits in the centre channel of a 5.1 AC-3 track
(the bed in the others), and a dub with the same lines in Spanish, 2 s later, over a
different bed, in stereo AAC with no language tag. `--mode speech` must hear the
dialogue (the matcher's bed-only downmix drops the centre: Whisper must not get that
one), place the dub, and name its language from detection alone.
"""
from __future__ import annotations

import json
from dataclasses import replace

import pytest

from app.errors import AlignmentError
from app.services import sync_service
from app.services.types import SyncRequest
from tests.helpers import DATA
from tests.helpers.cli import run_cli
from tests.helpers.media import ffmpeg, streams

LEAD = 1.5           # s of silence before the clip in the original
DELAY = 2.0          # the dub's lines come this much later


@pytest.fixture(scope="module")
def speech_films(tmp_path_factory):
    d = tmp_path_factory.mktemp("speech_films")
    orig, dub = d / "original.mkv", d / "dub_untagged.mkv"
    video = ["-f", "lavfi", "-i", "testsrc2=s=160x90:r=24000/1001:d=24"]
    bed = "anoisesrc=r=48000:a=0.02:c=pink:seed={seed}:d=24,lowpass=f=3000"
    ffmpeg(*video, "-i", DATA / "speech_en.flac",
              "-filter_complex",
              f"[1:a]aresample=48000,adelay={int(LEAD * 1000)}:all=1,apad=whole_dur=24[c];"
              f"{bed.format(seed=1)},asplit=5[l][r][lfe][bl][br];"
              "[l][r][c][lfe][bl][br]join=inputs=6:channel_layout=5.1:"
              "map=0.0-FL|1.0-FR|2.0-FC|3.0-LFE|4.0-BL|5.0-BR[a]",
              "-map", "0:v", "-map", "[a]", "-c:v", "libx264", "-preset", "ultrafast",
              "-c:a", "ac3", "-b:a", "384k", "-metadata:s:a:0", "language=eng",
              "-t", "24", orig)
    ffmpeg(*video, "-i", DATA / "speech_es.flac",
              "-filter_complex",
              f"[1:a]aresample=48000,adelay={int((LEAD + DELAY) * 1000)}:all=1,"
              f"apad=whole_dur=24[v];{bed.format(seed=9)}[b];"
              "[v][b]amix=inputs=2:normalize=0,pan=stereo|c0=c0|c1=c0[a]",
              "-map", "0:v", "-map", "[a]", "-c:v", "libx264", "-preset", "ultrafast",
              "-c:a", "aac", "-b:a", "128k", "-metadata:s:a:0", "language=und",
              "-t", "24", dub)
    return orig, dub


def test_speech_mode_places_the_dub_and_tags_it_from_detection(speech_films, tmp_path):
    orig, dub = speech_films
    out, rep = tmp_path / "out.mkv", tmp_path / "r.json"
    rc, _, err = run_cli(["sync", "-q", orig, dub, "-o", out, "--mode", "speech",
                          "--report", rep])
    assert rc == 0, err
    report = json.loads(rep.read_text())
    assert report["languages"] == {"original": "eng", "dub": "spa"}
    assert len(report["phrase_pairs"]) >= 3
    assert any("llaves" in p["dub_text"].lower() for p in report["phrase_pairs"])
    segs = report["map"]["segments"]
    assert len(segs) == 1
    # Both clips' lines start together (within ~10 ms) and end apart (the Spanish ones run
    # up to 0.3 s longer): placed by the phrase starts alone, the map is within 30 ms of
    # the delay (phrase-end anchors used to pull it by tens of ms).
    assert abs(segs[0]["offset"] + DELAY) < 0.03, segs
    tags = [s.get("tags", {}) for s in streams(out) if s["codec_type"] == "audio"]
    assert tags[-1].get("language") == "spa"
    assert tags[-1].get("title") == "Spanish (SyncDub)"


@pytest.fixture(scope="module")
def unrelated_dub(speech_films, tmp_path_factory):
    """Another 'film': the Spanish clip played backwards (speech-like, means nothing)
    over its own bed."""
    path = tmp_path_factory.mktemp("unrelated") / "unrelated.mkv"
    ffmpeg("-i", DATA / "speech_es.flac", "-filter_complex",
              "[0:a]aresample=48000,areverse,apad=whole_dur=24[v];"
              "anoisesrc=r=48000:a=0.02:c=pink:seed=4:d=24,lowpass=f=3000[b];"
              "[v][b]amix=inputs=2:normalize=0[a]",
              "-map", "[a]", "-c:a", "aac", "-b:a", "96k", "-t", "24", path)
    return path


def _settings(**kw):
    from config import load_settings
    return replace(load_settings().engine, **kw)


def test_auto_probe_refuses_unrelated_films_before_full_transcription(speech_films,
                                                                      unrelated_dub, tmp_path):
    """No shared bed, a long film (the probe threshold set to 0 here): five minutes of the
    dub's middle are transcribed first, and no line pairs up: refused (AlignmentError),
    the report says why and which stretch was heard."""
    orig, _ = speech_films
    rep = tmp_path / "r.json"
    req = SyncRequest(original=orig, dub=unrelated_dub, output=tmp_path / "o.mkv",
                      report_path=rep, mode="auto")
    with pytest.raises(AlignmentError, match="dialogue does not match"):
        sync_service.run_sync(req, _settings(speech_probe_after_s=0.0))
    r = json.loads(rep.read_text())
    assert r["speech_probe"]["dub_region"] == [0.0, 24.0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.json"]


def test_auto_probe_lets_the_same_film_through(speech_films, tmp_path):
    orig, dub = speech_films
    rep = tmp_path / "r.json"
    req = SyncRequest(original=orig, dub=dub, output=tmp_path / "o.mkv", report_path=rep,
                      mode="auto")
    res = sync_service.run_sync(req, _settings(speech_probe_after_s=0.0))
    assert res.output is not None and res.output.exists()
    r = json.loads(rep.read_text())
    assert r["timings"]["speech_probe_pairs"] >= 3
    assert abs(r["map"]["segments"][0]["offset"] + DELAY) < 0.15


def test_untagged_dub_language_is_detected_from_a_minute_of_it(speech_films, tmp_path):
    """Auto mode with a shared bed never transcribes; an untagged dub (AVI, stripped MKV)
    is then named from a short stretch: Spanish here, "und" for a track with no speech."""
    from app.services import media
    _, dub = speech_films
    info = media.probe(dub)
    s = _settings()
    assert sync_service._detect_language(info, info.audio_stream(None, "dub"), info.duration,
                                         s, seconds=20.0) == "spa"
    tone = tmp_path / "tone.mka"
    ffmpeg("-f", "lavfi", "-i", "sine=f=440:d=10", "-c:a", "flac", tone)
    ti = media.probe(tone)
    assert sync_service._detect_language(ti, ti.audio_stream(None, "dub"), ti.duration,
                                         s) == "und"
