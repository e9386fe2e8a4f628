"""interforge: validated machine-learned force fields for solid-solid interfaces.

The library is organised by concern (``structures``, ``data``, ``teacher``, ``nep``,
``sampling``, ``active``, ``md``, ``analysis``, ``report``, ``workflow``); the
command-line interface in :mod:`interforge.cli` is a thin layer over it.
"""

__version__ = "0.1.0"

from interforge.errors import InterforgeError

__all__ = ["InterforgeError", "__version__"]
