"""One factory from configuration to an ASE calculator: ``make_calculator(settings)``.

Names: ``default`` (= ``chgnet``), ``chgnet``, ``sevenn``, ``vasp``, ``gpaw``, ``qe``, ``nep`` (a local
nep.txt through ``interforge.nep``), ``model-file`` (a local MACE/SevenNet/CHGNet file) and ``calibrated``
(CHGNet fine-tuned on DFT by ``interforge teacher calibrate``, weights at ``model_path``). Further
teachers (a plug-in, a test double) are added with :func:`register_teacher`.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Callable

from ase.calculators.calculator import Calculator

from interforge.config.teacher import TeacherSection
from interforge.teacher.errors import TeacherError
from interforge.teacher.identity import BUILTIN, ALIASES, as_section, canonical_name

log = logging.getLogger(__name__)

#: Extra teachers: name -> factory(section, directory) -> Calculator.
_REGISTRY: dict[str, Callable[[TeacherSection, Path | None], Calculator]] = {}


def register_teacher(name: str, factory: Callable[[TeacherSection, Path | None], Calculator]) -> None:
    """Make ``name`` a teacher. ``factory(section, directory)`` returns a fresh ASE calculator.

    Registration is per process: use it with the in-process or thread executors (or register it at
    import time of a module the workers import).
    """
    name = canonical_name(name)
    if name in BUILTIN:
        raise TeacherError(f"'{name}' is a built-in teacher and cannot be replaced")
    _REGISTRY[name] = factory


def teacher_names() -> list[str]:
    """Every name make_calculator accepts (aliases included)."""
    return sorted(set(BUILTIN) | set(_REGISTRY) | {"default"} | set(ALIASES))


def _nep_calculator(section: TeacherSection) -> Calculator:
    if not section.model_path:
        raise TeacherError("the nep teacher needs [teacher] model_path (a local nep.txt)")
    if not Path(section.model_path).is_file():
        raise TeacherError(f"nep model not found: {section.model_path}")
    try:
        from interforge.nep import NEPCalculator  # another area's package; imported only when asked for
    except ImportError as err:
        raise TeacherError(f"the nep teacher needs interforge.nep.NEPCalculator: {err}") from None
    return NEPCalculator(section.model_path)


def make_calculator(settings: "str | TeacherSection | dict | None" = "default",
                    directory: str | Path | None = None) -> Calculator:
    """An ASE calculator for the teacher in ``settings`` (a name, a mapping or a TeacherSection).

    ``directory`` is the scratch folder of file-based codes (VASP, GPAW, QE): give each concurrent
    task its own. Embedded models load once per process and are shared afterwards.
    """
    section = as_section(settings)
    name = canonical_name(section.name)
    if name == "chgnet":
        from interforge.teacher.embedded import chgnet_calculator

        return chgnet_calculator(section)
    if name == "sevenn":
        from interforge.teacher.embedded import sevenn_calculator

        return sevenn_calculator(section)
    if name == "model-file":
        from interforge.teacher.embedded import model_file_calculator

        return model_file_calculator(section)
    if name == "calibrated":
        from interforge.teacher.embedded import calibrated_calculator

        return calibrated_calculator(section)
    if name == "nep":
        return _nep_calculator(section)
    if name == "vasp":
        from interforge.teacher.vasp import make_vasp_calculator

        return make_vasp_calculator(section, directory or "vasp-run")
    if name == "gpaw":
        from interforge.teacher.gpaw import make_gpaw_calculator

        return make_gpaw_calculator(section, directory)
    if name == "qe":
        from interforge.teacher.qe import make_qe_calculator

        return make_qe_calculator(section, directory or "qe-run")
    if name in _REGISTRY:
        return _REGISTRY[name](section, Path(directory) if directory else None)
    raise TeacherError(f"unknown teacher '{section.name}'; choose one of: {', '.join(teacher_names())}")
