"""A small ML-shaped task: k-fold cross-validation of a price-per-area model.

    pack run --copy all examples/ml/wf.py main --x 3

`--copy all` ships this folder, including data/apartments.csv (a non-Python asset);
`--copy auto` would ship only wf.py and features.py, and the task would fail with
FileNotFoundError. To pin the image, pass `image=` an ImageSpec from spec.py.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from pathlib import Path

from features import fit, folds, load_rows, rmse

from pack import current_context, task

DATA = Path(__file__).parent / "data" / "apartments.csv"


@dataclass
class Metrics:
    folds: int
    rows: int
    price_per_m2: float
    rmse_mean: float
    rmse_per_fold: list[float]
    execution_id: str


@task(retries=1, timeout=600)
def main(x: int = 3) -> Metrics:
    """Cross-validate a linear price model over X folds of data/apartments.csv."""
    if x < 2:
        raise ValueError(f"need at least 2 folds, got {x}")
    rows = load_rows(DATA)
    scores = [rmse(fit(train), test) for train, test in folds(rows, x)]
    slope, _ = fit(rows)
    return Metrics(
        folds=x,
        rows=len(rows),
        price_per_m2=round(slope, 3),
        rmse_mean=round(statistics.fmean(scores), 3),
        rmse_per_fold=[round(s, 3) for s in scores],
        execution_id=current_context().execution_id,
    )
