"""``[project]``: name, working directory and the master random seed."""

from pydantic import Field

from interforge.config.base import Section


class ProjectSection(Section):
    """Where a project keeps its files and how it seeds its random numbers."""

    name: str = Field("interforge-project", description="Label written into reports and provenance.")
    workdir: str = Field("work", description="Working directory (relative to the TOML file) for all outputs and logs.")
    seed: int = Field(2026, ge=0, description="Master random seed (>= 0); every stochastic step derives its seed from it.")
