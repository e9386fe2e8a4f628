"""Embedded teachers: foundation models whose weights ship inside their wheels (offline, CPU).

``chgnet``: CHGNet 0.3.0 (chgnet wheel, BSD). ``sevenn``: SevenNet-0 (sevenn wheel, MIT). Both cover
Li, Zr, Cl and O. Each is summed with DFT-D3(BJ) (``dftd3`` package) because the paper's reference
is PBE + D3(BJ) and these models were trained on PBE(+U) data without dispersion.

Models are loaded once per process (a load costs seconds); every calculator built afterwards shares
the weights, and each thread gets its own calculator object because ASE calculators keep state.
Energies eV, forces eV/Å, stress eV/Å³ (ASE's convention).
"""

from __future__ import annotations

import contextlib
import io
import logging
import threading
from pathlib import Path

from ase.calculators.calculator import Calculator
from ase.calculators.mixing import SumCalculator

from interforge.config.teacher import TeacherSection
from interforge.teacher.errors import TeacherError

log = logging.getLogger(__name__)

_LOCK = threading.Lock()
_MODELS: dict[tuple, object] = {}


def _cached(key: tuple, loader):
    # One model per process and key; the lock keeps two threads from loading it twice.
    with _LOCK:
        if key not in _MODELS:
            _MODELS[key] = loader()
        return _MODELS[key]


def _quiet_torch():
    import torch

    # Single-threaded, in every thread: labelling parallelises over structures, not inside one, and a
    # two-thread evaluation is 7x slower (1.7 vs 0.22 s per 27-atom CHGNet force + stress, measured on
    # 2 cores) as soon as another process shares the cores: OpenMP's threads wait on each other.
    if torch.get_num_threads() > 1:
        torch.set_num_threads(1)


def dispersion_calculator(section: TeacherSection) -> Calculator:
    """DFT-D3 with the configured damping (default PBE, Becke-Johnson = VASP IVDW=12)."""
    try:
        from dftd3.ase import DFTD3
    except ImportError as err:  # pragma: no cover - dftd3 is a pinned dependency
        raise TeacherError(f"D3 dispersion needs the dftd3 package (pip install dftd3): {err}") from None
    return DFTD3(method=section.d3_method, damping=section.d3_damping)


def with_dispersion(calc: Calculator, section: TeacherSection) -> Calculator:
    """``calc`` plus D3 when ``section.dispersion`` is on (energies, forces and stresses add)."""
    if not section.dispersion:
        return calc
    return SumCalculator([calc, dispersion_calculator(section)])


def chgnet_model(device: str = "cpu", path: str | None = None):
    """The CHGNet model: the 0.3.0 weights from the wheel, or a local checkpoint file."""
    try:
        from chgnet.model import CHGNet
    except ImportError as err:
        raise TeacherError(f"the chgnet teacher needs the chgnet package (pip install chgnet==0.4.2): {err}") from None
    if path:
        st = Path(path).stat()  # a file rewritten in place (a new calibration) is loaded again
        key = ("chgnet-file", str(Path(path).resolve()), st.st_mtime_ns, st.st_size, device)
        def load_file():
            with contextlib.redirect_stdout(io.StringIO()):  # CHGNet prints its parameter count
                return CHGNet.from_file(str(path), verbose=False)

        return _cached(key, load_file)
    def load():
        with contextlib.redirect_stdout(io.StringIO()):
            return CHGNet.load(model_name="0.3.0", use_device=device, verbose=False)

    return _cached(("chgnet", "0.3.0", device), load)


def chgnet_calculator(section: TeacherSection, path: str | None = None) -> Calculator:
    """CHGNet (+ D3). Stress comes back in eV/Å³ (CHGNet's GPa times its 1/160.2 stress weight)."""
    from chgnet.model.dynamics import CHGNetCalculator

    _quiet_torch()
    model = chgnet_model(section.device, path)
    with contextlib.redirect_stdout(io.StringIO()):  # CHGNet prints its device; library code stays quiet
        calc = CHGNetCalculator(model=model, use_device=section.device)
    return with_dispersion(calc, section)


def calibrated_calculator(section: TeacherSection) -> Calculator:
    """The ``calibrated`` teacher: CHGNet with the weights fine-tuned by ``interforge teacher calibrate``
    (``[teacher] model_path``) + D3, the same composition as the default teacher."""
    if not section.model_path:
        raise TeacherError("the calibrated teacher needs [teacher] model_path (the weights written by "
                           "`interforge teacher calibrate`, [teacher.calibration] weights)")
    path = Path(section.model_path).expanduser()
    if not path.is_file():
        raise TeacherError(f"calibrated weights not found: {path} (run `interforge teacher calibrate`)")
    return chgnet_calculator(section, str(path))


def sevenn_calculator(section: TeacherSection, path: str | None = None) -> Calculator:
    """SevenNet-0 from the wheel (or a local SevenNet checkpoint) (+ D3)."""
    try:
        from sevenn.calculator import SevenNetCalculator
    except ImportError as err:
        raise TeacherError(f"the sevenn teacher needs the sevenn package (pip install sevenn==0.13.0): {err}") from None
    _quiet_torch()
    model = path or "7net-0"
    key = ("sevenn", str(model), section.device, threading.get_ident())
    calc = _cached(key, lambda: SevenNetCalculator(model, device=section.device))
    return with_dispersion(calc, section)


def mace_calculator(section: TeacherSection, path: str) -> Calculator:
    """A MACE-family model from a local file (never downloaded)."""
    try:
        from mace.calculators import MACECalculator
    except ImportError as err:
        raise TeacherError(f"model file {path} needs the mace-torch package (pip install mace-torch): {err}") from None
    calc = MACECalculator(model_paths=str(path), device=section.device, default_dtype="float64")
    return with_dispersion(calc, section)


def _guess_kind(path: Path) -> str:
    name = path.name.lower()
    if name.endswith(".model") or "mace" in name:
        return "mace"
    if "chgnet" in name or name.endswith(".pth.tar"):
        return "chgnet"
    if "sevenn" in name or "7net" in name or name.endswith(".pth"):
        return "sevenn"
    raise TeacherError(f"cannot tell the kind of model file {path}; set [teacher] model_kind = mace | sevenn | chgnet")


def model_file_calculator(section: TeacherSection) -> Calculator:
    """A foundation model from a local file: MACE, SevenNet or CHGNet checkpoints."""
    if not section.model_path:
        raise TeacherError("the model-file teacher needs [teacher] model_path (a local model file; nothing is downloaded)")
    path = Path(section.model_path).expanduser()
    if not path.is_file():
        raise TeacherError(f"model file not found: {path}")
    kind = section.model_kind if section.model_kind != "auto" else _guess_kind(path)
    if kind == "mace":
        return mace_calculator(section, str(path))
    if kind == "sevenn":
        return sevenn_calculator(section, str(path))
    if kind == "chgnet":
        return chgnet_calculator(section, str(path))
    raise TeacherError(f"unknown model_kind '{kind}' (use auto, mace, sevenn or chgnet)")
