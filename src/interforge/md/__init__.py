"""Molecular dynamics with one trajectory output (H5MD, see :mod:`interforge.trajectory`).

- :class:`Dynamics` (settings in :class:`MDSettings`, then ``run(steps)``; checkpoints and resume) and
  :func:`run_md` and :func:`run_with` (one-call forms): the ASE engine (any ASE calculator, NEP committees included): NVE, NVT (Bussi) and NPT
  (Bussi + stochastic cell rescaling: isotropic, orthorhombic, or only the interface normal), momentum
  removal, temperature ramps, guards, committee force deviation on the fly.
- :mod:`interforge.md.gpumd`: GPUMD driver (``model.xyz`` / ``run.in`` writer, runner, output conversion).
"""

from interforge.md.engine import ENSEMBLES, Dynamics, MDResult, MDSettings, run_md, run_with
from interforge.md.guards import Guards, StartRefused

__all__ = ["ENSEMBLES", "Dynamics", "Guards", "MDResult", "MDSettings", "StartRefused", "run_md", "run_with"]
