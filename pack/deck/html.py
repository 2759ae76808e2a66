"""HTML for deck tabs from values: markdown, tables, figures, images. Pure, no I/O.

Everything that comes from a value is escaped. pandas and matplotlib are not
imported: a DataFrame is recognised by its `to_html`, a figure by its `savefig`.
"""

from __future__ import annotations

import base64
import html
import io
import json
from collections.abc import Iterable, Mapping
from typing import Any


def markdown(text: str) -> str:
    """CommonMark (plus tables) as HTML; raw HTML in the text is shown, not run."""
    from markdown_it import MarkdownIt

    if not isinstance(text, str):
        raise TypeError(f"markdown() takes a string, got {type(text).__name__}")
    return str(MarkdownIt("commonmark", {"html": False}).enable("table").render(text))


def _cell(value: Any) -> str:
    if isinstance(value, str):
        return html.escape(value)
    return html.escape(json.dumps(value, default=str))


def table(rows: Any) -> str:
    """A table from a list of dicts (columns: every key, in first-seen order) or a
    pandas DataFrame (its own `to_html`, values escaped)."""
    if hasattr(rows, "to_html") and hasattr(rows, "columns"):
        return str(rows.to_html(escape=True, border=0, classes="pack-table"))
    if isinstance(rows, Mapping) or not isinstance(rows, Iterable) or isinstance(rows, str):
        raise TypeError(
            f"table() takes a list of dicts or a pandas DataFrame, got {type(rows).__name__}"
        )
    rows = list(rows)
    if not all(isinstance(r, Mapping) for r in rows):
        raise TypeError("table() takes a list of dicts: every row must be a dict")
    keyed = [{str(k): v for k, v in row.items()} for row in rows]
    columns: list[str] = []
    for row in keyed:
        columns.extend(k for k in row if k not in columns)
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    lines = []
    for row in keyed:
        cells = "".join(f"<td>{_cell(row[c]) if c in row else ''}</td>" for c in columns)
        lines.append(f"<tr>{cells}</tr>")
    body = "".join(lines)
    return f'<table class="pack-table"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def image(data: bytes, mime: str = "image/png", alt: str = "") -> str:
    """Image bytes embedded in the page (a data: URL), so the deck needs no network."""
    if mime not in ("image/png", "image/jpeg", "image/gif", "image/svg+xml", "image/webp"):
        raise ValueError(f"image(): mime {mime!r} is not an image type pack embeds")
    encoded = base64.b64encode(data).decode("ascii")
    return f'<img alt="{html.escape(alt)}" src="data:{mime};base64,{encoded}">'


def figure(fig: Any, *, dpi: int = 100) -> str:
    """A matplotlib Figure (anything with `savefig`) as an embedded PNG."""
    if not hasattr(fig, "savefig"):
        raise TypeError(f"figure() takes a matplotlib Figure, got {type(fig).__name__}")
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    return image(buf.getvalue(), "image/png", alt=type(fig).__name__)


def values_table(values: Mapping[str, Any]) -> str:
    """name | value rows for a task's inputs or outputs (values as JSON)."""
    if not values:
        return "<p>none</p>"
    rows = "".join(
        f"<tr><th>{html.escape(k)}</th><td><pre>{html.escape(_pretty(v))}</pre></td></tr>"
        for k, v in values.items()
    )
    return f'<table class="pack-table">{rows}</table>'


def _pretty(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, indent=2, sort_keys=True, default=str)
