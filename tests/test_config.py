"""config.py: .env.example documents every variable, bad values stop with a clear message,
a missing media folder only turns the picker off."""
from __future__ import annotations

import logging
import os

import pytest

import config
from config import ConfigError, load_settings
from tests.helpers.envfile import env_example


def test_env_example_documents_exactly_the_variables_config_reads():
    documented = set(env_example())
    assert sorted(set(config.VARIABLES) - documented) == [], "read by config.py, missing here"
    assert sorted(documented - set(config.VARIABLES)) == [], "documented, not read by config.py"


def test_env_example_values_are_the_defaults():
    # Copying .env.example to .env changes nothing (SECRET_KEY is random when empty).
    from_example = load_settings(env_example()).to_dict()
    defaults = load_settings({}).to_dict()
    assert from_example == defaults


# (variable, bad value, words the message must contain)
BAD = [
    ("APP_PORT", "http", "whole number"),
    ("APP_PORT", "70000", "between 1 and 65535"),
    ("FLASK_ENV", "prod", "production, development, testing"),
    ("DEVICE", "gpu", "auto, cpu, cuda"),
    ("MEDIA_SOURCE_ENABLED", "maybe", "true or false"),
    ("MAX_CONTENT_LENGTH", "lots", "size such as 20GB"),
    ("MAX_CONTENT_LENGTH", "20XB", "size such as 20GB"),
    ("ALLOWED_EXTENSIONS", " , ", "comma-separated"),
    ("LOG_LEVEL", "loud", "DEBUG, INFO"),
    ("LOG_MAX_SIZE", "ten", "size such as"),
    ("LOG_MAX_FILES", "0", "between 1 and 100"),
    ("MAX_MEMORY", "8 gigs", "size such as"),
    ("RESERVED_MEMORY", "-1G", "size such as"),
    ("MAX_CPUS", "four", "a number"),
    ("MAX_CPUS", "0", "between"),
    ("NVIDIA_VISIBLE_DEVICES", "first", "all, none, or GPU indices"),
    ("NVIDIA_VISIBLE_DEVICES", "0;1", "all, none, or GPU indices"),
    ("PUID", "-5", ">= 0"),
    ("PGID", "staff", "whole number"),
    ("COMPOSE_PROFILES", "nvidia", "gpu, cpu"),
    ("MIN_CONFIDENCE", "1.5", "between 0.0 and 1.0"),
    ("THREADS", "many", "whole number"),
    ("WHISPER_BEAM_SIZE", "0", "between"),
    ("MAX_CONCURRENT_JOBS", "0", "between 1 and 64"),
    ("WHISPER_BACKEND", "whisper.cpp", "faster-whisper, openai"),
    ("EMBEDDING_BACKEND", "bert", "use, sentence-transformers"),
    ("SYNC_MODE", "fast", "auto, audio, speech"),
    ("GAP_FILL", "noise", "silence, original"),
    ("UPLOADS_DIR", "  ", "UPLOADS_DIR is empty"),
    ("MODELS_DIR", "", "MODELS_DIR is empty"),
]


@pytest.mark.parametrize("var, value, words", BAD, ids=[f"{v}={x!r}" for v, x, _ in BAD])
def test_bad_value_names_the_variable_and_what_it_accepts(var, value, words):
    with pytest.raises(ConfigError) as err:
        load_settings({var: value})
    msg = str(err.value)
    assert msg.startswith(var), msg
    assert words in msg, msg


@pytest.mark.parametrize("var, value", [
    ("NVIDIA_VISIBLE_DEVICES", "0"), ("NVIDIA_VISIBLE_DEVICES", "0, 1"),
    ("NVIDIA_VISIBLE_DEVICES", "NONE"), ("NVIDIA_VISIBLE_DEVICES", "GPU-6f2c-11aa"),
    ("MAX_CPUS", "1.5"), ("MAX_MEMORY", "16GB"), ("LOG_MAX_SIZE", "512K"),
    ("COMPOSE_PROFILES", "CPU"), ("MAX_CONTENT_LENGTH", "21474836480"),
])
def test_good_values_pass(var, value):
    load_settings({var: value})


def test_reservation_larger_than_limit_is_refused():
    with pytest.raises(ConfigError, match=r"RESERVED_MEMORY=6G is more than MAX_MEMORY=4G"):
        load_settings({"MAX_MEMORY": "4G", "RESERVED_MEMORY": "6G"})
    assert load_settings({"MAX_MEMORY": "4G", "RESERVED_MEMORY": "4096M"}).max_memory == "4G"


def test_missing_media_folder_disables_the_picker_with_a_warning(tmp_path, caplog):
    missing = tmp_path / "nfs" / "videos"
    with caplog.at_level(logging.WARNING, logger="config"):
        s = load_settings({"MEDIA_SOURCE_ENABLED": "true", "MEDIA_SOURCE_PATH": str(missing)})
    assert s.media_source_enabled is False
    assert str(missing) in s.media_source_warning and "mounted" in s.media_source_warning
    assert "media picker is disabled" in caplog.text


def test_existing_media_folder_keeps_the_picker(tmp_path):
    s = load_settings({"MEDIA_SOURCE_ENABLED": "true", "MEDIA_SOURCE_PATH": str(tmp_path)})
    assert s.media_source_enabled is True and s.media_source_warning == ""


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0,
                    reason="root reads any folder, so an unreadable one cannot be made")
def test_unreadable_media_folder_disables_the_picker(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0)
    try:
        s = load_settings({"MEDIA_SOURCE_ENABLED": "true", "MEDIA_SOURCE_PATH": str(locked)})
    finally:
        locked.chmod(0o755)
    assert s.media_source_enabled is False and "PUID/PGID" in s.media_source_warning


def test_check_command_reports_a_bad_value(monkeypatch, capsys):
    monkeypatch.setenv("APP_PORT", "http")
    assert config.main([]) == 2
    assert "configuration error: APP_PORT='http': expected a whole number" in capsys.readouterr().err


def test_check_command_accepts_the_defaults(monkeypatch, capsys):
    for var in config.VARIABLES:
        monkeypatch.setenv(var, env_example()[var])
    assert config.main([]) == 0
    assert "configuration OK" in capsys.readouterr().err
