"""app/logging_setup.py: stderr always, LOG_DIR/syncdub.log rotated by LOG_MAX_SIZE/FILES."""
from __future__ import annotations

import logging

import pytest

from app.logging_setup import LOG_FILE, configure_logging
from config import load_settings


@pytest.fixture
def restore_root():
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for h in list(root.handlers):
        if h not in handlers:
            root.removeHandler(h)
            h.close()
    root.setLevel(level)


def test_log_dir_gets_a_rotated_file(tmp_path, restore_root):
    s = load_settings({"LOG_DIR": str(tmp_path / "logs"), "LOG_MAX_SIZE": "1K",
                       "LOG_MAX_FILES": "2", "LOG_LEVEL": "DEBUG"})
    path = configure_logging(s)
    assert path == tmp_path / "logs" / LOG_FILE
    log = logging.getLogger("syncdub.test")
    for i in range(100):
        log.debug("line %03d %s", i, "x" * 40)
    names = sorted(p.name for p in path.parent.iterdir())
    assert names == [LOG_FILE, f"{LOG_FILE}.1", f"{LOG_FILE}.2"]
    assert all(p.stat().st_size <= 1024 for p in path.parent.iterdir())
    assert "line 099" in path.read_text()


def test_without_log_dir_only_stderr_and_calling_twice_does_not_duplicate(restore_root, capsys):
    s = load_settings({"LOG_LEVEL": "WARNING"})
    assert configure_logging(s) is None
    assert configure_logging(s) is None
    logging.getLogger("syncdub.test").warning("once")
    logging.getLogger("syncdub.test").info("hidden")
    err = capsys.readouterr().err
    assert err.count("once") == 1 and "hidden" not in err


def test_unwritable_log_dir_falls_back_to_stderr(tmp_path, restore_root, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    assert configure_logging(load_settings({"LOG_DIR": str(blocker / "logs")})) is None
    assert "logging to stderr only" in capsys.readouterr().err
