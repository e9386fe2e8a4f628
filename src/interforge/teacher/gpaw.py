"""GPAW plane-wave PAW DFT (open source) as a teacher, run in a subprocess.

GPAW is run by a Python interpreter that can import it (``[teacher.gpaw] python``; empty = this
interpreter). A subprocess keeps GPAW's compiled extension and its numpy apart from ours: Debian's
``apt-get install gpaw gpaw-data`` installs GPAW for the system ``/usr/bin/python3`` only, and a
crash or an SCF that does not converge cannot take the labelling process down with it.

Settings: PBE, plane waves ``ecut`` ≥ 600 eV (GPAW's stress is unconverged below that; with ``stress = false``
energy-and-force labels may use less, as the calibration's laptop setting does), a Monkhorst-Pack
mesh from the k-point spacing (1/Å), Fermi-Dirac smearing 0.05 eV. D3(BJ) is added in this process
with the ``dftd3`` package. Energies eV, forces eV/Å, stress eV/Å³.
"""

from __future__ import annotations

import json
import logging
import math
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from ase.calculators.calculator import Calculator, all_changes

from interforge.config.teacher import TeacherSection
from interforge.teacher.errors import LabelFailure, TeacherError

log = logging.getLogger(__name__)

INSTALL_HINT = ("install GPAW with `apt-get install -y gpaw gpaw-data` and set [teacher.gpaw] python = "
                "\"/usr/bin/python3\", or `pip install gpaw gpaw-data` (needs a C compiler, libxc and BLAS)")

# The driver runs in GPAW's interpreter: it reads a JSON job, writes a JSON result.
_DRIVER = r"""
import json, sys
import numpy as np
from ase import Atoms
from gpaw import GPAW, PW, FermiDirac
from gpaw import KohnShamConvergenceError
job = json.load(open(sys.argv[1]))
atoms = Atoms(numbers=job["numbers"], positions=job["positions"], cell=job["cell"], pbc=job["pbc"])
calc = GPAW(mode=PW(job["ecut"]), xc=job["xc"], kpts=job["kpts"], occupations=FermiDirac(0.05),
            convergence={"energy": job["conv_energy"]}, maxiter=job["maxiter"], txt=job["txt"], symmetry="off")
atoms.calc = calc
try:
    e = atoms.get_potential_energy()
    f = atoms.get_forces()
    s = atoms.get_stress(voigt=True) if all(job["pbc"]) and job.get("stress", True) else None
    out = {"status": "ok", "energy": float(e), "forces": f.tolist(), "stress": None if s is None else s.tolist()}
except KohnShamConvergenceError as err:
    out = {"status": "unconverged", "reason": str(err)}
json.dump(out, open(sys.argv[2], "w"))
"""


def _python(section: TeacherSection) -> str:
    return section.gpaw.python or sys.executable


def check_gpaw(section: TeacherSection) -> str:
    """Return GPAW's version in the configured interpreter, or raise TeacherError with how to install."""
    py = _python(section)
    try:
        res = subprocess.run([py, "-c", "import gpaw; print(gpaw.__version__)"], capture_output=True, text=True,
                             timeout=120)
    except (OSError, subprocess.TimeoutExpired) as err:
        raise TeacherError(f"cannot run {py} to check for gpaw ({err}); {INSTALL_HINT}") from None
    if res.returncode != 0:
        raise TeacherError(f"gpaw is not importable by {py}; {INSTALL_HINT}")
    return res.stdout.strip()


def kpoint_mesh(cell: np.ndarray, pbc, kspacing: float) -> list[int]:
    """Monkhorst-Pack divisions from a k-point spacing in 1/Å (VASP KSPACING convention, 2π included)."""
    rec = 2 * math.pi * np.linalg.inv(np.asarray(cell, dtype=float)).T
    return [max(1, math.ceil(np.linalg.norm(rec[i]) / kspacing)) if pbc[i] else 1 for i in range(3)]


class GpawSubprocess(Calculator):
    """ASE calculator that runs one GPAW single point per call in a subprocess."""

    implemented_properties = ["energy", "free_energy", "forces", "stress"]

    def __init__(self, section: TeacherSection, directory: str | Path | None = None, timeout_s: float | None = None):
        super().__init__()
        self.section = section
        self.workdir = Path(directory) if directory else None
        self.timeout_s = timeout_s or section.timeout_s
        if not section.gpaw.stress:  # energies and forces only: asking for stress is a clear error, not a label
            self.implemented_properties = ["energy", "free_energy", "forces"]

    def calculate(self, atoms=None, properties=("energy",), system_changes=tuple(all_changes)):
        super().calculate(atoms, properties, system_changes)
        g = self.section.gpaw
        job = {
            "numbers": self.atoms.numbers.tolist(), "positions": self.atoms.positions.tolist(),
            "cell": np.asarray(self.atoms.cell).tolist(), "pbc": [bool(p) for p in self.atoms.pbc],
            "ecut": g.ecut, "xc": g.xc, "kpts": kpoint_mesh(self.atoms.cell, self.atoms.pbc, g.kspacing),
            "conv_energy": g.convergence_energy, "maxiter": g.maxiter, "stress": g.stress,
        }
        base = self.workdir or Path(tempfile.mkdtemp(prefix="gpaw-"))
        base.mkdir(parents=True, exist_ok=True)
        job["txt"] = str(base / "gpaw.txt")
        job_path, out_path = base / "job.json", base / "result.json"
        job_path.write_text(json.dumps(job))
        if out_path.exists():
            out_path.unlink()
        env = dict(os.environ, OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "1"))
        try:
            res = subprocess.run([_python(self.section), "-c", _DRIVER, str(job_path), str(out_path)],
                                 capture_output=True, text=True, timeout=self.timeout_s, env=env)
        except subprocess.TimeoutExpired:
            raise LabelFailure(f"timeout: GPAW ran longer than {self.timeout_s:g} s") from None
        if res.returncode != 0 or not out_path.is_file():
            tail = (res.stderr or res.stdout).strip().splitlines()[-1:] or ["no output"]
            raise LabelFailure(f"GPAW crashed (exit {res.returncode}): {tail[0][:200]}")
        out = json.loads(out_path.read_text())
        if out["status"] != "ok":
            raise LabelFailure(f"unconverged SCF (GPAW): {out.get('reason', '')[:200]}")
        self.results = {"energy": out["energy"], "free_energy": out["energy"], "forces": np.array(out["forces"])}
        if out["stress"] is not None:
            self.results["stress"] = np.array(out["stress"])


def make_gpaw_calculator(section: TeacherSection, directory: str | Path | None = None) -> Calculator:
    """GPAW (PW, PBE) + D3(BJ); raises TeacherError saying how to install when gpaw is missing."""
    from interforge.teacher.embedded import with_dispersion

    version = check_gpaw(section)
    log.info("GPAW %s in %s", version, _python(section))
    return with_dispersion(GpawSubprocess(section, directory), section)
