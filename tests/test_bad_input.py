"""Bad input (issue 10, point 5): each case gets a clear error that says what to do and
leaves nothing behind. The CLI cases run the real engine and real ffmpeg on small
generated films; the API cases run the app (fake engine: they are about the web layer)."""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from app.cli import main
from app.services import media
from tests.helpers.cli import listing, run_module
from tests.helpers.media import ffmpeg, streams
from tests.helpers.web import MKV_HEAD, FakeEngine, app_for, assert_error, make_settings


@pytest.fixture
def pair(clips) -> tuple[Path, Path]:
    """original.mkv and dubbed.mkv (24 s, the dub 1.5 s late; tests/conftest.py)."""
    return clips


@pytest.fixture(scope="module")
def silent(tmp_path_factory) -> Path:
    """150 s of digital silence (AAC stereo) with a small video, in Matroska."""
    path = tmp_path_factory.mktemp("silent") / "silent.mkv"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=s=64x36:r=5:d=150",
           "-f", "lavfi", "-i", "anullsrc=r=48000:cl=stereo", "-t", "150",
           "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", str(path))
    return path


def _streams(path: Path) -> list[str]:
    return [s["codec_type"] for s in streams(path.absolute())]


# -- file names that look like options or protocols -------------------------------------
def test_names_beginning_with_a_dash_are_files_not_options(pair, tmp_path):
    """`-x.mkv` after `--`, a dub named like a protocol (`-d:es.mkv`) and an output named
    `-out:es.mkv`, all relative to the working folder: read and written as files."""
    orig, dub = pair
    shutil.copy(orig, tmp_path / "-x.mkv")
    shutil.copy(dub, tmp_path / "-d:es.mkv")
    r = run_module(["analyze", "--mode", "audio", "-q", "--", "-x.mkv", "-d:es.mkv"],
                   cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "Missing argument" not in r.stderr and "segment" in r.stdout, r.stdout
    r = run_module(["sync", "--mode", "audio", "-q", "--output=-out:es.mkv", "--",
                    "-x.mkv", "-d:es.mkv"], cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert listing(tmp_path) == ["-d:es.mkv", "-out:es.mkv", "-x.mkv"]   # no .part left
    kinds = _streams(tmp_path / "-out:es.mkv")
    assert kinds.count("video") == 1 and kinds.count("audio") == 2, kinds


# -- where the results go ------------------------------------------------------------------
def _no_probe(monkeypatch):
    """Any look at the inputs fails the test: the output is checked before them."""
    def boom(*a, **k):
        raise AssertionError("the inputs were read before the output folder was checked")
    monkeypatch.setattr(media, "probe", boom)


@pytest.mark.parametrize("where", ["system", "file"])
def test_output_folder_that_cannot_be_written_exits_2_first(where, pair, tmp_path, capsys,
                                                             monkeypatch):
    notes = tmp_path / "notes.txt"
    notes.write_text("a file, not a folder")
    out = Path("/sys/x.mkv") if where == "system" else notes / "sub" / "x.mkv"
    _no_probe(monkeypatch)
    rc = main(["sync", str(pair[0]), str(pair[1]), "-o", str(out), "-q"])
    err = capsys.readouterr().err
    assert rc == 2, err
    assert err.startswith("error: cannot write the output") and str(out) in err, err
    assert ("is a file, not a folder" if where == "file" else "folder you can write") in err
    assert "Traceback" not in err
    assert listing(tmp_path) == ["notes.txt"]


def test_report_that_cannot_be_written_exits_2(pair, tmp_path, capsys, monkeypatch):
    (tmp_path / "notes.txt").write_text("x")
    _no_probe(monkeypatch)
    rc = main(["analyze", str(pair[0]), str(pair[1]), "--report",
               str(tmp_path / "notes.txt" / "r.json"), "-q"])
    err = capsys.readouterr().err
    assert rc == 2 and "cannot write the report" in err and "notes.txt" in err, err


def test_a_missing_output_folder_is_made_only_when_something_is_written(pair, tmp_path,
                                                                        capsys):
    """The check makes nothing: a refused or failed run leaves no new empty folder."""
    out = tmp_path / "new" / "deeper" / "x.mkv"
    rc = main(["sync", str(pair[0]), str(tmp_path / "missing.mkv"), "-o", str(out), "-q"])
    assert rc == 2 and "not found" in capsys.readouterr().err
    assert listing(tmp_path) == []


# -- silence ---------------------------------------------------------------------------------
@pytest.mark.parametrize("role", ["dub", "original"])
def test_a_silent_track_exits_2_saying_there_is_no_sound(role, pair, silent, tmp_path,
                                                         capsys):
    """Default mode (auto): refused right after decoding, before any transcription."""
    orig, dub = (pair[0], silent) if role == "dub" else (silent, pair[1])
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    rc = main(["sync", str(orig), str(dub), "-o", str(out_dir / "x.mkv"), "-q"])
    err = capsys.readouterr().err
    assert rc == 2, err
    assert "silent.mkv" in err and "no sound to match" in err, err
    assert listing(out_dir) == []


def test_a_snippet_past_the_end_is_empty_not_an_ffmpeg_error(pair):
    """The speech probe asks for the original around the dub's middle; when the original
    is much shorter that window has no length (ffmpeg would fail on a negative -t)."""
    info = media.probe(pair[0])
    got = media.read_snippet(info.path, info.audio[0], 200.0, -160.0)
    assert isinstance(got, np.ndarray) and got.size == 0


# -- API: NUL bytes, overlong paths, numbers for paths ----------------------------------------
@pytest.fixture
def media_client(tmp_path):
    root = tmp_path / "media"
    root.mkdir()
    for name in ("Film.mkv", "Dub.mkv"):
        (root / name).write_bytes(MKV_HEAD)
    s = make_settings(tmp_path, media_source_enabled=True, media_source_path=root)
    with app_for(s, FakeEngine()) as app:
        yield app.test_client()


BAD_PATHS = [("a\x00b.mkv", "NUL"), ("x" * 5000 + ".mkv", "too long"),
             ("y" * 300 + ".mkv", "cannot be used")]


@pytest.mark.parametrize("value,words", BAD_PATHS)
def test_media_list_bad_path_is_400_naming_it(media_client, value, words):
    body = assert_error(media_client.get("/api/media/list", query_string={"path": value}),
                        400, "bad_input")
    assert words in body["message"] and len(body["message"]) < 300, body
    assert body["message"].startswith("path ") or body["message"].startswith("The folder ")


@pytest.mark.parametrize("field", ["original_path", "dubbed_path"])
@pytest.mark.parametrize("value,words", [*BAD_PATHS, (12, "must be a string"),
                                         (["Film.mkv"], "must be a string")])
def test_sync_bad_path_is_400_naming_the_field(media_client, field, value, words):
    data = {"original_path": "Film.mkv", "dubbed_path": "Dub.mkv", field: value}
    body = assert_error(media_client.post("/api/sync", json=data), 400, "bad_input")
    assert words in body["message"] and len(body["message"]) < 300, body
    # the document's checks name the field; the disk's (a name over 255 bytes) the file
    what = field if words != "cannot be used" else field.replace("_path", "") + " video"
    assert what in body["message"], body
    assert media_client.get("/api/tasks").get_json()["tasks"] == []      # nothing queued


@pytest.mark.parametrize("url,data,field", [
    ("/api/uploads", {"filename": 5, "size": 10}, "filename"),
    ("/api/uploads", {"filename": "a.mkv", "size": "ten"}, "size"),
    ("/api/sync", {"original_path": "Film.mkv", "dubbed_path": "Dub.mkv",
                   "custom_name": ["x"]}, "custom_name"),
    ("/api/sync", {"original_upload": 7, "dubbed_upload": "x"}, "original_upload"),
])
def test_wrong_types_in_any_body_are_400(media_client, url, data, field):
    body = assert_error(media_client.post(url, json=data), 400, "bad_input")
    assert body["message"].startswith(field), body


def test_wrong_types_in_query_strings_are_400(media_client):
    body = assert_error(media_client.get("/api/tasks?limit=ten"), 400, "bad_input")
    assert "limit" in body["message"]
    assert media_client.get("/api/tasks?limit=5").status_code == 200
