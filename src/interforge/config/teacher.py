"""``[teacher]``: which reference method labels structures (paper: VASP PBE + D3(BJ)), and
``[teacher.calibration]``: how ``interforge teacher calibrate`` fine-tunes the foundation teacher on DFT."""

from pydantic import Field, model_validator

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

    ecut: float = Field(600.0, ge=100.0, description="Plane-wave cutoff, eV (>= 600 when `stress` is on: GPAW's "
                        "stress is unconverged below that; energies and forces converge faster).")
    kspacing: float = Field(0.3, gt=0, description="k-point density, 1/Å.")
    xc: str = Field("PBE", description="Exchange-correlation functional.")
    python: str = Field("", description="Python interpreter that can import gpaw (GPAW runs in a subprocess); "
                        "empty = this interpreter. Debian's `apt-get install gpaw gpaw-data` gives /usr/bin/python3.")
    convergence_energy: float = Field(1e-6, gt=0, description="SCF energy convergence, eV per valence electron.")
    maxiter: int = Field(333, ge=1, description="Maximum SCF iterations; more is reported as unconverged.")
    stress: bool = Field(True, description="Compute the stress (needs ecut >= 600 eV); off for energy-and-force "
                         "labels such as the calibration's, which may then use a lower cutoff.")

    @model_validator(mode="after")
    def _stress_needs_600_ev(self):
        if self.stress and self.ecut < 600.0:
            raise ValueError(f"ecut {self.ecut:g} eV is below 600 eV, where GPAW's stress is unconverged; raise it "
                             "or set stress = false (energy and force labels only)")
        return self


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


def _calibration_gpaw() -> GpawSettings:
    # The paper's accuracy (VASP ENCUT 550 eV, KSPACING 0.3 /Å); energies and forces only.
    return GpawSettings(ecut=550.0, kspacing=0.3, stress=False)


class CalibrationSection(Section):
    """`interforge teacher calibrate`: DFT labels on a few structures, the foundation model fine-tuned on them.
    Production DFT = the paper's accuracy (PBE + D3(BJ), 550 eV, k-spacing 0.3 /Å); see docs/calibrate.md for
    the laptop setting. The result is the teacher `calibrated` ([teacher] model_path = the weights)."""

    dft: str = Field("gpaw", description="DFT teacher that labels the calibration structures: gpaw | vasp | qe "
                     "(with its settings below; D3(BJ) as [teacher] dispersion says) or a registered teacher.")
    gpaw: GpawSettings = Field(default_factory=_calibration_gpaw,
                               description="GPAW settings of the calibration's DFT (stress off: E and F only).")
    vasp: VaspSettings = Field(default_factory=VaspSettings, description="VASP settings (the paper's INCAR).")
    qe: QeSettings = Field(default_factory=QeSettings, description="Quantum ESPRESSO settings.")
    n_structures: int = Field(12, ge=3, le=1000, description="Structures labelled with DFT: teacher-MD frames "
                              "of each phase plus the NEB images of one Li hop.")
    phases: list[str] = Field(default_factory=list, description="Bulk phases whose MD frames are labelled and whose "
                              "relaxed energies are compared (empty = [structures] phases).")
    md_temperature_K: float = Field(800.0, description="Temperature of the short teacher NVT runs (K).")
    md_ps: float = Field(0.5, gt=0, description="Length of each teacher NVT run (ps); frames come from its second "
                         "half, evenly spaced.")
    hop_phase: str = Field("", description="Phase of the Li-hop NEB (empty = the first phase holding Li; "
                           "'none' = no hop).")
    hop_images: int = Field(3, ge=1, le=9, description="Interior NEB images of the Li hop; the endpoints and "
                            "these images are labelled with DFT.")
    minima: bool = Field(False, description="Also label each phase's relaxed cell (the foundation teacher's "
                         "minimum) and train on it: anchors for the phase energies (one structure per phase, beyond "
                         "n_structures; never held out).")
    heldout_fraction: float = Field(0.34, gt=0, lt=1, description="Share of each group (the frames of one phase, "
                                    "the hop images) held out from fine-tuning and used to measure.")
    epochs: int = Field(60, ge=1, le=10000, description="Fine-tuning epochs (CHGNet's Trainer).")
    learning_rate: float = Field(3e-4, gt=0, le=1, description="Fine-tuning learning rate (Adam, cosine decay).")
    batch_size: int = Field(2, ge=1, description="Structures per fine-tuning batch.")
    force_loss_ratio: float = Field(1.0, ge=0, description="Weight of the force loss against the energy loss "
                                    "(CHGNet's Trainer; eV/Å against eV/atom).")
    trainable: str = Field("head", description="Which CHGNet weights change: head (the last interaction layers "
                           "and the readout; embeddings and the first layers frozen) | all.")
    relax_steps: int = Field(200, ge=0, description="FIRE steps of the cell + position relaxations behind the phase "
                             "energies (and of the NEB endpoints at fixed cell).")
    neb_steps: int = Field(150, ge=1, description="FIRE steps of each Li-hop climbing-image NEB.")
    weights: str = Field("calibration/chgnet-calibrated.pth.tar", description="Where the fine-tuned CHGNet weights "
                         "are written (relative to the working directory); [teacher] model_path of `calibrated`.")

    @model_validator(mode="after")
    def _known_choices(self):
        if self.trainable not in ("head", "all"):
            raise ValueError(f"trainable must be head or all, not {self.trainable!r}")
        return self


class TeacherSection(Section):
    """Label source. `default` is the embedded CHGNet + D3(BJ); use `sevenn` for better accuracy, real DFT for production."""

    name: str = Field("default", description="default | chgnet | sevenn | vasp | gpaw | qe | nep | model-file | "
                      "calibrated (CHGNet fine-tuned by `interforge teacher calibrate`, + D3(BJ))")
    dispersion: bool = Field(True, description="Add DFT-D3(BJ) dispersion (dftd3 package) to embedded teachers, as the paper's DFT does.")
    d3_method: str = Field("PBE", description="Functional whose D3 parameters are used.")
    d3_damping: str = Field("d3bj", description="D3 damping: d3bj = Becke-Johnson (VASP IVDW=12).")
    model_path: str = Field("", description="Local model file for `model-file` / `nep` teachers, or the fine-tuned "
                            "weights of `calibrated` (never downloaded).")
    model_kind: str = Field("auto", description="Kind of the `model-file`: auto | mace | sevenn | chgnet.")
    device: str = Field("cpu", description="Torch device of embedded / model-file teachers.")
    max_force: float = Field(50.0, gt=0, description="Sanity bound, eV/Å: larger forces mark a label as failed.")
    timeout_s: float = Field(3600.0, gt=0, description="Wall-time limit of one labelling task, s.")
    retries: int = Field(1, ge=0, description="Retries of a failed labelling task before it is stored as failed.")
    vasp: VaspSettings = Field(default_factory=VaspSettings)
    gpaw: GpawSettings = Field(default_factory=GpawSettings)
    qe: QeSettings = Field(default_factory=QeSettings)
    calibration: CalibrationSection = Field(default_factory=CalibrationSection)


def teacher_has_d3bj(section: TeacherSection) -> bool:
    """Whether this teacher's labels include DFT-D3 with Becke-Johnson damping (VASP IVDW = 12; the
    embedded, GPAW, QE and model-file teachers with ``dispersion`` on and ``d3bj`` damping)."""
    if section.name == "vasp":
        return section.vasp.ivdw == 12
    if section.name == "nep":
        return False  # a NEP teacher brings its own run-time dispersion, if any
    return section.dispersion and section.d3_damping.lower() == "d3bj"
