"""Per-iteration manifest: which steps are finished, with their results, written atomically.

A step is marked done only after its outputs are on disk, so a run killed at any point resumes
at the step it was in. ``manifest.json`` holds at least ``n_candidates``, ``n_selected``,
``n_failed`` and ``holdout_force_rmse_meV_A`` once the iteration has reached them.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from interforge.fileio import atomic_write_json

STEPS = ("train", "evaluate", "explore", "select", "label")


class Manifest:
    """``DIR/manifest.json`` of one iteration."""

    def __init__(self, directory: str | Path, iteration: int):
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.path = self.dir / "manifest.json"
        if self.path.exists():
            self.data: dict[str, Any] = json.loads(self.path.read_text())
        else:
            self.data = {"iteration": iteration, "steps_done": [], "timings_s": {}, "n_candidates": None,
                         "n_selected": None, "n_failed": None, "holdout_force_rmse_meV_A": None, "converged": None}
            self.save()

    def done(self, step: str) -> bool:
        return step in self.data["steps_done"]

    def mark(self, step: str, elapsed_s: float, **results: Any) -> None:
        """Record ``results`` and mark ``step`` finished (one atomic write)."""
        self.data.update(results)
        self.data["timings_s"][step] = round(float(elapsed_s), 3)
        if step not in self.data["steps_done"]:
            self.data["steps_done"].append(step)
        self.save()

    def reopen(self, steps) -> None:
        """Mark ``steps`` as not done (their results stay until they are redone)."""
        self.data["steps_done"] = [s for s in self.data["steps_done"] if s not in steps]
        self.save()

    def save(self) -> None:
        atomic_write_json(self.path, self.data)

    def __getitem__(self, key: str) -> Any:
        return self.data.get(key)

    @property
    def complete(self) -> bool:
        return all(self.done(s) for s in STEPS)


class Timer:
    """Seconds elapsed since construction."""

    def __init__(self):
        self.t0 = time.perf_counter()

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self.t0
