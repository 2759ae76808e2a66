"""A workflow: two images, a map over folds, a tuple output and a cached task.

    pack run --copy all examples/workflows/wf.py main --folds 4

The body of `main` is plain Python run by a driver; each task it calls runs as its
own process (local backend), container (docker) or pod (kubernetes) in the image
the task names. `prepare` is cached: run it again with the same inputs and its
stored output comes back without starting anything (`pack: ... 1 cache hit`).
`summarize` returns two values, carried as the outputs `o0` and `o1`.
"""

from __future__ import annotations

import math
import random
import statistics

from pack import ImageSpec, map_task, task, workflow

# Two images, resolved (built or reused) by `pack run` before the workflow starts;
# on a remote backend set `registry` here or `[tool.pack] registry`.
numeric = ImageSpec(name="pack-examples/wf-numeric", env={"PACK_EXAMPLE_ROLE": "numeric"})
report = ImageSpec(name="pack-examples/wf-report", env={"PACK_EXAMPLE_ROLE": "report"})


@task(image=numeric, cache=True, cache_version="1")
def prepare(rows: int, seed: int) -> list[list[float]]:
    """A noisy line y = 3x: the slow, deterministic step worth caching."""
    rng = random.Random(seed)
    xs = [rng.uniform(0.0, 10.0) for _ in range(rows)]
    return [[x, 3.0 * x + rng.gauss(0.0, 1.0)] for x in xs]


@task(image=numeric)
def fit_fold(data: list[list[float]], fold: int, folds: int) -> float:
    """Fit y = a*x on the other folds; the RMSE on this one."""
    train = [p for i, p in enumerate(data) if i % folds != fold]
    test = [p for i, p in enumerate(data) if i % folds == fold]
    slope = sum(x * y for x, y in train) / sum(x * x for x, _ in train)
    return math.sqrt(statistics.fmean((y - slope * x) ** 2 for x, y in test))


@task(image=report)
def summarize(scores: list[float]) -> tuple[float, int]:
    """The mean RMSE and the best fold."""
    return round(statistics.fmean(scores), 4), scores.index(min(scores))


@workflow
def main(folds: int = 4, rows: int = 400, seed: int = 7) -> tuple[float, int]:
    data = prepare(rows=rows, seed=seed)
    # One child per fold; `data` is the same for every element (broadcast).
    scores = map_task(fit_fold)(data=data, fold=list(range(folds)), folds=folds)
    return summarize(scores=scores)
