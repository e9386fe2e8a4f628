"""Exception types. Anything a user can cause raises :class:`InterforgeError` (or a subclass)
with a message that fits on one line and names the offending input; the CLI prints it and exits 2."""


class InterforgeError(Exception):
    """A user-facing error: bad input, a missing file, an impossible request."""


class ConfigError(InterforgeError):
    """The project TOML file is malformed or holds an unknown key or a wrong type."""


class StructureError(InterforgeError):
    """A structure file cannot be read, or a phase name is unknown."""


class DataStoreError(InterforgeError):
    """The labelled-data store rejected an operation (missing labels, bad file, bad URL)."""


class InputError(InterforgeError):
    """A command-line value, an input file or an output path breaks a rule checked before any work starts
    (see :mod:`interforge.checks` and ``docs/inputs.md``)."""
