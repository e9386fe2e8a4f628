"""The Arrhenius figure draws no room-temperature extrapolation the text withholds."""

import numpy as np
import pytest

import interforge.report.figures as figures
from interforge.analysis.diffusion import KB_EV, arrhenius_fit


@pytest.fixture
def drawn(monkeypatch):
    """The figure of the last plot call, kept open instead of saved."""
    kept = {}

    def keep(fig, path):
        kept["fig"] = fig
        return path

    monkeypatch.setattr(figures, "save_figure", keep)
    return kept


def _fit(Ea):
    """Exact Arrhenius data at 450-550 K with 5 % errors (the analytic reference: D = D0 exp(-Ea/kT))."""
    T = np.array([450.0, 500.0, 550.0])
    D = 1e-3 * np.exp(-Ea / (KB_EV * T))
    rng = np.random.default_rng(3)
    return arrhenius_fit(T, D * (1 + 0.3 * rng.standard_normal(3)) if Ea == 0 else D, 0.3 * D if Ea == 0 else 0.05 * D)


def _fit_line_x(fig):
    ax = fig.axes[0]
    line = next(ln for ln in ax.get_lines() if "Ea" in str(ln.get_label()))
    return np.asarray(line.get_xdata()), str(line.get_label())


def test_a_resolved_fit_is_drawn_down_to_the_extrapolation_temperature(drawn, tmp_path):
    fit = _fit(0.3)
    assert fit.resolves_Ea(2.0)
    figures.plot_arrhenius(fit, tmp_path / "a.png", 300.0, min_significance=2.0)
    x, label = _fit_line_x(drawn["fig"])
    assert x.max() == pytest.approx(1000 / 300.0) and "not resolved" not in label


def test_an_unresolved_fit_is_drawn_over_its_data_only(drawn, tmp_path):
    fit = _fit(0.0)
    assert not fit.resolves_Ea(2.0)
    figures.plot_arrhenius(fit, tmp_path / "a.png", 300.0, min_significance=2.0)
    x, label = _fit_line_x(drawn["fig"])
    assert x.max() == pytest.approx(1000 / 450.0) and x.min() == pytest.approx(1000 / 550.0)
    assert "not resolved" in label
