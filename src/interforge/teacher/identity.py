"""Teacher identity: a canonical name and a hash of exactly the settings that change the labels.

The hash is stored with every label (``teacher_hash``) so that labels of different methods never
mix and a re-run recognises its own finished work. Settings that do not change a label (timeouts,
retries, the force sanity bound, the device) are left out of the hash on purpose.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from interforge.config.teacher import TeacherSection
from interforge.data import settings_hash
from interforge.teacher.errors import TeacherError

#: Aliases resolved before hashing: ``default`` and ``chgnet`` give the same identity.
ALIASES = {"default": "chgnet", "7net-0": "sevenn", "sevennet": "sevenn", "espresso": "qe", "model": "model-file"}
BUILTIN = ("chgnet", "sevenn", "vasp", "gpaw", "qe", "nep", "model-file", "calibrated")

#: Versions of the embedded models' weights (part of the identity).
EMBEDDED_VERSIONS = {"chgnet": "CHGNet-0.3.0", "sevenn": "SevenNet-0"}


@dataclass(frozen=True)
class TeacherIdentity:
    """Who labelled: ``name`` (canonical), ``hash`` (16 hex digits) and the hashed ``settings``."""

    name: str
    hash: str
    settings: dict[str, Any]


def as_section(settings: "str | TeacherSection | dict | None") -> TeacherSection:
    """A TeacherSection from a name, a mapping or a section (None = the defaults)."""
    if settings is None:
        return TeacherSection()
    if isinstance(settings, TeacherSection):
        return settings
    if isinstance(settings, str):
        return TeacherSection(name=settings)
    if isinstance(settings, dict):
        return TeacherSection.model_validate(settings)
    raise TeacherError(f"teacher settings must be a name, a mapping or a TeacherSection, not {type(settings).__name__}")


def canonical_name(name: str) -> str:
    name = name.strip().lower()
    return ALIASES.get(name, name)


def _model_file_fingerprint(path: str) -> dict[str, Any]:
    # A local model is identified by its content, not its path: a moved file keeps its labels.
    import hashlib
    from pathlib import Path

    p = Path(path).expanduser()
    if not p.is_file():
        return {"model_path": str(p)}
    h = hashlib.sha256()
    with open(p, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return {"model_sha256": h.hexdigest()[:16]}


def label_settings(section: TeacherSection) -> dict[str, Any]:
    """The settings that determine a label, as a plain mapping (the input of the hash)."""
    name = canonical_name(section.name)
    d3 = {"dispersion": "d3", "d3_method": section.d3_method, "d3_damping": section.d3_damping}
    if name in EMBEDDED_VERSIONS:
        out: dict[str, Any] = {"teacher": name, "model": EMBEDDED_VERSIONS[name]}
        out.update(d3 if section.dispersion else {"dispersion": "none"})
        return out
    if name == "vasp":
        v = section.vasp.model_dump(exclude={"command"})
        return {"teacher": name, **v}
    if name == "gpaw":
        g = section.gpaw.model_dump(exclude={"python"})
        if g.get("stress", True):
            g.pop("stress", None)  # the default: the identity of labels made before the switch existed
        out = {"teacher": name, **g}
        out.update(d3 if section.dispersion else {"dispersion": "none"})
        return out
    if name == "qe":
        q = section.qe.model_dump(exclude={"command", "pseudo_dir"})
        out = {"teacher": name, **q}
        out.update(d3 if section.dispersion else {"dispersion": "none"})
        return out
    if name == "calibrated":
        # CHGNet fine-tuned by `teacher calibrate`: its base model and the weights' content (never the path).
        out = {"teacher": name, "base": EMBEDDED_VERSIONS["chgnet"], **_model_file_fingerprint(section.model_path)}
        out.update(d3 if section.dispersion else {"dispersion": "none"})
        return out
    if name in ("nep", "model-file"):
        out = {"teacher": name, "model_kind": section.model_kind, **_model_file_fingerprint(section.model_path)}
        if name == "model-file":
            out.update(d3 if section.dispersion else {"dispersion": "none"})
        return out
    # A registered (plug-in or test) teacher: its name and the dispersion choice.
    return {"teacher": name}


def teacher_identity(settings: "str | TeacherSection | dict | None" = None) -> TeacherIdentity:
    """The identity stored as provenance with every label made by this teacher."""
    section = as_section(settings)
    s = label_settings(section)
    return TeacherIdentity(name=canonical_name(section.name), hash=settings_hash(s), settings=s)
