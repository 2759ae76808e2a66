"""Deck: HTML reports a task writes while it runs, kept as one self-contained `deck.html`.

    @task(deck=True)
    def train(rows: int) -> float:
        from pack import Deck
        from pack.deck import markdown, table, figure

        Deck("Summary", markdown("# Fit\\n*rows*: 10"))
        Deck("Data", table([{"a": 1, "b": 2}]))        # or a pandas DataFrame
        Deck("Loss", figure(fig))                       # a matplotlib Figure, as a PNG

Every deck also gets the tabs inputs, outputs and timings. pandas and matplotlib are
never imported by pack: `table` and `figure` use the object they are given.
"""

from pack.deck.deck import Deck
from pack.deck.html import figure, image, markdown, table

__all__ = ["Deck", "figure", "image", "markdown", "table"]
