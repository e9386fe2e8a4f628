"""The HTML report is self-contained and renders with every image in headless Chromium."""

import re
import shutil
import subprocess

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from interforge.report.html import Figure, Section, package_versions, write_report  # noqa: E402

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--virtual-time-budget=5000"]


def render_in_chromium(html_path, tmp_path):
    """Return (DOM after load, screenshot PNG path) from Debian's headless Chromium."""
    if CHROMIUM is None:
        pytest.skip("chromium is not installed (make test installs it from Debian's packages)")
    profile = tmp_path / "profile"
    dom = subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", "--dump-dom", html_path.as_uri()],
                         capture_output=True, text=True, timeout=120).stdout
    shot = tmp_path / "shot.png"
    subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", f"--screenshot={shot}",
                    "--window-size=1200,2000", html_path.as_uri()], capture_output=True, timeout=120)
    return dom, shot


def images_loaded(dom: str) -> tuple[int, int]:
    loaded = re.search(r'data-images-loaded="(\d+)"', dom)
    total = re.search(r'data-images-total="(\d+)"', dom)
    assert loaded and total, "the report's load script did not run"
    return int(loaded.group(1)), int(total.group(1))


def test_report_embeds_everything_and_renders(tmp_path):
    fig, ax = plt.subplots()
    ax.plot(np.arange(10), np.arange(10) ** 2)
    png = tmp_path / "a.png"
    fig.savefig(png)
    sections = [
        Section("Figures", paragraphs=["two figures"], figures=[Figure(png, "from a file"), Figure(fig, "live figure")]),
        Section("Table", tables=[("numbers", [{"a": 1.23456789, "b": "<x>"}])]),
    ]
    path = write_report(tmp_path / "report.html", "Test report", sections, package_versions())
    text = path.read_text()
    assert "src='data:image/png;base64," in text
    assert not re.search(r"(src|href)=['\"](https?:|file:|/)", text)  # nothing external
    assert "&lt;x&gt;" in text
    dom, shot = render_in_chromium(path, tmp_path)
    assert images_loaded(dom) == (2, 2)
    from PIL import Image

    pixels = np.asarray(Image.open(shot).convert("L"), dtype=float)
    assert pixels.std() > 5  # not a blank page


def test_broken_image_is_detected(tmp_path):
    """The check is able to fail: an undecodable image is not counted as loaded."""
    path = write_report(tmp_path / "r.html", "Broken", [Section("x", figures=[Figure(b"not a png", "broken")])])
    dom, _ = render_in_chromium(path, tmp_path)
    assert images_loaded(dom) == (0, 1)
