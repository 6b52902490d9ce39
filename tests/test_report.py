"""The report as a type: SyncReport's JSON form keeps the keys the API and the CLI have
always given, leaves out the sections that did not happen, and is written by one writer;
AlignmentDiagnostics leaves out figures that were not measured."""
from __future__ import annotations

import json
from dataclasses import replace

from app.services.align import AlignmentDiagnostics
from app.services.sync_service import write_report
from app.services.types import (Anchor, Languages, PhrasePair, RenderInfo, ReportStreams,
                                SyncReport)

# The keys of an analysis report, in order (what `analyze --json` has printed since
# version 1).
ANALYSIS_KEYS = ["version", "original", "dub", "mode", "gap_fill", "speed", "speed_hint",
                 "confidence", "reasons", "map", "segments", "cuts", "inserts", "anchors",
                 "anchor_count", "languages", "phrase_pairs", "speech", "evidence",
                 "diagnostics", "streams", "output", "timings"]


def a_report(**changes) -> SyncReport:
    fields = dict(
        original="/films/o.mkv", dub="/films/d.avi", mode="auto", gap_fill="silence",
        speed=1.0, speed_hint=None, confidence=0.97, reasons=[],
        segments=[{"dub_start": 2.0, "dub_end": 60.0, "orig_start": 0.0, "speed": 1.0}],
        inserts=[[0.0, 2.0]], anchors=[Anchor(10.0, 8.0, 14.5, "audio")], anchor_count=1,
        languages=Languages("eng", "spa"),
        phrase_pairs=[PhrasePair(3.0, 4.0, "hola", 1.0, 2.0, "hello", 0.8)],
        streams=ReportStreams(0, 0, "aac", 2), timings={"probe": 0.1})
    fields.update(changes)
    return SyncReport(**fields)


def test_analysis_report_has_the_version_1_keys_and_nested_values_as_json():
    d = a_report().to_dict()
    assert list(d) == ANALYSIS_KEYS
    assert d["version"] == 1 and d["speed_hint"] is None and d["output"] is None
    assert d["anchors"] == [{"dub_t": 10.0, "orig_t": 8.0, "score": 14.5, "source": "audio"}]
    assert d["languages"] == {"original": "eng", "dub": "spa"}
    assert d["phrase_pairs"][0]["dub_text"] == "hola"
    assert d["streams"] == {"original_audio": 0, "dub_audio": 0, "dub_codec": "aac",
                            "dub_channels": 2}
    assert json.loads(a_report().to_json()) == d


def test_written_and_probe_sections_appear_only_when_set():
    written = a_report(output="/out/film.mkv",
                       render=RenderInfo(reencoded=False, codec="aac")).to_dict()
    assert list(written) == ANALYSIS_KEYS + ["render"]
    assert written["render"] == {"reencoded": False, "codec": "aac"}
    probe = SyncReport(original="o", dub="d", reasons=["the dialogue does not match"],
                       speech_probe={"dub_region": [0.0, 300.0], "pairs": [
                           PhrasePair(1.0, 2.0, "sí", 5.0, 6.0, "yes", 0.4)]}).to_dict()
    assert list(probe) == ANALYSIS_KEYS + ["speech_probe"]
    assert probe["map"] is None and probe["segments"] == [] and probe["confidence"] == 0.0
    assert probe["speech_probe"]["pairs"][0]["orig_text"] == "yes"


def test_diagnostics_leave_out_what_was_not_measured():
    diag = AlignmentDiagnostics(speed_scan=1.0, speed_windows=1.0, cluster_offsets=[0.5],
                                decoded_runs=[[0.0, 100.0, 0.5, 300.0]], slots=26,
                                clusters=1, runs=1, coverage=0.96, median_z=14.2,
                                residual_ms=1.3, speed=1.0, holes=[])
    assert list(diag.to_dict()) == ["speed_scan", "speed_windows", "cluster_offsets",
                                    "decoded_runs", "slots", "clusters", "runs", "coverage",
                                    "median_z", "residual_ms", "speed", "holes"]
    assert diag.coverage == 0.96 and diag.residual_ms == 1.3
    full = replace(diag, speed_scan_score=21.0, edges=[], picture={"segments": []})
    keys = list(full.to_dict())
    assert keys[0] == "speed_scan_score" and keys[-2:] == ["picture", "edges"]


def test_write_report_is_atomic_and_the_json_form(tmp_path):
    path = tmp_path / "reports" / "r.json"
    report = a_report()
    write_report(path, report)
    assert json.loads(path.read_text()) == report.to_dict()
    assert [p.name for p in path.parent.iterdir()] == ["r.json"]     # no .r.json.part left
    write_report(None, report)                                       # no path: nothing
