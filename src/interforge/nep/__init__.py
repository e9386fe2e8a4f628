"""NEP force fields: ``nep.txt`` files, evaluation (calorine's CPU evaluator), ASE calculators for
one model or a committee, and committee training (neppo by default, GPUMD ``nep`` when on PATH).

Units: eV, Å, eV/Å, eV/Å³. See docs/nep.md.
"""

from interforge.nep.backends import BackendResult, GpumdBackend, NeppoBackend, TrainingError, get_backend
from interforge.nep.calculator import CommitteeCalculator, Evaluation, NEPCalculator, NepModel, force_deviation
from interforge.nep.committee import CommitteeResult, MemberResult, train_committee, train_member
from interforge.nep.modelfile import NepFileError, NepHeader, read_nep, validate_nep_file, write_nep

__all__ = [
    "BackendResult", "CommitteeCalculator", "CommitteeResult", "Evaluation", "GpumdBackend", "MemberResult",
    "NEPCalculator", "NepFileError", "NepHeader", "NepModel", "NeppoBackend", "TrainingError",
    "force_deviation", "get_backend", "read_nep", "train_committee", "train_member", "validate_nep_file",
    "write_nep",
]
