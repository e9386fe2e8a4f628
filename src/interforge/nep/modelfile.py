"""GPUMD ``nep.txt`` files: validation, reading and writing (calorine does the parsing).

calorine's reader fails on a malformed file with messages that do not say where the file is
wrong, so :func:`validate_nep_file` checks the header and the number of parameter values itself
first and raises :class:`NepFileError` naming the line (1-based). Layout and counts follow
GPUMD's reader (see docs/nep.md):

``num_para_ann = (dim+2)*N_neu*N_typ + 1`` (NEP4; NEP5 adds one bias per species),
``num_c = N_typ^2 * ((n_max_R+1)(N_bas_R+1) + (n_max_A+1)(N_bas_A+1))``, then ``dim`` q_scaler
values, then ``10*N_typ(N_typ+1)/2`` values for a flexible ZBL (``zbl 0 0``).
"""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

from ase.data import atomic_numbers

from interforge.errors import InterforgeError
from interforge.fileio import atomic_path

log = logging.getLogger(__name__)

# Potential tokens whose parameter count we check in full; the tensor/charge/vdW variants are
# only header-checked here and left to calorine.
_COUNTED = {"nep4", "nep4_zbl", "nep5", "nep5_zbl"}
_KNOWN_PREFIXES = ("nep3", "nep4", "nep5")


class NepFileError(InterforgeError):
    """A ``nep.txt`` file is missing or malformed (the message names the line)."""


@dataclass
class NepHeader:
    """What the header of a ``nep.txt`` says (lengths in Å)."""

    path: str
    token: str
    types: list[str]
    zbl: tuple[float, float] | None
    radial_cutoff: float | list[float]
    angular_cutoff: float | list[float]
    max_neighbors: tuple[int, int]
    n_max: tuple[int, int]
    basis_size: tuple[int, int]
    l_max: list[int]
    neurons: tuple[int, int]
    dim: int
    n_parameters: int
    first_value_line: int
    extra: dict = field(default_factory=dict)

    @property
    def version(self) -> int:
        return int(self.token[3])

    @property
    def has_zbl(self) -> bool:
        return "zbl" in self.token


def _err(path, line: int, msg: str) -> NepFileError:
    return NepFileError(f"{path}: line {line}: {msg}")


def _ints(path, lineno, fields, n, name) -> list[int]:
    try:
        vals = [int(x) for x in fields]
    except ValueError:
        raise _err(path, lineno, f"'{name}' expects integers, got {' '.join(fields)!r}") from None
    if len(vals) not in (n if isinstance(n, tuple) else (n,)):
        raise _err(path, lineno, f"'{name}' expects {n} values, got {len(vals)}")
    return vals


def _floats(path, lineno, fields, name) -> list[float]:
    try:
        return [float(x) for x in fields]
    except ValueError:
        raise _err(path, lineno, f"'{name}' expects numbers, got {' '.join(fields)!r}") from None


