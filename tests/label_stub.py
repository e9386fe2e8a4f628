"""``interforge`` with one extra, cheap teacher, for tests that run ``label`` as separate processes.

Run as ``python tests/label_stub.py label ... --teacher counting-emt``. The teacher is ASE's EMT; every
calculation appends ``<pid> <structure hash>`` to the file in ``$IF_TEST_CALL_LOG`` (so a test can
count who computed what) and then sleeps ``$IF_TEST_SLEEP`` seconds. With ``$IF_TEST_BARRIER`` (a
folder) and ``$IF_TEST_PARTIES`` (a number), building the teacher waits until that many processes
have built theirs, so the processes really label at the same time.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from ase.calculators.emt import EMT

from interforge.data import structure_hash
from interforge.teacher import register_teacher


class CountingEMT(EMT):
    def calculate(self, *args, **kwargs):
        super().calculate(*args, **kwargs)
        log = os.environ.get("IF_TEST_CALL_LOG")
        if log:
            with open(log, "a") as fh:  # one short line per O_APPEND write: lines never interleave
                fh.write(f"{os.getpid()} {structure_hash(self.atoms)}\n")
        time.sleep(float(os.environ.get("IF_TEST_SLEEP", "0")))


def _factory(section, directory):
    barrier = os.environ.get("IF_TEST_BARRIER")
    if barrier:
        folder = Path(barrier)
        (folder / f"ready-{os.getpid()}").touch()
        parties = int(os.environ.get("IF_TEST_PARTIES", "2"))
        deadline = time.time() + 120
        while len(list(folder.glob("ready-*"))) < parties and time.time() < deadline:
            time.sleep(0.02)
    return CountingEMT()


register_teacher("counting-emt", _factory)

if __name__ == "__main__":
    from interforge.cli.main import main

    sys.exit(main(sys.argv[1:]))
