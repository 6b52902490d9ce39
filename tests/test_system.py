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

    def queue_status(self) -> dict:
        return {"ok": True, "mode": "embedded", "workers": 1}


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


# ----------------------------------------------------------------- the meaning model
from app.services import embed  # noqa: E402


def test_bundled_meaning_model_is_the_package():
    status = embed.model_status(EngineSettings())
    assert (status.name, status.backend, status.available, status.source) == (
        embed.USE_MODEL_NAME, "use", True, embed.SOURCE_PACKAGE)
    embed.check_model(EngineSettings())          # no error


def test_sentence_transformers_folder_missing_says_what_to_do(tmp_path):
    engine = EngineSettings(models_dir=tmp_path, embedding_backend="sentence-transformers",
                            sentence_transformer_model="mini")
    status = embed.model_status(engine)
    assert not status.available and status.source == "" and status.path is None
    assert "MODELS_DIR" in status.problem and str(tmp_path / "mini") in status.problem
    with pytest.raises(ModelError, match="MODELS_DIR"):
        embed.check_model(engine)


def test_sentence_transformers_folder_needs_its_package(tmp_path, monkeypatch):
    folder = tmp_path / "mini"
    folder.mkdir()
    (folder / "modules.json").write_text("[]")
    engine = EngineSettings(models_dir=tmp_path, embedding_backend="sentence-transformers",
                            sentence_transformer_model="mini")
    real_find_spec = embed.importlib.util.find_spec
    monkeypatch.setattr(embed.importlib.util, "find_spec",
                        lambda name, *a: None if name == "sentence_transformers"
                        else real_find_spec(name, *a))
    status = embed.model_status(engine)
    assert not status.available and "requirements-optional.txt" in status.problem
    monkeypatch.undo()
    if real_find_spec("sentence_transformers") is not None:     # installed here
        status = embed.model_status(engine)
        assert (status.available, status.source, status.path) == (
            True, embed.SOURCE_MODELS_DIR, folder)


def test_health_reports_the_meaning_models_answer(tmp_path):
    engine = EngineSettings(models_dir=tmp_path, embedding_backend="sentence-transformers",
                            sentence_transformer_model="absent")
    settings = Settings(uploads_dir=tmp_path, output_dir=tmp_path, data_dir=tmp_path,
                        engine=engine)
    expected = embed.model_status(engine)
    for report in (system.health(settings, _Runner())["checks"]["models"],
                   system.system_info(settings, _Runner())["models"]):
        assert report["embedding"] == {
            "name": "absent", "backend": "sentence-transformers", "ok": False, "source": "",
            "path": None, "problem": expected.problem}
        assert report["ok"] is False
