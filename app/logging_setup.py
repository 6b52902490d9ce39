"""Logging for the app and the CLI: stderr always; also LOG_DIR/syncdub.log, rotated, when
LOG_DIR is set (native installs; in Docker, stderr goes to the json-file driver, rotated
by compose with the same LOG_MAX_SIZE / LOG_MAX_FILES)."""
from __future__ import annotations

import logging
import logging.handlers
import sys
from pathlib import Path

from config import Settings, parse_size

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
LOG_FILE = "syncdub.log"
#: Marks the handlers this module installed, so a second call replaces them.
_TAG = "_syncdub_handler"


def configure_logging(settings: Settings) -> Path | None:
    """Set the root logger from `settings`; returns the log file's path, or None.

    Idempotent: called again (a second create_app in tests), it replaces its own handlers
    and leaves any others (pytest's caplog) alone. A LOG_DIR that cannot be created is
    reported on stderr and logging goes on there.
    """
    root = logging.getLogger()
    for h in [h for h in root.handlers if getattr(h, _TAG, False)]:
        root.removeHandler(h)
        h.close()
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    log_file = None
    if settings.log_dir is not None:
        try:
            settings.log_dir.mkdir(parents=True, exist_ok=True)
            log_file = settings.log_dir / LOG_FILE
            handlers.append(logging.handlers.RotatingFileHandler(
                log_file, maxBytes=parse_size("LOG_MAX_SIZE", settings.log_max_size),
                backupCount=settings.log_max_files, encoding="utf-8"))
        except OSError as exc:
            log_file = None
            print(f"cannot write logs to LOG_DIR={settings.log_dir} ({exc}); logging to "
                  "stderr only", file=sys.stderr)
    formatter = logging.Formatter(FORMAT)
    for h in handlers:
        h.setFormatter(formatter)
        setattr(h, _TAG, True)
        root.addHandler(h)
    root.setLevel(settings.log_level)
    return log_file
