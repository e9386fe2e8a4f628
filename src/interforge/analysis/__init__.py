"""Ion-transport and structure analysis of MD trajectories (pure functions: arrays in, dataclasses out).

Readers live in :mod:`interforge.analysis.readers`; figures in :mod:`interforge.report`.
This package never imports ``interforge.md`` or ``interforge.nep``.
"""

from interforge.analysis.diffusion import (
    ArrheniusFit,
    DiffusionFit,
    DiffusionResult,
    arrhenius_fit,
    diffusion_coefficient,
    diffusion_from_msd,
    fit_window,
    nernst_einstein_mS_cm,
)
from interforge.analysis.msd import MSDResult, compute_msd, msd_direct, msd_fft_components

__all__ = [
    "ArrheniusFit", "DiffusionFit", "DiffusionResult", "MSDResult", "arrhenius_fit", "compute_msd",
    "diffusion_coefficient", "diffusion_from_msd", "fit_window", "msd_direct", "msd_fft_components",
    "nernst_einstein_mS_cm",
]
