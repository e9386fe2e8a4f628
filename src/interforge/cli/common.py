"""Helpers shared by the verbs: common options, config loading, result output."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from interforge.config import InterforgeConfig, load_config


def common_parser() -> argparse.ArgumentParser:
    """Options every verb takes: --verbose, --json, --config, --workdir."""
    p = argparse.ArgumentParser(add_help=False)
    g = p.add_argument_group("common options")
    g.add_argument("-v", "--verbose", action="store_true", help="debug output on the console")
    g.add_argument("--json", metavar="PATH", help="write the results machine-readably to PATH")
    g.add_argument("--config", metavar="FILE", help="project TOML file (default: the paper's settings)")
    g.add_argument("--workdir", metavar="DIR", help="working directory for outputs and the log file "
                   "(default: the config's workdir, else the current directory)")
    return p


def config_of(args: argparse.Namespace) -> InterforgeConfig:
    """The validated project configuration named by --config (paper defaults without one)."""
    cached = getattr(args, "_config", None)
    if cached is None:
        if getattr(args, "config", None):
            from interforge.checks import input_file

            input_file("--config", args.config, text=True, allow_empty=True)  # a device, FIFO or folder: one clear line
        cached = load_config(args.config)
        args._config = cached
    return cached


def workdir_of(args: argparse.Namespace) -> Path:
    """--workdir, else the config's workdir when --config is given, else the current directory."""
    from interforge.errors import InputError

    if getattr(args, "workdir", None):
        try:
            return Path(args.workdir).resolve()
        except (RuntimeError, OSError) as err:  # a symbolic link loop (RuntimeError before Python 3.13)
            raise InputError(f"--workdir: {args.workdir} cannot be resolved ({' '.join(str(err).split())})") from None
    if getattr(args, "config", None):
        cfg = config_of(args)
        try:
            return cfg.workdir
        except ValueError as err:  # a NUL character in [project] workdir
            raise InputError(f"[project] workdir: not a usable path ({err})") from None
        except (RuntimeError, OSError) as err:  # a symbolic link loop
            raise InputError(f"[project] workdir: cannot be resolved ({' '.join(str(err).split())})") from None
    return Path.cwd()


def print_table(rows: list[dict[str, Any]], columns: list[str]) -> None:
    """Print rows as an aligned text table (the CLI's human-readable output)."""
    widths = {c: max(len(c), *(len(str(r.get(c, ""))) for r in rows)) if rows else len(c) for c in columns}
    print("  ".join(c.ljust(widths[c]) for c in columns))
    for r in rows:
        print("  ".join(str(r.get(c, "")).ljust(widths[c]) for c in columns))


def print_json(data: Any) -> None:
    print(json.dumps(data, indent=2, default=str))


def open_project(args: argparse.Namespace):
    """(config, workdir, store, structures) of a project command (seed, learn)."""
    from interforge.active.project import open_store, project_structures

    cfg = config_of(args)
    workdir = workdir_of(args)
    return cfg, workdir, open_store(cfg, workdir), project_structures(cfg, workdir)
