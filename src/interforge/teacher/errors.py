"""Teacher errors: a bad teacher choice (user error) and a failed label (a result, not a crash)."""

from interforge.errors import InterforgeError


class TeacherError(InterforgeError):
    """The teacher cannot be built: unknown name, missing package, missing model or pseudopotential file."""


class LabelFailure(Exception):
    """One structure could not be labelled (unconverged SCF, crashed code, timeout, bad numbers).

    ``retry`` says whether trying again may help (a crash or timeout may; NaN from a deterministic
    model will not). Raised inside a labelling task and turned into a failed record.
    """

    def __init__(self, reason: str, retry: bool = True):
        super().__init__(reason)
        self.reason = reason
        self.retry = retry
