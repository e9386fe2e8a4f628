"""The common trajectory format: H5MD 1.1 in HDF5 (positions unwrapped, Å; times ps) plus a text thermo log.

Every MD engine (ASE, GPUMD) writes through :class:`TrajectoryWriter`; analysis reads through
:class:`TrajectoryReader`. See docs/md.md for the layout.
"""

from interforge.trajectory.h5md import TrajectoryReader, TrajectoryWriter, truncate_trajectory
from interforge.trajectory.thermo import THERMO_COLUMNS, ThermoLog, ThermoWriter, read_thermo

__all__ = ["THERMO_COLUMNS", "ThermoLog", "ThermoWriter", "TrajectoryReader", "TrajectoryWriter", "read_thermo",
           "truncate_trajectory"]
