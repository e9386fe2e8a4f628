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
    setups: dict[str, str] = Field(default_factory=lambda: {"Li": "_sv", "Zr": "_sv"},
                                   description="POTCAR variants (element -> suffix), VASP's recommended Li_sv and Zr_sv.")
    nelm: int = Field(200, ge=1, description="Maximum electronic steps; a run that uses all of them is unconverged.")
    ismear: int = Field(0, description="Smearing: 0 = Gaussian (safe for insulators and interfaces).")
    sigma: float = Field(0.05, gt=0, description="Smearing width, eV.")


class GpawSettings(Section):
    """GPAW plane-wave PAW (open source). Stress is unconverged below 600 eV."""

    ecut: float = Field(600.0, ge=600.0, description="Plane-wave cutoff, eV (>= 600 for converged stress).")
    kspacing: float = Field(0.3, gt=0, description="k-point density, 1/Å.")
    xc: str = Field("PBE", description="Exchange-correlation functional.")
    python: str = Field("", description="Python interpreter that can import gpaw (GPAW runs in a subprocess); "
                        "empty = this interpreter. Debian's `apt-get install gpaw gpaw-data` gives /usr/bin/python3.")
    convergence_energy: float = Field(1e-6, gt=0, description="SCF energy convergence, eV per valence electron.")
    maxiter: int = Field(333, ge=1, description="Maximum SCF iterations; more is reported as unconverged.")


class QeSettings(Section):
    """Quantum ESPRESSO (pw.x) through ASE; the user supplies pseudopotentials."""

    command: str = Field("pw.x", description="Command that runs pw.x (mpirun -np N pw.x on a cluster).")
    pseudo_dir: str = Field("", description="Folder with the pseudopotential files (else $ESPRESSO_PSEUDO).")
    pseudopotentials: dict[str, str] = Field(default_factory=dict,
                                             description="Element -> pseudopotential file name, e.g. {Li = 'li_pbe_v1.4.uspp.F.UPF'}.")
    ecutwfc: float = Field(60.0, gt=0, description="Wavefunction cutoff, Ry.")
    ecutrho: float = Field(480.0, gt=0, description="Charge-density cutoff, Ry (8x ecutwfc for ultrasoft).")
    kspacing: float = Field(0.3, gt=0, description="k-point spacing, 1/Å.")
    conv_thr: float = Field(1e-8, gt=0, description="SCF convergence, Ry.")


class TeacherSection(Section):
    """Label source. `default` is the embedded CHGNet + D3(BJ); use `sevenn` for better accuracy, real DFT for production."""

    name: str = Field("default", description="default | chgnet | sevenn | vasp | gpaw | qe | nep | model-file")
    dispersion: bool = Field(True, description="Add DFT-D3(BJ) dispersion (dftd3 package) to embedded teachers, as the paper's DFT does.")
    d3_method: str = Field("PBE", description="Functional whose D3 parameters are used.")
    d3_damping: str = Field("d3bj", description="D3 damping: d3bj = Becke-Johnson (VASP IVDW=12).")
    model_path: str = Field("", description="Local model file for `model-file` / `nep` teachers (never downloaded).")
    model_kind: str = Field("auto", description="Kind of the `model-file`: auto | mace | sevenn | chgnet.")
    device: str = Field("cpu", description="Torch device of embedded / model-file teachers.")
    max_force: float = Field(50.0, gt=0, description="Sanity bound, eV/Å: larger forces mark a label as failed.")
    timeout_s: float = Field(3600.0, gt=0, description="Wall-time limit of one labelling task, s.")
    retries: int = Field(1, ge=0, description="Retries of a failed labelling task before it is stored as failed.")
    vasp: VaspSettings = Field(default_factory=VaspSettings)
    gpaw: GpawSettings = Field(default_factory=GpawSettings)
    qe: QeSettings = Field(default_factory=QeSettings)


def teacher_has_d3bj(section: TeacherSection) -> bool:
    """Whether this teacher's labels include DFT-D3 with Becke-Johnson damping (VASP IVDW = 12; the
    embedded, GPAW, QE and model-file teachers with ``dispersion`` on and ``d3bj`` damping)."""
    if section.name == "vasp":
        return section.vasp.ivdw == 12
    if section.name == "nep":
        return False  # a NEP teacher brings its own run-time dispersion, if any
    return section.dispersion and section.d3_damping.lower() == "d3bj"
