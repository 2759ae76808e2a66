"""The deck page: default tabs (inputs, outputs, timings) plus the task's own, as one
self-contained HTML document (inline CSS, tabs without JavaScript, images as data:
URLs), so it opens from a file or a bucket with no network."""

from __future__ import annotations

import html as html_lib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pack.deck.html import values_table

FILE_NAME = "deck.html"


@dataclass(frozen=True)
class Tab:
    title: str
    html: str


def timings_table(marks: Mapping[str, float]) -> str:
    """Phases of the attempt in the container, from pack-execute's wall-clock marks."""
    spans = [
        ("fetch bundle", "fetch_start", "fetch_end"),
        ("start to task", "execute_start", "task_start"),
        ("task", "task_start", "task_end"),
        ("write outputs", "task_end", "outputs_written"),
    ]
    rows = [(label, marks[b] - marks[a]) for label, a, b in spans if a in marks and b in marks]
    if not rows:
        return "<p>no timings</p>"
    body = "".join(
        f"<tr><th>{html_lib.escape(label)}</th><td>{seconds:.3f} s</td></tr>"
        for label, seconds in rows
    )
    return f'<table class="pack-table">{body}</table>'


def default_tabs(
    inputs: Mapping[str, Any], outputs: Mapping[str, Any] | None, marks: Mapping[str, float]
) -> list[Tab]:
    tabs = [Tab("Inputs", values_table(inputs))]
    if outputs is not None:
        tabs.append(Tab("Outputs", values_table(outputs)))
    tabs.append(Tab("Timings", timings_table(marks)))
    return tabs


def render_deck(title: str, tabs: Sequence[Tab]) -> str:
    from jinja2 import Environment, PackageLoader, select_autoescape

    env = Environment(
        loader=PackageLoader("pack.deck", "templates"),
        autoescape=select_autoescape(["html", "j2"]),
    )
    return env.get_template("deck.html.j2").render(title=title, tabs=list(tabs))
