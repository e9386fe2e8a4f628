"""The project file: defaults are the paper's settings, bad keys and types are named."""

import tomllib

import pytest

from interforge.config import InterforgeConfig, config_from_dict, load_config, render_default_toml
from interforge.errors import ConfigError


def test_defaults_are_the_papers_settings():
    # Values from the paper's Methods (shared/design/ARCHITECTURE.md, "The paper's settings").
    cfg = InterforgeConfig()
    assert cfg.nep.cutoff == [6.0, 5.0]
    assert cfg.nep.n_max == [7, 7] and cfg.nep.basis_size == [11, 11]
    assert cfg.nep.l_max == [4, 2, 0] and cfg.nep.neuron == 50 and cfg.nep.zbl == 1.2
    assert cfg.nep.generation == 100000 and cfg.nep.committee == 4 and cfg.nep.batch == 0
    assert cfg.sampling.temperatures_K == [300.0, 900.0, 1500.0, 2000.0]
    assert (cfg.sampling.strain_min, cfg.sampling.strain_max) == (0.01, 0.05)
    assert cfg.active.threshold == 0.3 and cfg.active.close_contact_factor == 0.7
    assert min(cfg.active.nvt_temperatures_K) == 300 and max(cfg.active.nvt_temperatures_K) == 3000
    assert min(cfg.active.npt_pressures_bar) == 1e2 and max(cfg.active.npt_pressures_bar) == 1e4
    assert cfg.teacher.vasp.encut == 550 and cfg.teacher.vasp.kspacing == 0.3 and cfg.teacher.vasp.ediff == 1e-6
    assert cfg.md.timestep_fs == 1.0 and cfg.md.momentum_removal_interval == 10 and cfg.md.pressure_bar == 1.0
    assert cfg.analysis.cn_cutoff_A == 3.5 and cfg.analysis.hop_threshold_A == 1.25 and cfg.analysis.hop_dt_ps == 10
    assert cfg.analysis.interface_width_A == 8.0 and cfg.analysis.fit_fraction == 0.5
    assert "beta-Li2ZrCl6" not in cfg.structures.phases


def test_rendered_file_is_commented_and_parses_back_to_the_defaults(tmp_path):
    text = render_default_toml()
    path = tmp_path / "p.toml"
    path.write_text(text)
    assert text.count("\n# ") > 50  # every key documented
    parsed = tomllib.loads(text)
    assert config_from_dict(parsed) == InterforgeConfig()
    assert load_config(path).nep.neuron == 50


@pytest.mark.parametrize(
    "toml, needle",
    [
        ("[nep]\nnueron = 30\n", "unknown key 'nep.nueron'"),
        ("[nep]\nneuron = 'many'\n", "key 'nep.neuron'"),
        ("[teacher.vasp]\nencut = -1\n", "key 'teacher.vasp.encut'"),
        ("[projct]\nname = 'x'\n", "unknown key 'projct'"),
        ("[nep\nneuron = 3\n", "not valid TOML"),
    ],
)
def test_bad_files_name_the_key(tmp_path, toml, needle):
    path = tmp_path / "bad.toml"
    path.write_text(toml)
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert needle in str(err.value)
    assert "\n" not in str(err.value)
    assert str(path) in str(err.value)


def test_missing_file():
    with pytest.raises(ConfigError, match="not found"):
        load_config("/nonexistent/interforge.toml")


def test_relative_workdir_resolves_against_the_file(tmp_path):
    (tmp_path / "sub").mkdir()
    path = tmp_path / "sub" / "p.toml"
    path.write_text("[project]\nworkdir = 'run1'\n")
    assert load_config(path).workdir == (tmp_path / "sub" / "run1").resolve()


def test_arrays_of_tables_round_trip():
    from interforge.config.structures import InterfaceSpec

    cfg = InterforgeConfig()
    cfg.structures.interfaces = [InterfaceSpec(substrate="c-ZrO2", film="ideal-Li2ZrCl6", substrate_miller=[1, 1, 1])]
    text = render_default_toml(cfg)
    assert "[[structures.interfaces]]" in text
    assert config_from_dict(tomllib.loads(text)) == cfg


def test_registration_grid_has_the_command_lines_bound():
    """A project file cannot ask for the n x n registration search that hangs on the command line (n > 10)."""
    from interforge.config import config_from_dict

    assert config_from_dict({"interfaces": {"registration_grid": 10}}).interfaces.registration_grid == 10
    with pytest.raises(Exception, match="registration_grid"):
        config_from_dict({"interfaces": {"registration_grid": 11}})
