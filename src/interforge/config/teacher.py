"""``[teacher]``: which reference method labels structures (paper: VASP PBE + D3(BJ))."""

from pydantic import Field

from interforge.config.base import Section


class VaspSettings(Section):
    """VASP through ASE with the paper's settings; POTCARs from $VASP_PP_PATH."""

    command: str = Field("vasp_std", description="Command that runs VASP (mpirun ... vasp_std on a cluster).")
    xc: str = Field("PBE", description="Exchange-correlation functional.")
    encut: float = Field(550.0, gt=0, description="Plane-wave cutoff, eV.")
    kspacing: float = Field(0.3, gt=0, description="k-point spacing, 1/Å (VASP KSPACING).")
    ediff: float = Field(1e-6, gt=0, description="Electronic convergence, eV.")
    ivdw: int = Field(12, description="Dispersion correction: 12 = D3 with Becke-Johnson damping.")


class GpawSettings(Section):
    """GPAW plane-wave PAW (open source). Stress is unconverged below 600 eV."""

    ecut: float = Field(600.0, ge=600.0, description="Plane-wave cutoff, eV (>= 600 for converged stress).")
    kspacing: float = Field(0.3, gt=0, description="k-point density, 1/Å.")
    xc: str = Field("PBE", description="Exchange-correlation functional.")


class TeacherSection(Section):
    """Label source. `default` is the embedded CHGNet + D3(BJ); use `sevenn` for better accuracy, real DFT for production."""

    name: str = Field("default", description="default | chgnet | sevenn | vasp | gpaw | qe | nep | model-file")
    dispersion: bool = Field(True, description="Add DFT-D3(BJ) dispersion (dftd3 package) to embedded teachers, as the paper's DFT does.")
    model_path: str = Field("", description="Local model file for `model-file` / `nep` teachers (never downloaded).")
    max_force: float = Field(50.0, gt=0, description="Sanity bound, eV/Å: larger forces mark a label as failed.")
    timeout_s: float = Field(3600.0, gt=0, description="Wall-time limit of one labelling task, s.")
    retries: int = Field(1, ge=0, description="Retries of a failed labelling task before it is stored as failed.")
    vasp: VaspSettings = Field(default_factory=VaspSettings)
    gpaw: GpawSettings = Field(default_factory=GpawSettings)
