"""A self-contained HTML report: every figure embedded as a base64 PNG, no external resources.

The report carries a tiny script that counts the images the browser decoded and writes the
count into ``<body data-images-loaded>``; the tests read it back from headless Chromium.
"""

from __future__ import annotations

import base64
import html
import io
import platform
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

from interforge.fileio import atomic_write_text

#: Packages whose versions every report records.
VERSIONED = ["interforge", "numpy", "scipy", "ase", "pymatgen", "torch", "calorine", "neppo", "chgnet",
             "dftd3", "dscribe", "scikit-learn", "matplotlib", "h5py", "parsl", "cosymlib"]

CSS = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222;line-height:1.45}
h1{border-bottom:3px solid #2b6cb0;padding-bottom:.3em}h2{margin-top:2em;border-bottom:1px solid #ccc;padding-bottom:.2em;color:#2b6cb0}
table{border-collapse:collapse;margin:1em 0;font-size:.92em}th,td{border:1px solid #ccc;padding:.3em .6em;text-align:left;vertical-align:top}
th{background:#f0f4f8}figure{display:inline-block;vertical-align:top;width:48%;margin:1em 0.5%;text-align:center}figure img{max-width:100%;border:1px solid #ddd}
figcaption{font-size:.9em;color:#555;margin-top:.3em}.note{background:#fffbea;border-left:4px solid #d69e2e;padding:.6em 1em}
code,pre{background:#f5f5f5;padding:.1em .3em;font-size:.9em}pre{padding:.8em;overflow-x:auto}
"""

SCRIPT = """
window.addEventListener('load',function(){var imgs=document.images,n=0;
for(var i=0;i<imgs.length;i++){if(imgs[i].complete&&imgs[i].naturalWidth>0){n++;}}
document.body.setAttribute('data-images-loaded',n);document.body.setAttribute('data-images-total',imgs.length);});
"""


@dataclass
class Figure:
    """A figure: a PNG file, PNG bytes, or a matplotlib Figure, with a caption."""

    source: Any
    caption: str = ""

    def png_bytes(self) -> bytes:
        src = self.source
        if isinstance(src, (bytes, bytearray)):
            return bytes(src)
        if isinstance(src, (str, Path)):
            return Path(src).read_bytes()
        buf = io.BytesIO()  # a matplotlib Figure
        src.savefig(buf, format="png", dpi=120, bbox_inches="tight")
        return buf.getvalue()


@dataclass
class Section:
    """A report section: paragraphs of HTML-escaped text, tables (list of dict rows), figures."""

    title: str
    paragraphs: list[str] = field(default_factory=list)
    tables: list[tuple[str, list[dict[str, Any]]]] = field(default_factory=list)
    figures: list[Figure] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    preformatted: str = ""


def package_versions(names: list[str] = VERSIONED) -> dict[str, str]:
    """Installed versions of ``names`` (missing ones are reported as 'not installed')."""
    out = {"python": platform.python_version(), "platform": platform.platform()}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return html.escape(str(value))


def _table(caption: str, rows: list[dict[str, Any]]) -> str:
    if not rows:
        return ""
    cols = list(dict.fromkeys(k for r in rows for k in r))
    head = "".join(f"<th>{html.escape(c)}</th>" for c in cols)
    body = "".join("<tr>" + "".join(f"<td>{_cell(r.get(c, ''))}</td>" for c in cols) + "</tr>" for r in rows)
    cap = f"<caption>{html.escape(caption)}</caption>" if caption else ""
    return f"<table>{cap}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def render_html(title: str, sections: list[Section], metadata_rows: dict[str, Any] | None = None) -> str:
    """The report as one HTML string."""
    parts = [f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{html.escape(title)}</title>",
             f"<style>{CSS}</style><script>{SCRIPT}</script></head><body>", f"<h1>{html.escape(title)}</h1>"]
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    parts.append(f"<p>Generated {stamp} by interforge.</p>")
    if metadata_rows:
        parts.append(_table("", [{"item": k, "value": v} for k, v in metadata_rows.items()]))
    parts.append("<nav><ol>" + "".join(f"<li><a href='#s{i}'>{html.escape(s.title)}</a></li>"
                                        for i, s in enumerate(sections)) + "</ol></nav>")
    for i, sec in enumerate(sections):
        parts.append(f"<h2 id='s{i}'>{html.escape(sec.title)}</h2>")
        parts.extend(f"<p>{html.escape(p)}</p>" for p in sec.paragraphs)
        parts.extend(f"<p class='note'>{html.escape(n)}</p>" for n in sec.notes)
        parts.extend(_table(cap, rows) for cap, rows in sec.tables)
        for fig in sec.figures:
            data = base64.b64encode(fig.png_bytes()).decode()
            alt = html.escape(fig.caption or sec.title)
            parts.append(f"<figure><img alt='{alt}' src='data:image/png;base64,{data}'>"
                         f"<figcaption>{html.escape(fig.caption)}</figcaption></figure>")
        if sec.preformatted:
            parts.append(f"<pre>{html.escape(sec.preformatted)}</pre>")
    parts.append("</body></html>")
    return "\n".join(parts)


def write_report(path: str | Path, title: str, sections: list[Section], metadata_rows: dict[str, Any] | None = None) -> Path:
    """Write the self-contained HTML report atomically and return its path."""
    return atomic_write_text(path, render_html(title, sections, metadata_rows))
