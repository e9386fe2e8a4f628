"""``interforge init``: write a commented project file holding the paper's settings."""

from __future__ import annotations

from pathlib import Path

from interforge.config import render_default_toml
from interforge.errors import ConfigError
from interforge.fileio import atomic_write_text


def register(sub, parents):
    p = sub.add_parser("init", parents=parents, help="write a commented default project file (the paper's settings)",
                       description="Write a commented TOML project file whose values are the reference paper's settings.")
    p.add_argument("path", nargs="?", default="interforge.toml", help="file to write (default: interforge.toml)")
    p.add_argument("--force", action="store_true", help="overwrite an existing file")
    p.set_defaults(func=run)


def run(args):
    path = Path(args.path)
    if path.exists() and not args.force:
        raise ConfigError(f"{path} exists; pass --force to overwrite it")
    atomic_write_text(path, render_default_toml())
    print(f"wrote {path}")
    return {"path": str(path.resolve())}
