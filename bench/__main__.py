"""Run benchmarks: ``python -m bench`` (all), ``python -m bench nep md`` (by area name), or
``python -m bench active -- ARGS`` (arguments after ``--`` go to that benchmark's ``main``)."""

import importlib
import pkgutil
import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    extra: list[str] = []
    if "--" in argv:
        argv, extra = argv[: argv.index("--")], argv[argv.index("--") + 1:]
    names = sorted(m.name for m in pkgutil.iter_modules([str(Path(__file__).parent)]) if m.name.startswith("bench_"))
    wanted = [f"bench_{a.removeprefix('bench_')}" for a in argv] or names
    unknown = set(wanted) - set(names)
    if unknown:
        print(f"unknown benchmark(s): {', '.join(sorted(unknown))}; available: {', '.join(names)}", file=sys.stderr)
        return 2
    for name in wanted:
        print(f"=== {name}")
        module = importlib.import_module(f"bench.{name}")
        module.main(extra) if extra else module.main()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
