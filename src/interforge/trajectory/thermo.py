"""The thermo log: a whitespace text file ``thermo.dat`` with a ``#`` header line naming the columns.

Columns (units in the names): step time_ps T_K P_GPa V_A3 Epot_eV Ekin_eV Etot_eV and, for committee
calculators, max_force_deviation_eV_A. The log is append-only and flushed line by line (not rewritten
atomically like other outputs) so that it can be followed while a run goes on and survives a kill.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from interforge.errors import InterforgeError

THERMO_COLUMNS = ["step", "time_ps", "T_K", "P_GPa", "V_A3", "Epot_eV", "Ekin_eV", "Etot_eV"]
DEVIATION_COLUMN = "max_force_deviation_eV_A"


class ThermoWriter:
    """Append thermo lines; ``deviation=True`` adds the committee column. ``mode`` "w" or "a"."""

    def __init__(self, path: str | os.PathLike, deviation: bool = False, mode: str = "w"):
        self.path = Path(path)
        self.columns = THERMO_COLUMNS + ([DEVIATION_COLUMN] if deviation else [])
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if mode == "a" and self.path.exists() and self.path.stat().st_size:
            old = read_thermo(self.path).columns
            if old != self.columns:
                raise InterforgeError(f"cannot append to {self.path}: its columns {old} differ from {self.columns}")
            self._fh = open(self.path, "a")
        else:
            self._fh = open(self.path, "w")
            self._fh.write("# " + " ".join(self.columns) + "\n")
            self._fh.flush()

    def write(self, **values: float) -> None:
        """One line; missing values are written as nan."""
        fields = []
        for c in self.columns:
            v = values.get(c, float("nan"))
            fields.append(str(int(v)) if c == "step" else f"{float(v):.10g}")
        self._fh.write(" ".join(fields) + "\n")
        self._fh.flush()

    def flush(self) -> None:
        if not self._fh.closed:
            self._fh.flush()

    def tell(self) -> int:
        """Bytes written so far (header included): where a resumed run cuts the log back to."""
        return self._fh.tell() if not self._fh.closed else self.path.stat().st_size

    def close(self) -> None:
        if not self._fh.closed:
            self._fh.close()

    def __enter__(self) -> "ThermoWriter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


@dataclass
class ThermoLog:
    """A parsed thermo log: ``columns`` and ``data`` (rows × columns); ``log[name]`` gives a column."""

    columns: list[str]
    data: np.ndarray

    def __getitem__(self, name: str) -> np.ndarray:
        if name not in self.columns:
            raise InterforgeError(f"thermo log has no column '{name}' (has: {', '.join(self.columns)})")
        return self.data[:, self.columns.index(name)]

    def __len__(self) -> int:
        return len(self.data)


def read_thermo(path: str | os.PathLike) -> ThermoLog:
    """Read a thermo log; a half-written last line (a run killed mid-write) is ignored."""
    path = Path(path)
    if not path.is_file():
        raise InterforgeError(f"thermo log not found: {path}")
    lines = path.read_text().splitlines()
    if not lines or not lines[0].startswith("#"):
        raise InterforgeError(f"{path} is not a thermo log (no '#' header line)")
    columns = lines[0].lstrip("#").split()
    rows = []
    for line in lines[1:]:
        parts = line.split()
        if len(parts) != len(columns) or line.startswith("#"):
            continue
        try:
            rows.append([float(x) for x in parts])
        except ValueError:
            continue
    return ThermoLog(columns, np.array(rows, dtype=float).reshape(-1, len(columns)))
