"""A self-contained HTML report: headings, text, tables and figures embedded as PNG (no server
needed)."""

from __future__ import annotations

import base64
import datetime as dt
import html
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.figure import Figure

from scratchlab.util import atomic_write_text
from scratchlab.viz.render import draw_pngs, figure_to_png

__all__ = ["HtmlReport", "figure_to_png"]

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 1100px; color: #222; }
h1 { border-bottom: 2px solid #444; } h2 { margin-top: 2.5rem; border-bottom: 1px solid #bbb; }
table { border-collapse: collapse; margin: 1rem 0; font-size: 0.9rem; }
th, td { border: 1px solid #ccc; padding: 0.25rem 0.6rem; text-align: right; }
th { background: #f0f0f0; } td:first-child, th:first-child { text-align: left; }
img { max-width: 100%; } .meta { color: #666; font-size: 0.85rem; }
pre { background: #f7f7f7; padding: 0.6rem; overflow-x: auto; }
"""


class HtmlReport:
    """Builds one HTML page from parts; `save(path)` writes it atomically. Figures are drawn
    together when the page is first rendered (several at once where the machine has the cores:
    `viz.render`), so a figure changed after `figure()` shows as it is then."""

    def __init__(self, title: str, subtitle: str | None = None) -> None:
        self.title = title
        self.parts: list[str] = []
        self.drawn: dict[int, bytes] = {}  # id(figure) -> its PNG
        # figures added, not yet drawn: (index of their part, figure, alt text)
        self.pending: list[tuple[int, Figure, str]] = []
        stamp = dt.datetime.now().strftime("%Y-%m-%d %H:%M")
        self.parts.append(f'<p class="meta">{html.escape(subtitle or "")} generated {stamp}</p>')

    def heading(self, text: str, level: int = 2) -> HtmlReport:
        self.parts.append(f"<h{level}>{html.escape(text)}</h{level}>")
        return self

    def paragraph(self, text: str) -> HtmlReport:
        self.parts.append(f"<p>{html.escape(text)}</p>")
        return self

    def bullets(self, items: list[str]) -> HtmlReport:
        self.parts.append("<ul>" + "".join(f"<li>{html.escape(i)}</li>" for i in items) + "</ul>")
        return self

    def code(self, text: str) -> HtmlReport:
        self.parts.append(f"<pre>{html.escape(text)}</pre>")
        return self

    def table(self, frame: pd.DataFrame, float_format: str = "{:.2f}") -> HtmlReport:
        formatters = {
            c: (lambda v, f=float_format: "" if pd.isna(v) else f.format(v))
            for c in frame.select_dtypes("float").columns
        }
        self.parts.append(
            frame.to_html(index=False, escape=True, formatters=formatters, na_rep="", border=0)
        )
        return self

    def mapping(self, values: dict[str, Any]) -> HtmlReport:
        """A two-column table of names and values (e.g. a shared config)."""
        return self.table(
            pd.DataFrame({"field": list(values), "value": [str(v) for v in values.values()]})
        )

    def figure(self, fig: Figure, alt: str = "figure", close: bool = True) -> HtmlReport:
        """Add a figure as an embedded PNG; `close`: close it in pyplot now (it is drawn all the
        same, and pyplot does not pile up the figures of a long report meanwhile)."""
        self.pending.append((len(self.parts), fig, alt))
        self.parts.append("")  # the image, once drawn
        if close:
            plt.close(fig)
        return self

    @property
    def png_of(self) -> dict[int, bytes]:
        """id(figure) -> its PNG, for every figure of the report (so none is drawn twice)."""
        self.draw_figures()
        return self.drawn

    def draw_figures(self) -> None:
        """Draw the figures added since the last call, all in one go."""
        if not self.pending:
            return
        pending, self.pending = self.pending, []
        pngs = draw_pngs([fig for _, fig, _ in pending])
        for (index, fig, alt), png in zip(pending, pngs, strict=True):
            self.drawn[id(fig)] = png
            data = base64.b64encode(png).decode("ascii")
            self.parts[index] = f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'

    def raw(self, fragment: str) -> HtmlReport:
        """Insert an HTML fragment made by another report (e.g. a study's section)."""
        self.parts.append(fragment)
        return self

    def body(self) -> str:
        self.draw_figures()
        return "\n".join(self.parts)

    def render(self) -> str:
        return (
            '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f"<title>{html.escape(self.title)}</title><style>{STYLE}</style></head>"
            f"<body><h1>{html.escape(self.title)}</h1>\n{self.body()}\n</body></html>\n"
        )

    def save(self, path: str | Path) -> Path:
        return atomic_write_text(path, self.render())
