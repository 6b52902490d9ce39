"""The job service (app/submit.py): a job's input folder, its files and its clean-up, with
real files in temp folders; the routes that call it through the Flask test client."""
from __future__ import annotations

import io
import re
import threading
from dataclasses import replace
from pathlib import Path

import pytest
from werkzeug.datastructures import FileStorage

from app import create_app
from app.errors import InputError
from app.jobs import JobRunner
from app.services.types import GAP_FILLS, MODES, SyncResult
from app.submit import (JOB_INPUTS, JobOptions, JobSubmitter, input_dir, input_file,
                        new_job_id)
from app.uploads import ChunkedUploads
from app.utils.file_utils import PathNotFound
from config import load_settings

BYTES = {"original": b"\x1a\x45\xdf\xa3original" * 100, "dubbed": b"\x1a\x45\xdf\xa3dub" * 70}


class GatedEngine:
    """Holds every job in `processing` until `release` is set, then writes the output."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.requests = []

    def __call__(self, request, settings, progress=None, cancel=None) -> SyncResult:
        self.requests.append(request)
        self.release.wait(10)
        request.output.write_bytes(b"mkv")
        return SyncResult(output=request.output, confidence=0.9, speed=1.0,
                          report={"segments": [], "reasons": []})


def _settings(tmp: Path, **overrides):
    s = load_settings({}, dotenv=False, uploads_dir=tmp / "uploads", output_dir=tmp / "output",
                      data_dir=tmp / "data", **overrides)
    return replace(s, engine=replace(s.engine, models_dir=tmp / "models"))


@pytest.fixture
def engine():
    engine = GatedEngine()
    yield engine
    engine.release.set()


@pytest.fixture
def media(tmp_path):
    root = tmp_path / "media"
    (root / "Film").mkdir(parents=True)
    for role, data in BYTES.items():
        (root / "Film" / f"{role}.mkv").write_bytes(data)
    return root


@pytest.fixture
def parts(tmp_path):
    """Files standing in for parsed multipart parts: real files on disk, opened."""
    opened = []

    def make(role: str, filename: str) -> FileStorage:
        path = tmp_path / "incoming" / f"part-{role}"
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(BYTES[role])
        stream = open(path, "rb")
        opened.append(stream)
        return FileStorage(stream=stream, filename=filename)

    yield make
    for stream in opened:
        stream.close()


@pytest.fixture
def service(tmp_path, media, engine):
    settings = _settings(tmp_path, media_source_enabled=True, media_source_path=media)
    runner = JobRunner(settings, engine=engine)
    uploads = ChunkedUploads(settings.uploads_dir, settings.max_content_length,
                             settings.allowed_extensions)
    yield JobSubmitter(settings, runner, uploads)
    engine.release.set()
    runner.shutdown(wait=True)


def _jobs_folder(service: JobSubmitter) -> list[Path]:
    root = Path(service.settings.uploads_dir) / JOB_INPUTS
    return sorted(root.iterdir()) if root.is_dir() else []


def _finished_upload(uploads: ChunkedUploads, name: str, data: bytes) -> str:
    info = uploads.create(name, len(data))
    uploads.write(info.upload_id, 0, len(data), len(data), io.BytesIO(data))
    uploads.finish(info.upload_id)
    return info.upload_id


# -- the folder layout -------------------------------------------------------------------
def test_layout_is_uploads_jobs_id_role_dot_extension(tmp_path):
    job_id = new_job_id()
    assert re.fullmatch(r"[0-9a-f]{12}", job_id) and new_job_id() != job_id
    folder = input_dir(tmp_path, job_id)
    assert folder == tmp_path / "jobs" / job_id
    assert input_file(folder, "dubbed", "Film.ES.MKV") == folder / "dubbed.mkv"


# -- options -----------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs, message", [
    ({"mode": "fast"}, "mode='fast': use one of auto, audio, speech."),
    ({"gap_fill": "music"}, "gap_fill='music': use one of silence, original."),
    ({"custom_name": "x" * 201}, "custom_name is too long (200 characters at most)."),
])
def test_options_refuse_what_the_engine_does_not_know(kwargs, message):
    with pytest.raises(InputError) as e:
        JobOptions(**kwargs)
    assert str(e.value) == message


def test_every_declared_choice_is_accepted():
    for mode in MODES:
        for gap in GAP_FILLS:
            assert JobOptions(mode=mode, gap_fill=gap).mode == mode


# -- multipart parts ---------------------------------------------------------------------
def test_parts_are_moved_into_the_jobs_folder(service, parts, engine):
    original = parts("original", "Film (2001).MKV")
    dubbed = parts("dubbed", "Film.ES.mkv")
    job = service.from_parts(original, dubbed, JobOptions("Mine", "audio", "original"))
    folder = input_dir(service.settings.uploads_dir, job.id)
    assert _jobs_folder(service) == [folder]
    assert (folder / "original.mkv").read_bytes() == BYTES["original"]
    assert (folder / "dubbed.mkv").read_bytes() == BYTES["dubbed"]
    assert not Path(original.stream.name).exists()     # moved, not copied
    stored = service.runner.get(job.id)
    assert (stored.source, stored.input_dir) == ("upload", str(folder))
    assert (stored.original_path, stored.dubbed_path) == (str(folder / "original.mkv"),
                                                          str(folder / "dubbed.mkv"))
    assert (stored.original_name, stored.dubbed_name) == ("Film (2001).MKV", "Film.ES.mkv")
    assert (stored.custom_name, stored.mode, stored.gap_fill) == ("Mine", "audio", "original")


@pytest.mark.parametrize("which, message", [
    ("original", "Missing file field 'original_video' (the original video)."),
    ("dubbed", "Missing file field 'dubbed_video' (the dubbed video)."),
])
def test_a_missing_part_queues_nothing(service, parts, which, message):
    given = {role: parts(role, f"{role}.mkv") for role in BYTES if role != which}
    with pytest.raises(InputError) as e:
        service.from_parts(given.get("original"), given.get("dubbed"), JobOptions())
    assert str(e.value) == message
    assert _jobs_folder(service) == [] and service.runner.list() == []


def test_a_part_with_a_refused_extension_queues_nothing(service, parts):
    with pytest.raises(InputError, match="'film.exe' has 'exe'"):
        service.from_parts(parts("original", "film.exe"), parts("dubbed", "b.mkv"),
                           JobOptions())
    assert _jobs_folder(service) == [] and service.runner.list() == []


def test_a_runner_that_refuses_leaves_no_input_folder(service, parts, monkeypatch):
    def refuse(job):
        raise OSError("disk full")
    monkeypatch.setattr(service.runner, "submit", refuse)
    with pytest.raises(OSError):
        service.from_parts(parts("original", "a.mkv"), parts("dubbed", "b.mkv"), JobOptions())
    assert _jobs_folder(service) == []


# -- chunked uploads ---------------------------------------------------------------------
def test_finished_uploads_are_taken_into_the_jobs_folder(service):
    original = _finished_upload(service.uploads, "Original Film.mkv", BYTES["original"])
    dubbed = _finished_upload(service.uploads, "dub.webm", BYTES["dubbed"])
    job = service.from_uploads(original, dubbed, JobOptions())
    folder = input_dir(service.settings.uploads_dir, job.id)
    assert (folder / "original.mkv").read_bytes() == BYTES["original"]
    assert (folder / "dubbed.webm").read_bytes() == BYTES["dubbed"]
    assert (job.original_name, job.dubbed_name) == ("Original Film.mkv", "dub.webm")
    assert (job.source, job.input_dir) == ("upload", str(folder))
    assert not any(service.uploads.root.iterdir())          # both uploads consumed


def test_an_unfinished_upload_queues_nothing_and_keeps_both(service):
    original = _finished_upload(service.uploads, "a.mkv", BYTES["original"])
    dubbed = service.uploads.create("b.mkv", 10).upload_id
    with pytest.raises(InputError) as e:
        service.from_uploads(original, dubbed, JobOptions())
    assert str(e.value) == f"Upload {dubbed} (dubbed_upload) is not finished."
    assert service.uploads.info(original).complete                # still there
    assert _jobs_folder(service) == [] and service.runner.list() == []
    with pytest.raises(InputError, match="Missing field 'dubbed_upload'"):
        service.from_uploads(original, "", JobOptions())


def test_uploads_taken_then_refused_leave_no_input_folder(service, monkeypatch):
    original = _finished_upload(service.uploads, "a.mkv", BYTES["original"])
    dubbed = _finished_upload(service.uploads, "b.mkv", BYTES["dubbed"])

    def refuse(job):
        raise OSError("disk full")
    monkeypatch.setattr(service.runner, "submit", refuse)
    with pytest.raises(OSError):
        service.from_uploads(original, dubbed, JobOptions())
    assert _jobs_folder(service) == []


# -- the media folder --------------------------------------------------------------------
def test_media_files_are_used_where_they_are(service, media):
    job = service.from_media("Film/original.mkv", "Film/dubbed.mkv", JobOptions(mode="speech"))
    assert (job.source, job.input_dir, job.mode) == ("media", None, "speech")
    assert job.original_path == str((media / "Film" / "original.mkv").resolve())
    assert (job.original_name, job.dubbed_name) == ("original.mkv", "dubbed.mkv")
    assert _jobs_folder(service) == []


def test_media_refusals(service, tmp_path):
    with pytest.raises(InputError, match="^Missing field 'original_path'.$"):
        service.from_media("", "Film/dubbed.mkv", JobOptions())
    with pytest.raises(InputError, match="same file"):
        service.from_media("Film/dubbed.mkv", "Film/../Film/dubbed.mkv", JobOptions())
    off = JobSubmitter(_settings(tmp_path / "off"), service.runner, service.uploads)
    with pytest.raises(PathNotFound) as e:
        off.from_media("", "", JobOptions())   # the folder's state is said before the fields
    assert str(e.value) == "The media folder is not enabled (MEDIA_SOURCE_ENABLED=false)."
    assert service.runner.list() == []


# -- the routes that call it ---------------------------------------------------------------
@pytest.fixture
def client(tmp_path, engine):
    app = create_app({"SETTINGS": _settings(tmp_path), "SYNC_ENGINE": engine,
                      "TESTING": True})
    yield app.test_client()
    engine.release.set()
    app.extensions["jobs"].shutdown(wait=True)


def test_upload_route_puts_the_parts_in_the_jobs_folder(client, tmp_path, engine):
    r = client.post("/api/upload", content_type="multipart/form-data", data={
        "original_video": (io.BytesIO(BYTES["original"]), "Film.mkv"),
        "dubbed_video": (io.BytesIO(BYTES["dubbed"]), "Film.ES.mp4"), "mode": " Speech "})
    assert r.status_code == 202, r.get_json()
    task_id = r.get_json()["task_id"]
    folder = input_dir(tmp_path / "uploads", task_id)
    assert sorted(p.name for p in folder.iterdir()) == ["dubbed.mp4", "original.mkv"]
    assert client.get(f"/api/status/{task_id}").get_json()["mode"] == "speech"
    engine.release.set()


def test_sync_route_with_the_media_folder_off(client):
    r = client.post("/api/sync", json={"original_path": "a.mkv", "dubbed_path": "b.mkv"})
    assert r.status_code == 404
    assert r.get_json() == {"error": "not_found", "message": "The media folder is not "
                                                             "enabled (MEDIA_SOURCE_ENABLED=false)."}
    assert client.get("/api/media/list").get_json() == r.get_json()


def test_the_upload_page_offers_the_declared_choices(client):
    page = client.get("/upload").get_data(as_text=True)
    for value in (*MODES, *GAP_FILLS):
        assert f'<option value="{value}"' in page
    assert re.search(r'<option value="auto" selected>', page)
    assert re.search(r'<option value="silence" selected>', page)
