"""The project configuration: one TOML file validated by pydantic models.

Defaults reproduce the paper's settings (see ``docs/configuration.md``). ``load_config`` turns
every validation problem into a :class:`~interforge.errors.ConfigError` whose one-line message
names the file and the dotted key, e.g. ``project.toml: unknown key 'nep.nueron'``.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError, model_validator

from interforge.config.active import ActiveSection
from interforge.config.analysis import AnalysisSection
from interforge.config.base import Section
from interforge.config.data import DataSection
from interforge.config.interfaces import InterfacesSection
from interforge.config.md import MdSection
from interforge.config.nep import NepSection
from interforge.config.production import ProductionSection
from interforge.config.project import ProjectSection
from interforge.config.sampling import SamplingSection
from interforge.config.structures import StructuresSection
from interforge.config.teacher import TeacherSection, teacher_has_d3bj
from interforge.config.validation import ValidationSection
from interforge.config.workflow import WorkflowSection
from interforge.errors import ConfigError


class InterforgeConfig(Section):
    """The whole project file. Each table is one concern of the pipeline."""

    project: ProjectSection = Field(default_factory=ProjectSection)
    structures: StructuresSection = Field(default_factory=StructuresSection)
    interfaces: InterfacesSection = Field(default_factory=InterfacesSection)
    teacher: TeacherSection = Field(default_factory=TeacherSection)
    data: DataSection = Field(default_factory=DataSection)
    sampling: SamplingSection = Field(default_factory=SamplingSection)
    nep: NepSection = Field(default_factory=NepSection)
    active: ActiveSection = Field(default_factory=ActiveSection)
    md: MdSection = Field(default_factory=MdSection)
    validation: ValidationSection = Field(default_factory=ValidationSection)
    production: ProductionSection = Field(default_factory=ProductionSection)
    analysis: AnalysisSection = Field(default_factory=AnalysisSection)
    workflow: WorkflowSection = Field(default_factory=WorkflowSection)

    @model_validator(mode="after")
    def _resolve_dispersion(self):
        # nep.dispersion = auto follows the teacher: a model learns D3 separately only when its labels hold D3(BJ).
        if self.nep.dispersion == "auto":
            if teacher_has_d3bj(self.teacher):
                self.nep = self.nep.model_copy(update={"dispersion": "d3",
                                                       "d3_functional": self.teacher.d3_method.lower()})
            else:
                self.nep = self.nep.model_copy(update={"dispersion": "none"})
        return self

    # Set by load_config: the directory relative paths in the file are resolved against.
    _base_dir: Path = Path(".")

    @property
    def workdir(self) -> Path:
        """The working directory, resolved against the TOML file's folder."""
        return (self._base_dir / self.project.workdir).resolve()

    @property
    def gate_temperatures_K(self) -> list[float]:
        """The validation gates' temperatures (K): ``[validation] temperatures_K``, else the production bulk
        temperatures."""
        return [float(T) for T in (self.validation.temperatures_K or self.production.bulk_temperatures_K)]

    @property
    def gate_phases(self) -> list[str]:
        """The phases the validation gates run MD on: ``[validation] phases``, else the production bulk phases."""
        return list(self.validation.phases or self.production.bulk_phases)

    def resolve(self, path: str) -> Path:
        """Resolve a path from the file (relative to the working directory)."""
        p = Path(path)
        return p if p.is_absolute() else self.workdir / p


def _format_validation_error(source: str, err: ValidationError) -> str:
    first = err.errors()[0]
    key = ".".join(str(part) for part in first["loc"])
    if first["type"] == "extra_forbidden":
        msg = f"{source}: unknown key '{key}'"
    elif first["type"] == "missing":
        msg = f"{source}: missing key '{key}'"
    else:
        msg = f"{source}: key '{key}': {first['msg']} (got {first.get('input')!r})"
    more = len(err.errors()) - 1
    return msg + (f" (+{more} more problem{'s' if more > 1 else ''})" if more else "")


