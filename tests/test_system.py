"""Model status: the engine says whether and where its Whisper model is
(transcribe.model_status), and the health check and system page (app.system) report
that answer instead of working it out again.

Model folders are made in tmp_path: a joined bundled model is a sparse model.bin of the
right size, so nothing here reads or writes the real 145 MB of weights.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

from app import system
from app.errors import ModelError
from app.services import transcribe as tr
from config import EngineSettings, Settings

ROOT = Path(__file__).resolve().parent.parent


def _ct2_folder(path: Path, size: int = 1) -> Path:
    path.mkdir(parents=True)
    with open(path / "model.bin", "wb") as f:
        f.truncate(size)
    for name in ("config.json", "tokenizer.json", "vocabulary.txt"):
        (path / name).write_text("{}")
    return path


def test_bundled_model_not_joined_yet_comes_from_the_packages(tmp_path):
    status = tr.model_status(EngineSettings(models_dir=tmp_path))
    assert status.available and status.name == "base" and status.backend == "faster-whisper"
    assert status.source == tr.SOURCE_BUNDLED_PACKAGES
    assert status.path == tmp_path / tr.BUNDLED_DIR_NAME
    tr.check_model(EngineSettings(models_dir=tmp_path))


def test_joined_bundled_model_is_the_joined_folder(tmp_path):
    joined = _ct2_folder(tmp_path / tr.BUNDLED_DIR_NAME, tr.BUNDLED_MODEL_SIZE)
    status = tr.model_status(EngineSettings(models_dir=tmp_path))
    assert (status.available, status.source, status.path) == (
        True, tr.SOURCE_BUNDLED_FOLDER, joined)
    assert tr.ensure_bundled_model(tmp_path) == joined       # what loading would use


def test_half_joined_bundled_model_is_joined_again(tmp_path):
    _ct2_folder(tmp_path / tr.BUNDLED_DIR_NAME, tr.BUNDLED_MODEL_SIZE - 1)
    assert tr.model_status(EngineSettings(models_dir=tmp_path)).source == \
        tr.SOURCE_BUNDLED_PACKAGES


def test_own_base_folder_in_models_dir_wins_over_the_bundled_model(tmp_path):
    own = _ct2_folder(tmp_path / "base")
    status = tr.model_status(EngineSettings(models_dir=tmp_path))
    assert (status.available, status.source, status.path) == (True, tr.SOURCE_MODELS_DIR, own)
    assert not tr.uses_bundled_model(tmp_path, "base")


@pytest.mark.parametrize("folder", ["small", "faster-whisper-small", "whisper-small-ct2"])
def test_other_models_are_folders_in_models_dir(tmp_path, folder):
    path = _ct2_folder(tmp_path / folder)
    status = tr.model_status(EngineSettings(models_dir=tmp_path, whisper_model="small"))
    assert (status.available, status.source, status.path) == (True, tr.SOURCE_MODELS_DIR, path)


def test_missing_model_says_what_to_do(tmp_path):
    settings = EngineSettings(models_dir=tmp_path, whisper_model="large-v3")
    status = tr.model_status(settings)
    assert not status.available and status.source == "" and status.path is None
    assert "MODELS_DIR" in status.problem and str(tmp_path) in status.problem
    with pytest.raises(ModelError, match="large-v3"):
        tr.check_model(settings)


def test_folder_without_tokenizer_is_not_available(tmp_path):
    (_ct2_folder(tmp_path / "small") / "tokenizer.json").unlink()
    status = tr.model_status(EngineSettings(models_dir=tmp_path, whisper_model="small"))
    assert not status.available and "tokenizer.json" in status.problem


def test_openai_checkpoint_and_unknown_backend(tmp_path):
    (tmp_path / "base.pt").write_bytes(b"x")
    status = tr.model_status(EngineSettings(models_dir=tmp_path, whisper_backend="openai"))
    assert (status.available, status.source, status.path) == (
        True, tr.SOURCE_MODELS_DIR, tmp_path / "base.pt")
    status = tr.model_status(EngineSettings(models_dir=tmp_path, whisper_backend="whisper.cpp"))
    assert not status.available and "WHISPER_BACKEND" in status.problem


class _Runner:
    alive = True

    def counts(self) -> dict[str, int]:
        return {"queued": 0, "processing": 0}


@pytest.mark.parametrize("model", ["base", "small", "large-v3"])
def test_health_reports_the_engines_answer(tmp_path, model):
    models = tmp_path / "models"
    _ct2_folder(models / "small")
    engine = EngineSettings(models_dir=models, whisper_model=model)
    settings = Settings(uploads_dir=tmp_path, output_dir=tmp_path, data_dir=tmp_path,
                        engine=engine)
    expected = tr.model_status(engine)
    for report in (system.health(settings, _Runner())["checks"]["models"],
                   system.system_info(settings, _Runner())["models"]):
        whisper = report["whisper"]
        assert (whisper["name"], whisper["backend"], whisper["ok"], whisper["source"]) == (
            model, "faster-whisper", expected.available, expected.source)
        assert whisper["path"] == (str(expected.path) if expected.path else None)
        assert whisper["problem"] == expected.problem


def test_helpers_import_nothing_from_the_engine():
    """app/utils/ holds helpers for the web layer; the engine is asked from the web layer."""
    for path in sorted((ROOT / "app" / "utils").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            assert not [n for n in names if n.startswith("app.services")], path.name
