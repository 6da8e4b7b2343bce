"""`reports/index.html`: one static page, no scripts and nothing fetched from elsewhere (figures are
files next to it), so it opens offline. Pieces are built here and assembled by the report stage."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from html import escape

import pandas as pd

STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 1.5em auto;
       max-width: 1240px; padding: 0 1em; color: #1b1b1b; line-height: 1.4; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; }
h2 { border-bottom: 2px solid #d0d7de; padding-bottom: 0.2em; margin-top: 1.6em; }
h3 { margin-bottom: 0.3em; }
table { border-collapse: collapse; margin: 0.5em 0 1em; font-size: 0.88em; }
th, td { border: 1px solid #d0d7de; padding: 0.25em 0.6em; }
th { background: #f3f5f7; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
td.best { font-weight: bold; background: #e8f5e9; }
figure { margin: 0.5em 0 1.2em; }
.row { display: flex; flex-wrap: wrap; gap: 1em; }
.row figure { flex: 0 1 600px; margin: 0.5em 0; }
.wide { overflow-x: auto; }
td { white-space: nowrap; }
figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { font-size: 0.9em; color: #555; }
.notrun { color: #8a5300; background: #fff6e5; border-left: 4px solid #f0a020; padding: 0.4em 0.8em; }
.note { font-size: 0.9em; color: #555; }
code { font-size: 0.92em; }
nav a { margin-right: 1em; }
"""


def cell_text(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return "-" if math.isnan(value) else f"{value:g}"
    return str(value)


def _numeric(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def table_html(frame: pd.DataFrame, best: Iterable[tuple[int, str]] = (),
               links: dict[str, Callable[[object], str | None]] | None = None) -> str:
    """A DataFrame as an HTML table; cells (row position, column) in `best` are bold, and a
    column in `links` links each cell to the address its function gives."""
    best, links = set(best), links or {}
    head = "".join(f"<th>{escape(str(c))}</th>" for c in frame.columns)
    rows = []
    for i, record in enumerate(frame.itertuples(index=False)):
        cells = []
        for column, value in zip(frame.columns, record, strict=True):
            text = escape(cell_text(value))
            href = links[column](value) if column in links else None
            if href:
                text = f'<a href="{escape(href)}">{text}</a>'
            classes = (["num"] if _numeric(value) else []) + (["best"] if (i, column) in best else [])
            attr = f' class="{" ".join(classes)}"' if classes else ""
            cells.append(f"<td{attr}>{text}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return (f'<div class="wide"><table>\n<thead><tr>{head}</tr></thead>\n<tbody>\n' + "\n".join(rows)
            + "\n</tbody>\n</table></div>")


def best_cells(frame: pd.DataFrame, columns: list[str]) -> list[tuple[int, str]]:
    """(row, column) of each row's highest value among `columns` (all of them on a tie)."""
    cells = []
    for i, (_, row) in enumerate(frame[columns].iterrows()):
        values = pd.to_numeric(row, errors="coerce")
        if values.notna().any():
            cells += [(i, c) for c in columns if values[c] == values.max()]
    return cells


def figure_html(png: str, svg: str, caption: str, alt: str) -> str:
    return (f'<figure><a href="{escape(svg)}"><img src="{escape(png)}" alt="{escape(alt)}"></a>'
            f'<figcaption>{escape(caption)} (<a href="{escape(svg)}">SVG</a>)</figcaption></figure>')


def row_html(items: list[str]) -> str:
    """Figures side by side where the page is wide enough."""
    return '<div class="row">\n' + "\n".join(items) + "\n</div>"


def files_html(names: Iterable[str]) -> str:
    links = ", ".join(f'<a href="{escape(n)}">{escape(n)}</a>' for n in names)
    return f'<p class="note">Files: {links}</p>'


def not_run_html(text: str) -> str:
    return f'<p class="notrun"><strong>not run</strong>: {escape(text)}</p>'


def note_html(text: str) -> str:
    return f'<p class="note">{escape(text)}</p>'


def paragraph(text: str) -> str:
    return f"<p>{escape(text)}</p>"


def render(title: str, intro: str, sections: list[tuple[str, str, str]]) -> str:
    """The page: a title, an introduction (HTML) and sections (anchor, heading, body HTML)."""
    nav = " ".join(f'<a href="#{escape(anchor)}">{escape(heading)}</a>' for anchor, heading, _ in sections)
    body = "\n".join(f'<section id="{escape(anchor)}">\n<h2>{escape(heading)}</h2>\n{html}\n</section>'
                     for anchor, heading, html in sections)
    return (f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f"<title>{escape(title)}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n"
            f"<h1>{escape(title)}</h1>\n{intro}\n<nav>{nav}</nav>\n{body}\n</body>\n</html>\n")
