"""Teachers: the reference methods that label structures, and fault-tolerant labelling.

``make_calculator(settings)`` returns an ASE calculator for a teacher name or a ``[teacher]``
section: embedded foundation models (``default`` = ``chgnet``, ``sevenn``; + D3(BJ)), DFT codes
(``vasp``, ``gpaw``, ``qe``), a local NEP (``nep``) or a local model file (``model-file``).
``teacher_identity`` gives the name and settings hash stored with every label;
``label_structures`` labels into a :class:`~interforge.data.LabelStore` through an executor.
"""

from interforge.teacher.errors import LabelFailure, TeacherError
from interforge.teacher.factory import make_calculator, register_teacher, teacher_names
from interforge.teacher.identity import TeacherIdentity, teacher_identity
from interforge.teacher.labelling import LabelOutcome, LabelReport, check_labels, label_one, label_structures

__all__ = [
    "LabelFailure", "LabelOutcome", "LabelReport", "TeacherError", "TeacherIdentity", "check_labels", "label_one",
    "label_structures", "make_calculator", "register_teacher", "teacher_identity", "teacher_names",
]
