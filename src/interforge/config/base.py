"""Base class of every configuration section: strict (unknown keys are errors), documented fields."""

from pydantic import BaseModel, ConfigDict


class Section(BaseModel):
    """A TOML table. Unknown keys raise; every field carries a description used by ``interforge init``."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)
