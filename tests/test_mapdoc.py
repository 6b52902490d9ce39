"""The map as a document (app/services/mapdoc.py, `sync --map`): what analyze --json
prints is read back, whole or its map alone; bad documents are refused naming the field
(exit 2); a given map is rendered exactly: the same placement as the sync that found it,
and an edited one (every offset +0.100 s) plays the dub 100 ms later in the file."""
from __future__ import annotations

import copy
import json
import math

import numpy as np
import pytest

from app.errors import InputError
from app.services.mapdoc import (MapDocumentError, fit_to_files, load_map_document,
                                 parse_map_document)
from tests.helpers.cli import run_cli
from tests.helpers.films import lag_at
from tests.helpers.media import decode_mono, streams

# A two-segment map as analyze --json writes it (derived fields included).
SEGMENTS = [
    {"dub_start": 2.0, "dub_end": 62.0, "orig_start": 0.5, "speed": 1.0,
     "confidence": 0.9, "anchors": 12, "orig_end": 60.5, "offset": -1.5},
    {"dub_start": 66.0, "dub_end": 120.0, "orig_start": 60.5, "speed": 1.0,
     "confidence": 1.0, "anchors": 20, "orig_end": 114.5, "offset": -5.5},
]
MAP = {"speed": 1.0, "confidence": 0.95, "reasons": [], "orig_duration": 115.0,
       "dub_duration": 121.0, "segments": SEGMENTS, "cuts": [[0.0, 0.5], [114.5, 115.0]],
       "inserts": [[0.0, 2.0], [62.0, 66.0], [120.0, 121.0]]}
REPORT = {"version": 1, "original": "o.mkv", "dub": "d.mkv", "confidence": 0.95,
          "map": MAP, "segments": SEGMENTS, "anchors": [], "evidence": None}


def _with(path: str, value, doc=None):
    """REPORT (or `doc`) with the field at `path` ("map.segments.1.dub_end") set to
    `value`, or deleted when value is DELETE."""
    doc = copy.deepcopy(REPORT if doc is None else doc)
    *parents, last = path.split(".")
    obj = doc
    for key in parents:
        obj = obj[int(key)] if isinstance(obj, list) else obj[key]
    if value is DELETE:
        del obj[int(last) if isinstance(obj, list) else last]
    elif isinstance(obj, list):
        obj[int(last)] = value
    else:
        obj[last] = value
    return doc


DELETE = object()

BAD = [
    # (document, the field named, words in the message)
    ([1, 2], "", "must be a JSON object"),
    ("map", "", "must be a JSON object"),
    (_with("version", 2), "version", "version 1"),
    (_with("version", "1"), "version", "version 1"),
    (_with("map", None), "map", "has no map"),
    (_with("map", [1]), "map", "must be an object"),
    (_with("map.segments", DELETE), "map.segments", "missing"),
    (_with("map.segments", []), "map.segments", "at least one segment"),
    (_with("map.segments", {"a": 1}), "map.segments", "must be a list"),
    (_with("map.segments.1", 5), "map.segments[1]", "must be an object"),
    (_with("map.segments.1.dub_end", DELETE), "map.segments[1].dub_end", "missing"),
    (_with("map.segments.0.speed", DELETE), "map.segments[0].speed", "missing"),
    (_with("map.segments.1.dub_start", "66"), "map.segments[1].dub_start",
     "must be a number"),
    (_with("map.segments.1.dub_start", True), "map.segments[1].dub_start",
     "must be a number"),
    (_with("map.segments.0.dub_end", math.nan), "map.segments[0].dub_end", "finite"),
    (_with("map.segments.0.orig_start", math.inf), "map.segments[0].orig_start", "finite"),
    (_with("map.segments.0.speed", 0.0), "map.segments[0].speed", "between 0.5 and 2"),
    (_with("map.segments.0.speed", -1.0), "map.segments[0].speed", "between 0.5 and 2"),
    (_with("map.segments.0.speed", 104.27), "map.segments[0].speed", "between 0.5 and 2"),
    (_with("map.speed", 25.0), "map.speed", "between 0.5 and 2"),
    (_with("map.confidence", 1.5), "map.confidence", "between 0 and 1"),
    (_with("map.segments.0.dub_start", -1.0), "map.segments[0].dub_start",
     "before the dub's start"),
    (_with("map.segments.1.dub_end", 60.0), "map.segments[1].dub_end",
     "not after its dub_start 66.000 s"),
    # the offset edited without orig_start (or the other way round): not silently lost
    (_with("map.segments.1.offset", -5.4), "map.segments[1].offset", "disagrees"),
    (_with("map.segments.1.orig_end", 120.0), "map.segments[1].orig_end", "disagrees"),
    (_with("map.segments.0.orig_start", DELETE, _with("map.segments.0.offset", DELETE)),
     "map.segments[0].orig_start", "missing"),
    (_with("map.segments.0.offset", -2.5, _with("map.segments.0.orig_start", DELETE,
                                                 _with("map.segments.0.orig_end", DELETE))),
     "map.segments[0].orig_start", "before the original's start"),
    # out of order or overlapping on the dub's timeline
    (_with("map.segments", [SEGMENTS[1], SEGMENTS[0]]), "map.segments[1].dub_start",
     "dub order"),
    (_with("map.segments.1.dub_start", 61.0, _with("map.segments.1.offset", DELETE,
                                                    _with("map.segments.1.orig_end",
                                                          DELETE))),
     "map.segments[1].dub_start", "must not overlap"),
    # overlapping on the original's: two pieces of the dub at once
    (_with("map.segments.1.orig_start", 55.0, _with("map.segments.1.offset", DELETE,
                                                     _with("map.segments.1.orig_end",
                                                           DELETE))),
     "map.segments[1].orig_start", "two pieces of the dub would play at once"),
    (_with("map.segments.0.anchors", 2.5), "map.segments[0].anchors", "not a count"),
]


