"""Quantum ESPRESSO (pw.x) through ASE's Espresso calculator, with user-supplied pseudopotentials.

PBE from the pseudopotentials, ``ecutwfc``/``ecutrho`` in Ry, a Monkhorst-Pack mesh from the k-point
spacing (1/Å), forces and stress on, D3(BJ) added in this process (``dftd3``), as for GPAW.
An SCF that does not converge makes pw.x stop without a final energy; ASE's reader then fails and
the label is reported as failed.
"""

from __future__ import annotations

import os
from pathlib import Path

from ase.calculators.calculator import Calculator, all_changes

from interforge.config.teacher import TeacherSection
from interforge.teacher.errors import LabelFailure, TeacherError
from interforge.teacher.gpaw import kpoint_mesh


def make_qe_calculator(section: TeacherSection, directory: str | Path = "qe-run") -> Calculator:
    """ASE Espresso with the configured cutoffs; checks that every pseudopotential file exists."""
    from ase.calculators.calculator import CalculationFailed
    from ase.calculators.espresso import Espresso, EspressoProfile

    from interforge.teacher.embedded import with_dispersion

    q = section.qe
    pseudo_dir = q.pseudo_dir or os.environ.get("ESPRESSO_PSEUDO", "")
    if not q.pseudopotentials:
        raise TeacherError("the qe teacher needs [teacher.qe] pseudopotentials = {Element = 'file.UPF', ...}")
    if not pseudo_dir:
        raise TeacherError("the qe teacher needs [teacher.qe] pseudo_dir or $ESPRESSO_PSEUDO")
    for el, fname in q.pseudopotentials.items():
        if not (Path(pseudo_dir) / fname).is_file():
            raise TeacherError(f"pseudopotential for {el} not found: {Path(pseudo_dir) / fname}")

    class CheckedEspresso(Espresso):
        def calculate(self, atoms=None, properties=("energy",), system_changes=None):
            missing = set(atoms.get_chemical_symbols()) - set(q.pseudopotentials)
            if missing:
                raise TeacherError(f"no pseudopotential for {', '.join(sorted(missing))} in [teacher.qe] pseudopotentials")
            self.parameters["kpts"] = kpoint_mesh(atoms.cell, atoms.pbc, q.kspacing)
            try:
                super().calculate(atoms, properties, system_changes or all_changes)
            except (CalculationFailed, OSError, ValueError, IndexError, StopIteration) as err:
                raise LabelFailure(f"pw.x failed or did not converge ({type(err).__name__}: {str(err)[:150]})") from None

    profile = EspressoProfile(command=q.command, pseudo_dir=pseudo_dir)
    calc = CheckedEspresso(
        profile=profile, directory=str(directory), pseudopotentials=dict(q.pseudopotentials),
        input_data={"control": {"calculation": "scf", "tprnfor": True, "tstress": True},
                    "system": {"ecutwfc": q.ecutwfc, "ecutrho": q.ecutrho, "occupations": "smearing",
                               "smearing": "gaussian", "degauss": 0.005},
                    "electrons": {"conv_thr": q.conv_thr}},
        kpts=(1, 1, 1),
    )
    return with_dispersion(calc, section)
