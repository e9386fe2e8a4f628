"""The ``interforge`` command line: a thin layer over the library.

Every module in this package that defines ``register(subparsers, parents)`` adds one verb; the
verb's function receives the parsed arguments and returns a JSON-serialisable dict of results,
which ``--json PATH`` writes to PATH.
"""
