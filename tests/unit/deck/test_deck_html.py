"""Deck tabs and the deck page: escaping, self-contained output, pandas/matplotlib by duck type."""

from __future__ import annotations

import re
import warnings

import pytest

from pack.deck import Deck, figure, image, markdown, table
from pack.deck.deck import collecting
from pack.deck.render import Tab, default_tabs, render_deck


def test_markdown_renders_and_does_not_run_raw_html() -> None:
    out = markdown("# Fit\n\n*rows*: 10\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n<script>x()</script>")
    assert "<h1>Fit</h1>" in out and "<em>rows</em>" in out and "<table>" in out
    assert "<script>" not in out and "&lt;script&gt;" in out


def test_table_of_dicts_escapes_and_unions_columns() -> None:
    out = table([{"a": 1, "b": "<b>"}, {"c": [1, 2]}])
    assert re.findall(r"<th>(.*?)</th>", out) == ["a", "b", "c"]
    assert "&lt;b&gt;" in out and "<b>" not in out and "[1, 2]" in out
    with pytest.raises(TypeError, match="list of dicts"):
        table({"a": 1})
    with pytest.raises(TypeError, match="every row must be a dict"):
        table([1, 2])


def test_table_takes_a_pandas_dataframe_when_pandas_is_installed() -> None:
    pd = pytest.importorskip("pandas")
    out = table(pd.DataFrame({"x": [1, 2], "name": ["<i>a</i>", "b"]}))
    assert "<table" in out and "&lt;i&gt;a&lt;/i&gt;" in out


def test_figure_embeds_a_matplotlib_png() -> None:
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    ax.plot([1, 2, 3], [3, 1, 2])
    out = figure(fig)
    plt.close(fig)
    assert out.startswith('<img alt="Figure" src="data:image/png;base64,iVBORw0KGgo')
    with pytest.raises(TypeError, match="matplotlib Figure"):
        figure("not a figure")
    with pytest.raises(ValueError, match="image type"):
        image(b"x", "text/html")


def test_pack_itself_imports_neither_pandas_nor_matplotlib() -> None:
    import subprocess
    import sys

    code = (
        "import sys; import pack.deck, pack.deck.render, pack.deck.write; "
        "from pack import Deck; "
        "print([m for m in ('pandas', 'matplotlib') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_deck_tabs_are_collected_only_inside_a_deck() -> None:
    with collecting() as tabs:
        first = Deck("One", "<p>1</p>")
        first.append("<p>more</p>")
        Deck("Two")
    assert [(t.title, t.html) for t in tabs] == [("One", "<p>1</p><p>more</p>"), ("Two", "")]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        Deck("Stray", "<p>x</p>")
    assert tabs[-1].title == "Two"  # not added after the deck closed
    with pytest.raises(ValueError, match="title"):
        Deck("  ")
    assert caught == [] or "not kept" in str(caught[0].message)


def test_the_page_is_self_contained_with_escaped_titles() -> None:
    page = render_deck(
        "wf.<train>",
        [Tab("Mine <x>", "<p>raw html</p>")]
        + default_tabs(
            {"x": 1},
            {"o0": "<s>"},
            {
                "task_start": 1.0,
                "task_end": 3.5,
                "execute_start": 0.5,
                "outputs_written": 3.75,
            },
        ),
    )
    assert "<title>wf.&lt;train&gt;</title>" in page
    assert "Mine &lt;x&gt;" in page and "<p>raw html</p>" in page
    assert re.findall(r'<label for="tab\d+">(.*?)</label>', page) == [
        "Mine &lt;x&gt;",
        "Inputs",
        "Outputs",
        "Timings",
    ]
    assert "&lt;s&gt;" in page and "2.500 s" in page and "0.250 s" in page
    assert not re.search(r'(src|href)="(https?:)?//', page)  # nothing fetched from a network
    assert "<script" not in page