@pytest.mark.parametrize("doc,field,words", BAD)
def test_a_bad_document_is_refused_naming_its_field(doc, field, words):
    with pytest.raises(MapDocumentError) as e:
        load_map_document(doc)
    assert isinstance(e.value, InputError)          # exit 2, HTTP 400
    assert e.value.field == field
    assert str(e.value).startswith(f"{field}: " if field else "")
    assert words in str(e.value)


@pytest.mark.parametrize("text,words", [
    ("{not json", "not JSON"), ("", "not JSON"), (b"\xff\xfe{", "not UTF-8"),
    ('{"version": 1, "map": {"segments": [{"dub_start": NaN}]}}', "finite")])
def test_text_that_is_not_a_json_map_is_refused(text, words):
    with pytest.raises(MapDocumentError, match=words):
        parse_map_document(text)


def test_the_whole_report_and_its_map_alone_give_the_same_map():
    whole = load_map_document(REPORT)
    alone = load_map_document(MAP)
    assert whole == alone
    assert whole.to_dict()["segments"] == SEGMENTS
    assert (whole.speed, whole.confidence, whole.reasons) == (1.0, 0.95, ())
    # the durations are the files' when known (the document's are not read)
    fitted = load_map_document(json.loads(json.dumps(REPORT)), dub_duration=121.0,
                               orig_duration=115.0)
    assert fitted.to_dict() == MAP


def test_a_hand_written_map_needs_only_the_segments():
    tmap = load_map_document({"segments": [
        {"dub_start": 1.5, "dub_end": 24.0, "offset": -1.5, "speed": 1.0}]})
    (seg,) = tmap.segments
    assert (seg.orig_start, seg.orig_end, seg.confidence) == (0.0, 22.5, 0.0)
    assert (tmap.speed, tmap.confidence) == (1.0, 0.0)
    # a scene moved: out of the original's order is fine, as long as nothing overlaps
    moved = load_map_document({"segments": [
        {"dub_start": 0, "dub_end": 10, "orig_start": 20, "speed": 1},
        {"dub_start": 10, "dub_end": 20, "orig_start": 0, "speed": 1}]})
    assert [s.orig_start for s in moved.segments] == [20.0, 0.0]


@pytest.mark.parametrize("dub_dur,orig_dur,field,words", [
    (100.0, 115.0, "map.segments[1].dub_end", "past the dub's end"),
    (121.0, 110.0, "map.segments[1]", "past its end (110.000 s); end it earlier on the "
                                      "dub (dub_end 115.500 s or less)"),
])
def test_a_map_that_runs_past_a_file_is_refused(dub_dur, orig_dur, field, words):
    tmap = load_map_document(REPORT)
    with pytest.raises(MapDocumentError) as e:
        fit_to_files(tmap, orig_dur, dub_dur)
    assert e.value.field == field and words in str(e.value)
    # within the slack (a frame, an audio packet): accepted, with the files' durations
    ok = fit_to_files(tmap, 114.3, 119.8)
    assert (ok.orig_duration, ok.dub_duration) == (114.3, 119.8)


# ------------------------------------------------------------------ the CLI, end to end

