"""`interforge report DIR` on an analyze folder, an Arrhenius set and a learn-like workdir: one self-contained
page whose embedded images are real PNGs and render in headless Chromium."""

import base64
import json
import re

import numpy as np
from ase import Atoms
from ase.io import write
from test_report_html import images_loaded, render_in_chromium

from interforge.analysis.synthetic import rocksalt_interface, vibrating_trajectory
from interforge.cli.main import main

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def embedded_pngs(html: str) -> list[bytes]:
    return [base64.b64decode(m) for m in re.findall(r"src='data:image/png;base64,([A-Za-z0-9+/=]+)'", html)]


def analysed_interface(tmp_path, name="a", T=600.0, p_hop=0.05, seed=0, figures=True):
    nums, pos, cell, _ = rocksalt_interface(n_xy=2, n_z_each=4)
    tr = vibrating_trajectory(nums, pos, cell, 120, 1.0, np.random.default_rng(seed), p_hop=p_hop, hop=1.5, wrap=True)
    traj = tmp_path / f"{name}.xyz"
    write(traj, [Atoms(numbers=nums, positions=p, cell=cell, pbc=True) for p in tr.positions], format="extxyz")
    out = tmp_path / "runs" / name
    argv = ["analyze", str(traj), "--out", str(out), "--dt-ps", "1.0", "--temperature-K", str(T),
            "--workdir", str(tmp_path)]
    assert main(argv + ([] if figures else ["--no-figures"])) == 0
    return out


def test_report_of_an_analyze_folder(tmp_path):
    out = analysed_interface(tmp_path)
    res = json.loads((out / "results.json").read_text())
    assert {"composite", "collective"} <= set(res["conductivity"])
    assert res["conductivity"]["collective"]["haven_ratio"] is not None
    assert "interface" in res["regions"] and "rate_per_ion_ns" in res["hops"]
    j = tmp_path / "rep.json"
    assert main(["report", str(out), "--json", str(j), "--workdir", str(tmp_path)]) == 0
    rep = json.loads(j.read_text())
    page = out / "report.html"
    assert rep["report"] == str(page.resolve()) and "analyze" in rep["kinds"]
    html = page.read_text()
    pngs = embedded_pngs(html)
    assert len(pngs) >= 3 and rep["n_figures"] == len(pngs)
    assert all(p.startswith(PNG_MAGIC) and len(p) > 1000 for p in pngs)
    from io import BytesIO

    from PIL import Image

    for p in pngs:  # decodable, not just the right first bytes
        Image.open(BytesIO(p)).verify()
    assert not re.search(r"(src|href)=['\"](https?:|file:|/)", html)
    for needle in ("collective sigma", "Haven ratio", "composite sigma", "transport by region", "hop_average_ps",
                   "numpy"):
        assert needle in html, needle
    dom, shot = render_in_chromium(page, tmp_path)
    loaded, total = images_loaded(dom)
    assert total == len(pngs) and loaded == total


def test_report_of_an_arrhenius_set_without_figures_and_a_learn_workdir(tmp_path):
    for k, T in enumerate((450.0, 550.0, 700.0)):
        analysed_interface(tmp_path, name=f"T{T:g}", T=T, p_hop=0.02 * (k + 1), seed=k, figures=False)
    runs = tmp_path / "runs"
    # a learn-like workdir: summary.json of the loop and the validation record
    (runs / "summary.json").write_text(json.dumps({"converged": False, "iterations": [
        {"iteration": 0, "n_train": 10, "n_candidates": 5, "holdout_force_rmse_meV_A": 90.0}]}))
    (runs / "validation").mkdir()
    (runs / "validation" / "validation.json").write_text(json.dumps({
        "passed": False, "failed": ["density"], "gates": {"density": {"value": 0.05, "threshold": 0.03,
                                                                       "passed": False}}}))
    j = tmp_path / "rep.json"
    assert main(["report", str(runs), "--out", str(tmp_path / "r.html"), "--json", str(j),
                 "--workdir", str(tmp_path)]) == 0
    rep = json.loads(j.read_text())
    assert set(rep["kinds"]) >= {"analyze", "arrhenius", "learn", "validation"}
    html = (tmp_path / "r.html").read_text()
    assert "Arrhenius fit of the analysed runs" in html and "FAILED validation gate(s) density" in html
    pngs = embedded_pngs(html)
    # no figure files: the Arrhenius plot and one collective-MSD plot per run are drawn from the results
    assert len(pngs) >= 4 and all(p.startswith(PNG_MAGIC) for p in pngs)
    assert not any(p.name.endswith(".png") for p in runs.rglob("*"))  # nothing written into the run folders


def test_report_of_an_empty_folder_is_a_one_line_error(tmp_path, capsys):
    assert main(["report", str(tmp_path), "--workdir", str(tmp_path)]) == 2
    assert "nothing to report" in capsys.readouterr().err


def test_report_of_a_teacher_calibration_folder(tmp_path):
    """A calibration folder (calibration*.json and its PNGs) gets its own section with its tables and figures."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cal = tmp_path / "cal"
    cal.mkdir()
    (cal / "calibration.json").write_text(json.dumps({"teacher": "chgnet", "force_mae_eV_A": 0.05,
                                                      "structures": [{"name": "a", "force_mae_eV_A": 0.04}]}))
    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1])
    fig.savefig(cal / "parity.png")
    j = tmp_path / "rep.json"
    assert main(["report", str(cal), "--json", str(j), "--workdir", str(tmp_path)]) == 0
    rep = json.loads(j.read_text())
    assert rep["kinds"] == ["teacher-calibration"] and rep["n_figures"] == 1
    html = (cal / "report.html").read_text()
    assert "Teacher calibration" in html and "force_mae_eV_A" in html
    assert embedded_pngs(html)[0].startswith(PNG_MAGIC)