def validate_nep_file(path: str | os.PathLike) -> NepHeader:
    """Check the header and the parameter count of a ``nep.txt``; return the parsed header.

    Raises :class:`NepFileError` naming the first bad line (1-based).
    """
    path = Path(path)
    if not path.is_file():
        raise NepFileError(f"{path}: no such NEP model file")
    lines = path.read_text().splitlines()
    if not lines:
        raise NepFileError(f"{path}: line 1: empty file, expected a header like 'nep4_zbl 4 Li Zr Cl O'")
    ln = 0  # index into lines

    def next_line(expect: str) -> tuple[int, list[str]]:
        nonlocal ln
        if ln >= len(lines):
            raise _err(path, ln + 1, f"file ends where the '{expect}' line was expected")
        fields = lines[ln].split()
        ln += 1
        if not fields:
            raise _err(path, ln, f"blank line where the '{expect}' line was expected")
        return ln, fields

    # line 1: token, number of types, symbols
    lineno, f = next_line("model")
    token = f[0]
    if not token.startswith(_KNOWN_PREFIXES):
        raise _err(path, lineno, f"unknown model token {token!r} (expected nep4, nep4_zbl, nep5, ...)")
    if token.startswith("nep3"):
        raise _err(path, lineno, f"{token} (NEP3) is not supported; retrain as NEP4")
    if len(f) < 2:
        raise _err(path, lineno, "missing the number of species after the model token")
    (n_typ,) = _ints(path, lineno, f[1:2], 1, "number of species")
    types = f[2:]
    if n_typ < 1 or len(types) != n_typ:
        raise _err(path, lineno, f"header announces {n_typ} species but lists {len(types)}: {' '.join(types)}")
    bad = [s for s in types if s not in atomic_numbers]
    if bad:
        raise _err(path, lineno, f"unknown element symbol(s) {bad}")
    if len(set(types)) != len(types):
        raise _err(path, lineno, f"duplicate species in {types}")

    zbl = None
    extra: dict = {}
    if "zbl" in token:
        lineno, f = next_line("zbl")
        if f[0] != "zbl" or len(f) not in (3, 4):
            raise _err(path, lineno, f"expected 'zbl r_inner r_outer [factor]', got {lines[lineno - 1].strip()!r}")
        z = _floats(path, lineno, f[1:], "zbl")
        zbl = (z[0], z[1])
        if len(z) == 4:
            extra["zbl_typewise_factor"] = z[2]
    lineno, f = next_line("cutoff")
    if f[0] != "cutoff":
        raise _err(path, lineno, f"expected the 'cutoff' line, got {lines[lineno - 1].strip()!r}")
    vals = f[1:]
    if len(vals) == 4:
        rc_r, rc_a = _floats(path, lineno, vals[:2], "cutoff")
        mn = _ints(path, lineno, vals[2:], 2, "cutoff neighbour counts")
    elif len(vals) == 2 * n_typ + 2 and n_typ > 1:
        c = _floats(path, lineno, vals[: 2 * n_typ], "cutoff")
        rc_r, rc_a = c[0::2], c[1::2]
        mn = _ints(path, lineno, vals[2 * n_typ:], 2, "cutoff neighbour counts")
    elif len(vals) == 7:
        raise _err(path, lineno, "legacy typewise cutoff line (GPUMD v4.0-v4.6 use_typewise_cutoff, 8 tokens) "
                   "is not supported by calorine; retrain without use_typewise_cutoff")
    else:
        raise _err(path, lineno, f"'cutoff' expects 4 values (or {2 * n_typ + 2} per species), got {len(vals)}")
    lineno, f = next_line("n_max")
    if f[0] != "n_max":
        raise _err(path, lineno, f"expected the 'n_max' line, got {lines[lineno - 1].strip()!r}")
    n_max = _ints(path, lineno, f[1:], 2, "n_max")
    lineno, f = next_line("basis_size")
    if f[0] != "basis_size":
        raise _err(path, lineno, f"expected the 'basis_size' line, got {lines[lineno - 1].strip()!r}")
    basis = _ints(path, lineno, f[1:], 2, "basis_size")
    lineno, f = next_line("l_max")
    if f[0] != "l_max":
        raise _err(path, lineno, f"expected the 'l_max' line, got {lines[lineno - 1].strip()!r}")
    l_max = _ints(path, lineno, f[1:], (1, 2, 3, 4, 5, 6, 7), "l_max")
    lineno, f = next_line("ANN")
    if f[0] != "ANN":
        raise _err(path, lineno, f"expected the 'ANN' line, got {lines[lineno - 1].strip()!r}")
    ann = _ints(path, lineno, f[1:], (1, 2), "ANN")
    neurons = (ann[0], ann[1] if len(ann) > 1 else 0)
    if neurons[0] < 1:
        raise _err(path, lineno, f"ANN needs at least one neuron, got {neurons[0]}")

    # descriptor dimension: classic l_max (2nd value 0/2, 3rd 0/1) or new flags (2nd value 0/1)
    if len(l_max) >= 2 and l_max[1] > 1:
        num_l = l_max[0] + 1 + (1 if len(l_max) > 2 and l_max[2] else 0)
    else:
        num_l = l_max[0] + sum(1 for v in l_max[1:] if v)
    dim = (n_max[0] + 1) + (n_max[1] + 1) * num_l
    first_value_line = ln + 1
    values = lines[ln:]
    # Trailing blank lines are harmless; interior ones are not.
    while values and not values[-1].strip():
        values.pop()
    for k, text in enumerate(values):
        s = text.split()
        if len(s) != 1:
            raise _err(path, first_value_line + k, f"expected one parameter value per line, got {text.strip()!r}")
        try:
            x = float(s[0])
        except ValueError:
            raise _err(path, first_value_line + k, f"not a number: {s[0]!r}") from None
        if not math.isfinite(x):
            raise _err(path, first_value_line + k, f"non-finite parameter value {s[0]!r}")
    n_found = len(values)
    n_expected = None
    if token in _COUNTED and neurons[1] == 0:
        ann_size = (dim + 2) * neurons[0] * n_typ + 1
        if token.startswith("nep5"):
            ann_size += n_typ
        n_c = n_typ * n_typ * ((n_max[0] + 1) * (basis[0] + 1) + (n_max[1] + 1) * (basis[1] + 1))
        n_expected = ann_size + n_c + dim
        if zbl is not None and zbl == (0.0, 0.0):
            n_expected += 10 * n_typ * (n_typ + 1) // 2
        if n_found < n_expected:
            raise _err(path, first_value_line + n_found,
                       f"file ends after {n_found} parameter values; the header implies {n_expected} "
                       f"(ANN {ann_size}, descriptor {n_c}, q_scaler {dim})")
        if n_found > n_expected:
            raise _err(path, first_value_line + n_expected,
                       f"{n_found - n_expected} parameter value(s) beyond the {n_expected} the header implies")
    else:
        log.debug("%s: %s with %s neurons: parameter count left to calorine", path, token, neurons)
    return NepHeader(
        path=str(path), token=token, types=types, zbl=zbl, radial_cutoff=rc_r, angular_cutoff=rc_a,
        max_neighbors=(mn[0], mn[1]), n_max=(n_max[0], n_max[1]), basis_size=(basis[0], basis[1]), l_max=l_max,
        neurons=neurons, dim=dim, n_parameters=n_found, first_value_line=first_value_line, extra=extra,
    )


def read_nep(path: str | os.PathLike):
    """Validate a ``nep.txt`` and return calorine's :class:`calorine.nep.model.Model` of it."""
    from calorine.nep import read_model

    header = validate_nep_file(path)
    try:
        return read_model(str(path))
    except Exception as err:  # calorine raises ValueError/IndexError etc.; keep it one line
        raise NepFileError(f"{path}: calorine cannot read this {header.token} model: {err}") from None


def write_nep(model, path: str | os.PathLike) -> Path:
    """Write a calorine ``Model`` (or a neppo model, via :func:`neppo.write_model`) atomically."""
    path = Path(path)
    with atomic_path(path, suffix=".txt") as tmp:
        if type(model).__module__.startswith("neppo"):
            from neppo import write_model

            write_model(model, tmp)
        else:
            model.write(str(tmp))
    validate_nep_file(path)
    return path