@pytest.fixture(scope="module")
def runs(clips, tmp_path_factory):
    """On the conftest pair (24 s, the dub 1.5 s late): a normal sync, analyze --json, the
    printed JSON given back to sync --map, and the map with every offset +0.100 s."""
    orig, dub = clips
    d = tmp_path_factory.mktemp("mapdoc")
    rc, out, err = run_cli(["analyze", orig, dub, "--json", "-q"])
    assert rc == 0, err
    (d / "a.json").write_text(out)
    doc = json.loads(out)
    for s in doc["map"]["segments"]:
        s["orig_start"] += 0.1
        s["orig_end"] += 0.1
        s["offset"] += 0.1
    (d / "shifted.json").write_text(json.dumps(doc["map"]))       # the map alone
    res = {}
    for name, extra in (("normal", []), ("given", ["--map", d / "a.json"]),
                        ("shifted", ["--map", d / "shifted.json"])):
        rc, out, err = run_cli(["sync", orig, dub, "-o", d / f"{name}.mkv", "--report",
                                d / f"{name}.json", "-q", *extra])
        assert rc == 0, err
        res[name] = {"out": d / f"{name}.mkv", "stdout": out,
                     "report": json.loads((d / f"{name}.json").read_text())}
    res["dir"] = d
    return res


def test_the_printed_map_given_back_places_the_dub_as_the_sync_did(runs):
    normal, given = runs["normal"]["report"], runs["given"]["report"]
    assert len(given["segments"]) == len(normal["segments"]) >= 1
    for a, b in zip(given["segments"], normal["segments"]):
        for key in ("dub_start", "dub_end", "orig_start", "orig_end", "offset", "speed"):
            assert a[key] == pytest.approx(b[key], abs=1e-3), key
    assert given["map_source"] == "given" and "map_source" not in normal
    assert given["reasons"] == [] and given["anchors"] == [] and given["evidence"] is None
    assert given["confidence"] == normal["confidence"]
    # rendered only: no analysis stage ran
    assert not {"extract", "audio_anchors", "speech_anchors", "fit"} & set(given["timings"])
    assert "set by hand" in runs["given"]["stdout"]
    titles = [s.get("tags", {}).get("title") for s in streams(runs["given"]["out"])
              if s["codec_type"] == "audio"]
    assert titles[-1] == "Spanish (SyncDub, map set by hand)"
    # the report of a given map is itself a map document
    again = load_map_document(given)
    assert again.segments == load_map_document(normal).segments


def test_every_offset_plus_100_ms_plays_the_dub_100_ms_later(runs):
    rate = 16000
    normal = decode_mono(runs["normal"]["out"], "0:a:1", rate=rate)
    shifted = decode_mono(runs["shifted"]["out"], "0:a:1", rate=rate)
    lags = [lag_at(normal, shifted, t, rate, half_window=1.0, search=0.3)
            for t in (5.0, 10.0, 15.0, 20.0)]
    assert all(peak > 0.9 for _, peak in lags), lags
    assert np.median([lag for lag, _ in lags]) == pytest.approx(0.100, abs=0.005)
    segs = runs["shifted"]["report"]["segments"]
    assert segs[0]["offset"] == pytest.approx(
        runs["normal"]["report"]["segments"][0]["offset"] + 0.1, abs=1e-6)


def test_cli_a_bad_map_is_exit_2_naming_the_field(clips, tmp_path):
    orig, dub = clips
    out = tmp_path / "out.mkv"
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(_with("map.segments.1.dub_end", 60.0)))
    rc, _, err = run_cli(["sync", orig, dub, "-o", out, "--map", bad, "-q"])
    assert rc == 2 and "map.segments[1].dub_end: 60.000 s is not after" in err
    bad.write_text("{ oops")
    rc, _, err = run_cli(["sync", orig, dub, "-o", out, "--map", bad, "-q"])
    assert rc == 2 and "not JSON" in err
    rc, _, err = run_cli(["sync", orig, dub, "-o", out, "--map", tmp_path / "none.json"])
    assert rc == 2 and "not found" in err
    # a well-formed map that does not fit these files (the dub is 24 s long)
    bad.write_text(json.dumps({"segments": [{"dub_start": 1.5, "dub_end": 40.0,
                                             "offset": -1.5, "speed": 1.0}]}))
    rc, _, err = run_cli(["sync", orig, dub, "-o", out, "--map", bad, "-q"])
    assert rc == 2 and "map.segments[0].dub_end: 40.000 s is past the dub's end" in err
    # several dubs: a map is one dub's
    bad.write_text(json.dumps(MAP))
    rc, _, err = run_cli(["sync", orig, dub, dub, "-o", out, "--map", bad, "-q"])
    assert rc == 2 and "one dub only" in err
    assert not out.exists() and list(tmp_path.iterdir()) == [bad]
