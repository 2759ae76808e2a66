"""Helpers for wf.py: read the CSV, split into folds, fit and score a line (stdlib only)."""

from __future__ import annotations

import csv
import math
import statistics
from pathlib import Path


def load_rows(path: Path) -> list[tuple[float, float]]:
    """(area, price) pairs from the apartments CSV."""
    with open(path, newline="", encoding="utf-8") as f:
        return [(float(r["area_m2"]), float(r["price_k"])) for r in csv.DictReader(f)]


def folds(rows: list[tuple[float, float]], k: int) -> list[tuple[list, list]]:
    """k (train, test) splits; row i is tested in fold i % k."""
    return [
        (
            [r for i, r in enumerate(rows) if i % k != j],
            [r for i, r in enumerate(rows) if i % k == j],
        )
        for j in range(k)
    ]


def fit(rows: list[tuple[float, float]]) -> tuple[float, float]:
    xs, ys = zip(*rows, strict=True)
    slope, intercept = statistics.linear_regression(xs, ys)
    return slope, intercept


def rmse(model: tuple[float, float], rows: list[tuple[float, float]]) -> float:
    slope, intercept = model
    return math.sqrt(statistics.fmean((slope * x + intercept - y) ** 2 for x, y in rows))
