"""Validation gates: a NEP reaches production only after it holds against its teacher."""

from interforge.validation.gates import Gate, summarise
from interforge.validation.runner import (ValidationRecord, Validator, production_check, read_record, record_path,
                                          validate_model_gates)

__all__ = ["Gate", "ValidationRecord", "Validator", "production_check", "read_record", "record_path", "summarise",
           "validate_model_gates"]