#: Largest temperature and seed a project file may hold (as on the command line, interforge.checks).
MAX_TEMPERATURE_K = 1e5
MAX_SEED = 2**63 - 1


def _temperature_keys(section: Any, prefix: str = "") -> list[tuple[str, Any]]:
    """(dotted key, value) of every temperature in the configuration: fields named ``*_K`` or
    ``*temperatures_K`` (K), nested sections included."""
    from pydantic import BaseModel

    found = []
    for name in type(section).model_fields:
        value = getattr(section, name)
        key = f"{prefix}{name}"
        if isinstance(value, BaseModel):
            found += _temperature_keys(value, key + ".")
        elif (name.endswith("_K") and not name.endswith("offset_K")) or name == "temperatures_K":
            found.append((key, value))  # an *offset_K is a temperature difference, checked on its own
    return found


def check_config(cfg: InterforgeConfig, source: str = "<config>") -> InterforgeConfig:
    """The rules a schema cannot say field by field: every temperature > 0 K, and a teacher name that
    :func:`interforge.teacher.make_calculator` knows. Raises ConfigError naming the key."""
    for key, value in _temperature_keys(cfg):
        values = value if isinstance(value, list) else [value]
        bad = [v for v in values if v is not None and not v > 0]
        if bad:
            raise ConfigError(f"{source}: key '{key}': temperatures must be > 0 K (got {bad[0]!r})")
        hot = [v for v in values if v is not None and v > MAX_TEMPERATURE_K]
        if hot:
            raise ConfigError(f"{source}: key '{key}': temperatures must be <= {MAX_TEMPERATURE_K:g} K (got {hot[0]!r})")
    if cfg.active.gate_rounds:
        from interforge.active.gated import gate_temperatures

        gate_T = gate_temperatures(cfg)
        if gate_T and not min(gate_T) > 0:
            raise ConfigError(f"{source}: key 'active.gate_temperature_offset_K': gate rounds would run at "
                              f"{min(gate_T):g} K; the gate temperatures plus the offset must be > 0 K")
    if not 0 <= cfg.project.seed <= MAX_SEED:
        raise ConfigError(f"{source}: key 'project.seed': must be >= 0 and <= 2^63 - 1 (got {cfg.project.seed!r})")
    from interforge.teacher import teacher_names
    from interforge.teacher.identity import canonical_name

    known = teacher_names()
    if canonical_name(cfg.teacher.name) not in known:
        raise ConfigError(f"{source}: key 'teacher.name': unknown teacher '{cfg.teacher.name}'; "
                          f"choose one of: {', '.join(known)}")
    return cfg


def config_from_dict(data: dict[str, Any], source: str = "<config>", base_dir: Path | None = None) -> InterforgeConfig:
    """Validate a parsed TOML mapping; raise ConfigError naming the first bad key."""
    try:
        cfg = InterforgeConfig.model_validate(data)
    except ValidationError as err:
        raise ConfigError(_format_validation_error(source, err)) from None
    check_config(cfg, source)
    if base_dir is not None:
        cfg._base_dir = base_dir
    return cfg


def load_config(path: str | Path | None) -> InterforgeConfig:
    """Read and validate a project TOML file; ``None`` gives the paper defaults in the current directory."""
    if path is None:
        return InterforgeConfig()
    path = Path(path)
    if path.is_dir():
        raise ConfigError(f"--config: {path} is a directory, not a TOML file")
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{path}: not valid TOML: {err}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a TOML file (binary content, not UTF-8 text)") from None
    except OSError as err:
        raise ConfigError(f"cannot read config file {path}: {err.strerror or err}") from None
    return config_from_dict(data, source=str(path), base_dir=path.parent.resolve())


from interforge.config.render import render_default_toml  # noqa: E402  (needs InterforgeConfig)

__all__ = ["InterforgeConfig", "load_config", "config_from_dict", "render_default_toml"]
