"""The validation's hold-out teacher runs give the same frames in worker processes as here."""

import numpy as np
from ase.build import bulk

from interforge.config import config_from_dict


def _cfg(model):
    return config_from_dict({
        "teacher": {"name": "nep", "model_path": str(model), "dispersion": False},
        "production": {"bulk_phases": ["Si-diamond"]},
        "validation": {"phases": ["Si-diamond"], "temperatures_K": [500.0, 700.0], "teacher_md_ps": 0.06,
                       "teacher_equilibration_ps": 0.02, "frame_interval_ps": 0.01},
    })


def test_holdout_frames_from_a_pool_equal_those_run_here(nep_fixture_dir, tmp_path):
    """Same seeds, same teacher (a Si NEP built again in each worker): the pool's frames and labels are the
    serial run's, and a second call reads them back from the cache without running anything."""
    from interforge.teacher import make_calculator
    from interforge.validation.runner import holdout_frames
    from interforge.workflow.executor import PoolExecutor

    cfg = _cfg(nep_fixture_dir / "Si_2022_NEP4_5body.txt")
    phases = {"Si-diamond": bulk("Si", "diamond", a=5.43, cubic=True)}
    teacher = make_calculator(cfg.teacher)
    here = holdout_frames(cfg, phases, teacher, tmp_path / "here")
    with PoolExecutor(2) as pool:
        pooled = holdout_frames(cfg, phases, teacher, tmp_path / "pool", pool)
    assert list(here) == list(pooled) == ["Si-diamond@500K", "Si-diamond@700K"]
    for key in here:
        assert len(here[key]) == len(pooled[key]) == 5  # frames at 0.02, 0.03, ... 0.06 ps
        for a, b in zip(here[key], pooled[key]):
            np.testing.assert_allclose(a.positions, b.positions, atol=1e-8)
            np.testing.assert_allclose(a.get_forces(), b.get_forces(), atol=1e-8)
    assert (tmp_path / "pool" / "teacher_md" / "ledger").is_dir()  # they did run in the workers
    again = holdout_frames(cfg, phases, None, tmp_path / "pool")  # no teacher needed: all cached
    np.testing.assert_allclose(again["Si-diamond@700K"][-1].positions, pooled["Si-diamond@700K"][-1].positions)
