"""VASP through ASE with the paper's settings, and failure detection from its outputs.

Settings (paper): PBE, PAW, D3(BJ) (IVDW = 12), ENCUT 550 eV, KSPACING 0.3 /Å, EDIFF 1e-6 eV,
single points (IBRION = -1, NSW = 0) with stress (ISIF = 2). POTCARs come from ``$VASP_PP_PATH``
(ASE's convention: ``$VASP_PP_PATH/potpaw_PBE/<El>/POTCAR``).

A finished run is checked before its numbers are trusted: custodian's ``VaspErrorHandler`` scans
the log for VASP's own error messages and ``UnconvergedErrorHandler`` reads ``vasprun.xml``; when no
readable ``vasprun.xml`` exists the electronic step count of the last ionic step in ``OSZICAR`` is
compared with NELM (a single point that used all NELM steps did not converge).
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path

from ase.calculators.calculator import all_changes

from interforge.config.teacher import TeacherSection
from interforge.teacher.errors import LabelFailure, TeacherError

log = logging.getLogger(__name__)

#: Name of the file VASP's stdout goes to (what custodian's VaspErrorHandler reads).
VASP_LOG = "vasp.out"


def vasp_parameters(section: TeacherSection) -> dict:
    """The INCAR parameters of one single-point label (ASE Vasp keyword names)."""
    v = section.vasp
    return {
        "xc": v.xc, "encut": v.encut, "kspacing": v.kspacing, "kgamma": True, "ediff": v.ediff,
        "ivdw": v.ivdw, "setups": dict(v.setups), "ismear": v.ismear, "sigma": v.sigma, "nelm": v.nelm,
        # A label is a single point with stress; PREC Accurate and no real-space projection keep forces clean.
        "ibrion": -1, "nsw": 0, "isif": 2, "prec": "Accurate", "lreal": False, "lasph": True,
        "lwave": False, "lcharg": False, "algo": "Normal",
    }


def _check_potcars(atoms, setups: dict[str, str]) -> None:
    root = os.environ.get("VASP_PP_PATH")
    if not root:
        raise TeacherError("the vasp teacher needs $VASP_PP_PATH (the folder holding potpaw_PBE/<element>/POTCAR)")
    for el in sorted(set(atoms.get_chemical_symbols())):
        potcar = Path(root) / "potpaw_PBE" / f"{el}{setups.get(el, '')}" / "POTCAR"
        if not potcar.is_file():
            raise TeacherError(f"no POTCAR for {el}: {potcar} is missing")


def check_vasp_outputs(directory: str | Path, nelm: int | None = None) -> list[str]:
    """Reasons why a VASP run in ``directory`` cannot be trusted (empty list = good).

    Uses custodian's handlers (VASP error messages in ``vasp.out``; ``vasprun.xml`` convergence)
    and, without a readable ``vasprun.xml``, the OSZICAR step count against NELM.
    """
    from custodian.vasp.handlers import UnconvergedErrorHandler, VaspErrorHandler

    d = Path(directory)
    reasons: list[str] = []
    if (d / VASP_LOG).is_file():
        handler = VaspErrorHandler(output_filename=VASP_LOG)
        try:
            if handler.check(str(d)):
                reasons.append("VASP error: " + ", ".join(sorted(handler.errors)))
        except (OSError, ValueError) as err:  # the handler also reads INCAR/POSCAR; missing ones = broken run
            reasons.append(f"VASP run folder incomplete ({type(err).__name__}: {err})")
    vasprun = d / "vasprun.xml"
    checked_vasprun = False
    if vasprun.is_file():
        try:
            if UnconvergedErrorHandler().check(str(d)):
                reasons.append("unconverged SCF (vasprun.xml)")
            checked_vasprun = True
        except Exception as err:  # a truncated vasprun.xml is itself a sign of a crash
            reasons.append(f"unreadable vasprun.xml ({type(err).__name__}); the run probably crashed")
    if not checked_vasprun and (d / "OSZICAR").is_file():
        n_steps = _last_ionic_electronic_steps(d / "OSZICAR")
        limit = nelm or _nelm_from_incar(d / "INCAR")
        if n_steps is None:
            reasons.append("OSZICAR holds no electronic steps; the run probably crashed")
        elif limit and n_steps >= limit:
            reasons.append(f"unconverged SCF: {n_steps} electronic steps reached NELM = {limit}")
    elif not checked_vasprun:
        reasons.append("no vasprun.xml or OSZICAR; VASP did not run")
    return reasons


_STEP = re.compile(r"^\s*(DAV|RMM|CG|DIA|ALG):\s+(\d+)")


def _last_ionic_electronic_steps(oszicar: Path) -> int | None:
    last = None
    for line in oszicar.read_text(errors="replace").splitlines():
        m = _STEP.match(line)
        if m:
            last = int(m.group(2))
    return last


def _nelm_from_incar(incar: Path) -> int:
    if incar.is_file():
        m = re.search(r"^\s*NELM\s*=\s*(\d+)", incar.read_text(), re.MULTILINE | re.IGNORECASE)
        if m:
            return int(m.group(1))
    return 60  # VASP's default


def make_vasp_calculator(section: TeacherSection, directory: str | Path = "vasp-run"):
    """An ASE Vasp calculator with the paper's settings that raises LabelFailure on bad runs."""
    from ase.calculators.vasp import Vasp

    class CheckedVasp(Vasp):
        """ASE's Vasp, plus: its outputs are checked before results are accepted."""

        def write_input(self, atoms, properties=None, system_changes=None):
            _check_potcars(atoms, section.vasp.setups)
            super().write_input(atoms, properties, system_changes)

        def calculate(self, atoms=None, properties=("energy",), system_changes=tuple(all_changes)):
            try:
                super().calculate(atoms, properties, system_changes)
            except TeacherError:
                raise
            except Exception as err:  # noqa: BLE001 - a crashed run or unreadable outputs
                # The outputs say more than ASE's reader error: report VASP's own reasons first.
                reasons = check_vasp_outputs(self.directory, section.vasp.nelm)
                raise LabelFailure("VASP failed: " + "; ".join(reasons or [f"{type(err).__name__}: {str(err)[:150]}"])) from None
            reasons = check_vasp_outputs(self.directory, section.vasp.nelm)
            if reasons:
                raise LabelFailure("; ".join(reasons))

    command = f"{section.vasp.command} > {VASP_LOG} 2>&1"
    return CheckedVasp(directory=str(directory), command=command, **vasp_parameters(section))


def write_vasp_inputs(atoms, section: TeacherSection, directory: str | Path) -> Path:
    """Write INCAR, POSCAR, POTCAR (and KPOINTS when needed) without running VASP; return the folder."""
    calc = make_vasp_calculator(section, directory)
    Path(directory).mkdir(parents=True, exist_ok=True)
    calc.write_input(atoms)
    return Path(directory)
