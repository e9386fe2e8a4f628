"""Base class of every configuration section: strict (unknown keys are errors), documented fields."""

from pydantic import BaseModel, ConfigDict


class Section(BaseModel):
    """A TOML table. Unknown keys raise; NaN and inf (TOML's ``nan``, ``inf``) are refused in every number;
    every field carries a description used by ``interforge init``."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)
