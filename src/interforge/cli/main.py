"""Entry point: ``interforge <verb> [options]``."""

from __future__ import annotations

import argparse
import importlib
import logging
import pkgutil
import sys

import interforge
from interforge.cli.common import common_parser, workdir_of
from interforge.errors import InterforgeError
from interforge.fileio import atomic_write_json
from interforge.logs import configure_logging

log = logging.getLogger("interforge.cli")

# Verbs are listed in this order in --help; modules not named here follow alphabetically.
VERB_ORDER = ["init", "bulk", "interfaces", "data", "label", "seed", "train", "learn", "validate", "md", "analyze",
              "report", "demo"]
_NOT_VERBS = {"common", "main"}


def _verb_modules():
    import interforge.cli as pkg

    names = [m.name for m in pkgutil.iter_modules(pkg.__path__) if m.name not in _NOT_VERBS]
    names.sort(key=lambda n: (VERB_ORDER.index(n) if n in VERB_ORDER else len(VERB_ORDER), n))
    return [importlib.import_module(f"interforge.cli.{n}") for n in names]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
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
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0 if args.verb is None else 2
    try:
        workdir = workdir_of(args)
        configure_logging(getattr(args, "verbose", False), workdir / "interforge.log")
        log.debug("interforge %s: %s", interforge.__version__, " ".join(sys.argv))
        result = args.func(args)
        if getattr(args, "json", None) and result is not None:
            atomic_write_json(args.json, result)
            log.info("results written to %s", args.json)
    except InterforgeError as err:
        print(f"interforge: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interforge: interrupted", file=sys.stderr)
        return 130
    # A verb that ran but has a verdict to report (a failed gate, a guard that stopped MD) sets exit_code.
    return int(getattr(args, "exit_code", 0) or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
