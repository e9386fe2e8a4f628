"""Entry point: ``interforge <verb> [options]``."""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import pkgutil
import sys
from pathlib import Path

import interforge
from interforge.cli.common import common_parser, workdir_of
from interforge.errors import InterforgeError
from interforge.fileio import atomic_write_json
from interforge.logs import configure_logging

log = logging.getLogger("interforge.cli")

# Verbs are listed in this order in --help; modules not named here follow alphabetically.
VERB_ORDER = ["init", "bulk", "interfaces", "data", "label", "teacher", "seed", "train", "learn", "validate", "md",
              "analyze", "report", "demo"]
_NOT_VERBS = {"checks", "common", "main"}


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line (the option and the rule), exit code 2."""

    def error(self, message: str):  # noqa: D401 - argparse's hook
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def _verb_modules():
    import interforge.cli as pkg

    names = [m.name for m in pkgutil.iter_modules(pkg.__path__) if m.name not in _NOT_VERBS]
    names.sort(key=lambda n: (VERB_ORDER.index(n) if n in VERB_ORDER else len(VERB_ORDER), n))
    return [importlib.import_module(f"interforge.cli.{n}") for n in names]


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="interforge",
        description="Forge validated machine-learned force fields for solid-solid interfaces and follow ions across them.",
    )
    parser.add_argument("--version", action="version", version=f"interforge {interforge.__version__}")
    sub = parser.add_subparsers(dest="verb", metavar="VERB")
    parents = [common_parser()]
    for module in _verb_modules():
        if hasattr(module, "register"):
            module.register(sub, parents)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one command line; returns the exit code (0 success, 1 internal error, 2 bad input, 3 a failed
    validation gate, 4 MD stopped by a guard, 5 some labels failed)."""
    from interforge.cli.checks import validate

    for stream in (sys.stdout, sys.stderr):  # a file name that is not UTF-8 is printed escaped, not a crash
        try:
            stream.reconfigure(errors="backslashreplace")
        except (AttributeError, ValueError, OSError):
            pass
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0 if args.verb is None else 2
    fresh = _fresh_output_dirs(args)
    try:
        workdir = workdir_of(args)
        validate(args, workdir)  # every input rule, before any work (and before the log file is opened)
        configure_logging(getattr(args, "verbose", False), workdir / "interforge.log")
        log.debug("interforge %s: %s", interforge.__version__, " ".join(sys.argv))
        result = args.func(args)
        if getattr(args, "json", None) and result is not None:
            atomic_write_json(args.json, result)
            log.info("results written to %s", args.json)
    except InterforgeError as err:
        _remove_if_empty(fresh)
        print(f"interforge: error: {_one_line(err)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interforge: interrupted", file=sys.stderr)
        return 130
    except OSError as err:  # a file system refusal the checks could not foresee (disk full, a race)
        _remove_if_empty(fresh)
        where = f"{err.filename}: " if getattr(err, "filename", None) else ""
        print(f"interforge: error: {where}{err.strerror or err}", file=sys.stderr)
        return 2
    except MemoryError:
        _remove_if_empty(fresh)
        print("interforge: error: out of memory (the input is too large for this machine)", file=sys.stderr)
        return 2
    except Exception as err:  # a bug: one line here, the traceback in the log (and on the console with -v)
        log.debug("internal error", exc_info=True)
        print(f"interforge: internal error: {type(err).__name__}: {_one_line(err)} (a bug; the traceback is in "
              "interforge.log, --verbose prints it)", file=sys.stderr)
        if getattr(args, "verbose", False):
            raise
        return 1
    # A verb that ran but has a verdict to report (a failed gate, a guard that stopped MD, failed labels) sets
    # exit_code.
    return int(getattr(args, "exit_code", 0) or 0)


def _fresh_output_dirs(args) -> list[Path]:
    """Output folders of this command line that do not exist yet (removed again if a bad input leaves them
    empty)."""
    dests = ("out", "write_dir") if args.verb not in ("report",) else ("write_dir",)
    out = []
    for dest in dests:
        value = getattr(args, dest, None)
        if value and not Path(value).exists():
            out.append(Path(value))
    return out


def _remove_if_empty(folders: list[Path]) -> None:
    """Remove each folder (and its empty sub-folders) when it holds no file; never touches a file."""
    for top in folders:
        if not top.is_dir():
            continue
        for dirpath, _, _ in sorted(os.walk(top), key=lambda t: -len(t[0])):
            try:
                os.rmdir(dirpath)  # fails (and is left) when not empty
            except OSError:
                pass


def _one_line(err: BaseException) -> str:
    text = " ".join(str(err).split())
    return text or type(err).__name__


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
