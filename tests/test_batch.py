"""Season batches, the run (app/services/batch.py, `python -m app batch ... -o OUT_DIR`).

Three tiny episodes made once for the module (tests/helpers/films.py): each its own bed
(seed per episode), an original (video + FLAC, `Show.S01E0N.720p.mkv`) and a dub (the
same bed 1 s late, AAC, `Serie - 1x0N.mka`). The engine runs with audio evidence only
(--mode audio: no speech models). Swapping two dubs' names must get both refused by the
engine, the third still written.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest

from app.services import batch
from app.services.pairing import Pair, Pairing, Unpaired
from tests.helpers import films as mf
from tests.helpers.cli import listing, run_cli

SECONDS = 24.0
AAC = ["-c:a", "aac", "-b:a", "96k"]
# Beds the engine aligns at 24 s (seed 43's, sparse at this length, is refused even
# against its own dub: --mode audio finds no stretch to match).
SEEDS = (41, 42, 44)


@pytest.fixture(scope="module")
def season(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("season")
    src, o, d = root / "src", root / "orig", root / "dub"
    for f in (src, o, d):
        f.mkdir()
    for n, seed in zip((1, 2, 3), SEEDS):
        bed = mf.make_bed(src / f"bed{n}.wav", SECONDS, seed=seed)
        mf.make_film(o / f"Show.S01E0{n}.720p.mkv", bed, None, video_rate="12")
        mf.make_dub(d / f"Serie - 1x0{n}.mka", bed, None, lead_in=1.0, audio_codec=AAC)
    (o / "Show.S01E04.720p.mkv").write_bytes(b"x")        # no dub: unpaired, not an error
    shutil.rmtree(src)
    return {"root": root, "orig": o, "dub": d}


def _swapped(season, tmp: Path) -> Path:
    """The dub folder with 1x01 and 1x02 swapped by name (hard links: no copying)."""
    d = tmp / "dub_swapped"
    d.mkdir()
    names = {"Serie - 1x01.mka": "Serie - 1x02.mka", "Serie - 1x02.mka": "Serie - 1x01.mka",
             "Serie - 1x03.mka": "Serie - 1x03.mka"}
    for src, dst in names.items():
        (d / dst).hardlink_to(season["dub"] / src)
    return d


def test_batch_writes_one_mkv_per_episode_named_after_the_original(season, tmp_path):
    out, rep = tmp_path / "out", tmp_path / "r" / "batch.json"
    rc, stdout, err = run_cli(["batch", season["orig"], season["dub"], "-o", out,
                               "--report", rep, "--mode", "audio", "-q"])
    assert rc == 0, stdout + err
    assert listing(out) == [f"Show.S01E0{n}.720p.mkv" for n in (1, 2, 3)]
    lines = stdout.splitlines()
    for n in (1, 2, 3):
        line = next(l for l in lines if l.startswith(f"S01E0{n}  "))
        assert line.split()[1] == "written" and line.endswith(
            f"-> {out / f'Show.S01E0{n}.720p.mkv'}"), line
        assert float(line.split()[3]) >= 0.5                      # conf 0.xx
    assert any(l.startswith("summary    3 written, 0 refused, 0 failed (of 3 paired); "
                            "1 unpaired") for l in lines)
    assert "Show.S01E04.720p.mkv: reads S01E04" in stdout        # listed, not an error
    doc = json.loads(rep.read_text())
    assert [e["status"] for e in doc["episodes"]] == ["written"] * 3
    assert [Path(e["output"]).name for e in doc["episodes"]] == listing(out)
    assert doc["episodes"][0]["dub"].endswith("Serie - 1x01.mka")
    assert doc["episodes"][0]["report"]["confidence"] == doc["episodes"][0]["confidence"]
    assert [Path(u["path"]).name for u in doc["unpaired_originals"]] == ["Show.S01E04.720p.mkv"]
    assert doc["summary"] == {"written": 3, "refused": 0, "failed": 0, "not run": 0}
    assert not doc["stopped"] and doc["ambiguous"] == []
    assert listing(rep.parent) == ["batch.json"]                   # no .part left

    # Again: the outputs exist -> exit 2 before anything runs; --force is not tested
    # here (a whole second run), check_outputs is.
    rc, _o, err = run_cli(["batch", season["orig"], season["dub"], "-o", out, "-q"])
    assert rc == 2 and "already exist" in err and "--force" in err


def test_swapped_dubs_are_refused_the_third_written(season, tmp_path):
    dubs = _swapped(season, tmp_path)
    out, rep = tmp_path / "out", tmp_path / "batch.json"
    rc, stdout, err = run_cli(["batch", season["orig"], dubs, "-o", out, "--report", rep,
                               "--mode", "audio", "-q"])
    assert rc == 3, stdout + err
    assert listing(out) == ["Show.S01E03.720p.mkv"]                # nothing else, no temp
    lines = stdout.splitlines()
    for n in (1, 2):
        line = next(l for l in lines if l.startswith(f"S01E0{n}  "))
        assert line.startswith(f"S01E0{n}  refused: "), line
        assert line.endswith(f"(Show.S01E0{n}.720p.mkv <- Serie - 1x0{n}.mka)"), line
    assert next(l for l in lines if l.startswith("S01E03  ")).split()[1] == "written"
    assert any(l.startswith("summary    1 written, 2 refused, 0 failed") for l in lines)
    assert "refused episodes: S01E01, S01E02" in err
    doc = json.loads(rep.read_text())
    by = {e["label"]: e for e in doc["episodes"]}
    for k in ("S01E01", "S01E02"):
        assert by[k]["status"] == "refused" and by[k]["output"] is None
        assert by[k]["reasons"] and by[k]["message"]
    assert by["S01E03"]["status"] == "written"


def test_bad_input_exits_2(season, tmp_path):
    o, d = season["orig"], season["dub"]
    rc, out, err = run_cli(["batch", o, d])
    assert rc == 2 and "-o OUT_DIR" in err and out == ""
    rc, _o, err = run_cli(["batch", o, tmp_path / "missing", "-o", tmp_path / "out"])
    assert rc == 2 and "does not exist" in err
    empty = tmp_path / "empty"
    empty.mkdir()
    rc, _o, err = run_cli(["batch", o, empty, "-o", tmp_path / "out"])
    assert rc == 2 and "nothing to pair" in err
    other = tmp_path / "other"
    other.mkdir()
    (other / "Serie - 1x09.mka").write_bytes(b"x")
    rc, _o, err = run_cli(["batch", o, other, "-o", tmp_path / "out"])
    assert rc == 2 and "no episode could be paired" in err
    assert not (tmp_path / "out").exists()


# ------------------------------------------------------------------ the service, no media

def _pairing(tmp: Path) -> Pairing:
    o, d = tmp / "o", tmp / "d"
    o.mkdir()
    d.mkdir()
    pairs = []
    for n in (1, 2):
        (o / f"Show.S01E0{n}.mp4").write_bytes(b"x")
        (d / f"Serie {n}.avi").write_bytes(b"x")
        pairs.append(Pair(o / f"Show.S01E0{n}.mp4", d / f"Serie {n}.avi", "name",
                          f"S01E0{n}"))
    return Pairing(tuple(pairs), (), (Unpaired(d / "extra.avi", "no number"),), ())


def test_check_outputs_exists_force_and_inputs(tmp_path):
    pairing = _pairing(tmp_path)
    out = tmp_path / "out"
    batch.check_outputs(pairing, out, force=False)                 # nothing there: fine
    assert not out.exists()
    out.mkdir()
    (out / "Show.S01E02.mkv").write_bytes(b"old")
    with pytest.raises(batch.InputError, match=r"1 output\(s\) already exist.*--force"):
        batch.check_outputs(pairing, out, force=False)
    batch.check_outputs(pairing, out, force=True)
    # The originals' own folder as OUT_DIR with .mkv originals: never overwritten.
    mk = Pairing((Pair(tmp_path / "o" / "A.S01E01.mkv", tmp_path / "d" / "b.avi", "name",
                       "S01E01"),), (), (), ())
    (tmp_path / "o" / "A.S01E01.mkv").write_bytes(b"x")
    with pytest.raises(batch.InputError, match="overwrite an input"):
        batch.check_outputs(mk, tmp_path / "o", force=True)
    # Two originals with one stem would write one file.
    two = Pairing((Pair(tmp_path / "A.mp4", tmp_path / "x.avi", "duration", "d"),
                   Pair(tmp_path / "A.avi", tmp_path / "y.avi", "duration", "d")), (), (), ())
    with pytest.raises(batch.InputError, match="would both be written"):
        batch.check_outputs(two, out, force=True)


def test_run_batch_statuses_callbacks_and_stop(tmp_path, monkeypatch):
    """run_sync replaced (the engine is tested elsewhere): a refusal and a failure do not
    stop the others, callback errors are ignored, Ctrl-C stops after the episode under way
    with the rest `not run`."""
    from app.errors import AlignmentError, MediaError
    from app.services.types import SyncResult
    from config import EngineSettings

    pairing = _pairing(tmp_path)
    pairing = Pairing(pairing.pairs + (Pair(tmp_path / "o" / "Show.S01E03.mp4",
                                            tmp_path / "d" / "Serie 3.avi", "duration",
                                            "duration 1.0 s vs 1.0 s, the only fit"),),
                      (), pairing.unpaired_dubs, ())
    outcomes = iter([AlignmentError("not the same film", ["few anchors"]),
                     MediaError("ffmpeg broke"), None])
    seen: list[str] = []
    report = SimpleNamespace(reasons=[])          # what run_batch reads of a SyncReport

    def fake_run_sync(req, settings, progress=None, cancel=None):
        progress(batch.Progress("audio", 0.5, 0.2, "x"))
        e = next(outcomes)
        if e is not None:
            raise e
        Path(req.output).write_bytes(b"mkv")
        return SyncResult(Path(req.output), 0.9, 1.0, report)  # type: ignore[arg-type]

    def boom(_):
        raise RuntimeError("callback bug")

    def written(ep):
        seen.append(ep.status)
        if ep.status == "written":
            raise RuntimeError("callback bug")

    monkeypatch.setattr(batch.sync_service, "run_sync", fake_run_sync)
    res = batch.run_batch(pairing, tmp_path / "out", EngineSettings(), progress=boom,
                          on_episode=written)
    assert [e.status for e in res.episodes] == ["refused", "failed", "written"] == seen
    assert res.episodes[0].reasons == ("few anchors",) and res.episodes[0].output is None
    assert res.episodes[1].message == "ffmpeg broke"
    assert res.episodes[2].output == tmp_path / "out" / "Show.S01E03.mkv"
    assert res.episodes[2].label == "Show.S01E03.mp4"               # paired by duration
    assert not res.stopped

    calls = []

    def interrupted(req, settings, progress=None, cancel=None):
        calls.append(req.original.name)
        raise KeyboardInterrupt

    monkeypatch.setattr(batch.sync_service, "run_sync", interrupted)
    res = batch.run_batch(pairing, tmp_path / "out2", EngineSettings())
    assert res.stopped and calls == ["Show.S01E01.mp4"]
    assert [e.status for e in res.episodes] == ["not run"] * 3
    doc = json.loads(res.to_json())
    assert doc["summary"]["not run"] == 3 and doc["stopped"] is True
    assert [u["path"] for u in doc["unpaired_dubs"]] == [str(tmp_path / "d" / "extra.avi")]
    batch.write_batch_report(tmp_path / "rep" / "b.json", res)
    assert listing(tmp_path / "rep") == ["b.json"]

    # Cancelled raised by a callback stops the batch, as a cancelled job does
    # (progress.safe_call), after the episode it came from.
    from app.errors import Cancelled

    outcomes = iter([None, None, None])

    def stop(_):
        raise Cancelled("stopped by the caller")
    monkeypatch.setattr(batch.sync_service, "run_sync", fake_run_sync)
    res = batch.run_batch(pairing, tmp_path / "out3", EngineSettings(), on_episode=stop)
    assert res.stopped
    assert [e.status for e in res.episodes] == ["written", "not run", "not run"]


def test_cli_ctrl_c_stops_writes_the_report_exits_130(season, tmp_path, monkeypatch):
    """Ctrl-C during the second episode (run_sync replaced): the first stays written,
    the rest `not run`, the report says so; exit 130."""
    from app.services.types import SyncResult
    calls = []

    def fake(req, settings, progress=None, cancel=None):
        calls.append(req.original.name)
        if len(calls) == 2:
            raise KeyboardInterrupt
        Path(req.output).write_bytes(b"mkv")
        return SyncResult(Path(req.output), 0.9, 1.0,
                          SimpleNamespace(reasons=[], to_dict=lambda: {}))  # type: ignore

    monkeypatch.setattr(batch.sync_service, "run_sync", fake)
    out, rep = tmp_path / "out", tmp_path / "b.json"
    rc, stdout, err = run_cli(["batch", season["orig"], season["dub"], "-o", out,
                               "--report", rep, "-q"])
    assert rc == 130 and "interrupted" in err
    assert listing(out) == ["Show.S01E01.720p.mkv"]
    assert "summary    1 written, 0 refused, 0 failed, 2 not run" in stdout
    doc = json.loads(rep.read_text())
    assert doc["stopped"] and [e["status"] for e in doc["episodes"]] == [
        "written", "not run", "not run"]
