"""`Deck(title, html)`: a tab in the deck of the task that is running.

pack-execute opens a deck (`collecting`) around a task declared `@task(deck=True)`;
each `Deck(...)` made while it runs adds a tab to it, in order. A `Deck` made where
no deck is open (a task without deck=True, a plain function call) is not kept, and
says so once.
"""

from __future__ import annotations

import contextvars
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

_current: contextvars.ContextVar[list[Deck] | None] = contextvars.ContextVar(
    "pack_deck", default=None
)
# Threads the task starts do not inherit its context: they fall back to the one deck
# open in this process (pack-execute runs one task per process).
_process_deck: list[Deck] | None = None
_warned = threading.Event()


class Deck:
    """A tab titled `title` holding `html` (yours: it is not escaped; use
    pack.deck.markdown / table / figure for values you did not write)."""

    def __init__(self, title: str, html: str = "") -> None:
        if not isinstance(title, str) or not title.strip():
            raise ValueError(f"Deck title must be a non-empty string, got {title!r}")
        if not isinstance(html, str):
            raise TypeError(f"Deck html must be a string, got {type(html).__name__}")
        self.title = title
        self.html = html
        tabs = _current.get()
        if tabs is None:
            tabs = _process_deck
        if tabs is None:
            if not _warned.is_set():
                _warned.set()
                warnings.warn(
                    f"Deck({title!r}) is not kept: decks are written for tasks declared "
                    "@task(deck=True) when they run through pack",
                    stacklevel=2,
                )
            return
        tabs.append(self)

    def append(self, html: str) -> Deck:
        """Add more HTML to this tab."""
        if not isinstance(html, str):
            raise TypeError(f"Deck html must be a string, got {type(html).__name__}")
        self.html += html
        return self

    def __repr__(self) -> str:
        return f"Deck({self.title!r}, <{len(self.html)} characters>)"


@contextmanager
def collecting() -> Iterator[list[Deck]]:
    """Open a deck for the task about to run; yields the list its tabs go into."""
    global _process_deck
    tabs: list[Deck] = []
    token = _current.set(tabs)
    previous, _process_deck = _process_deck, tabs
    try:
        yield tabs
    finally:
        _current.reset(token)
        _process_deck = previous
