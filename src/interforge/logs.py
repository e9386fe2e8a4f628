"""Logging set-up shared by the CLI: console (INFO, or DEBUG with ``--verbose``) and a log file."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

LOG_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


def configure_logging(verbose: bool = False, log_file: str | Path | None = None) -> None:
    """Route the ``interforge`` logger to stderr and, when given, to ``log_file`` (appended)."""
    root = logging.getLogger("interforge")
    root.setLevel(logging.DEBUG)
    for handler in list(root.handlers):
        root.removeHandler(handler)
        handler.close()
    console = logging.StreamHandler(sys.stderr)
    console.setLevel(logging.DEBUG if verbose else logging.INFO)
    console.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
    root.addHandler(console)
    if log_file is not None:
        log_file = Path(log_file)
        log_file.parent.mkdir(parents=True, exist_ok=True)
        # file names that are not UTF-8 (bytes a shell passes through) are logged escaped, not as a logging error
        fh = logging.FileHandler(log_file, encoding="utf-8", errors="backslashreplace")
        fh.setLevel(logging.DEBUG)
        fh.setFormatter(logging.Formatter(LOG_FORMAT))
        root.addHandler(fh)
    root.propagate = False
