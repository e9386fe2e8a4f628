"""Validation inside a project: its bulk phases, its teacher, its folders."""

from __future__ import annotations

import os
from pathlib import Path

from interforge.config import InterforgeConfig
from interforge.validation.runner import ValidationRecord, Validator


def project_phases(cfg: InterforgeConfig) -> dict:
    """Name → bulk cell of every project phase and validation phase (what the gates are measured on)."""
    from interforge.active.project import bulk_cell

    names = list(dict.fromkeys([*cfg.structures.phases, *cfg.gate_phases]))
    return {n: bulk_cell(n, cfg) for n in names}


def validate_in_project(cfg: InterforgeConfig, workdir: str | os.PathLike, model_path: str | os.PathLike,
                        out_dir: str | os.PathLike | None = None, executor=None,
                        phases: dict | None = None) -> ValidationRecord:
    """Run every gate of ``model_path`` against the project's teacher on its bulk phases (the NEP's NPT runs
    through ``executor`` when one is given). ``phases``: :func:`project_phases` already built (a caller that
    validates several models builds them once: with ``ordering_rerank_k`` that is a teacher relaxation each)."""
    from interforge.teacher import make_calculator

    out = Path(out_dir) if out_dir else Path(workdir) / "validation"
    phases = phases if phases is not None else project_phases(cfg)
    return Validator(model_path, cfg, phases, make_calculator(cfg.teacher), out, executor,
                     teacher_is_project_teacher=True).run()
