"""Writing a task's deck next to its outputs: `<output prefix>/deck.html`."""

from __future__ import annotations

import html
import sys
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from pack.deck.render import FILE_NAME, Tab, default_tabs, render_deck

if TYPE_CHECKING:
    from pack.deck.deck import Deck


def write_deck(
    output_prefix: str,
    *,
    title: str,
    inputs: Any,
    outputs: Any | None,
    marks: Mapping[str, float],
    tabs: Sequence[Deck],
    error: str | None = None,
) -> None:
    """Render and store the deck; `inputs`/`outputs` are LiteralMaps (shown as
    `pack outputs` shows them). A deck that cannot be written is reported on stderr
    and never fails the task."""
    from pack.packager.store import write_url
    from pack.runs.literals import literal_value

    try:
        pages = [Tab(t.title, t.html) for t in tabs]
        if error is not None:
            pages.insert(0, Tab("Error", f"<pre>{html.escape(error)}</pre>"))
        pages += default_tabs(
            _values(inputs, literal_value),
            None if outputs is None else _values(outputs, literal_value),
            marks,
        )
        page = render_deck(title, pages)
        write_url(f"{output_prefix.rstrip('/')}/{FILE_NAME}", page.encode())
    except Exception as exc:  # noqa: BLE001 - a report, never a reason to fail the task
        print(f"pack-execute: cannot write {FILE_NAME}: {exc}", file=sys.stderr)


def _values(literal_map: Any, read: Any) -> dict[str, Any]:
    lits = literal_map.literals
    return {name: read(lits[name]) for name in sorted(lits)}
