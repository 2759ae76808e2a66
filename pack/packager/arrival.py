"""Reading an object that may not be in the store yet.

A backend may create a task's pod before its PUT of inputs.pb (and of the driver spec
a task that calls tasks reads) has finished, so that the ~0.5 s the container takes to
start covers the upload (a client whose upload fails deletes the pod). So the first
read in the pod may find nothing; it asks again, in short steps at first
(the object is usually a few ms away), up to a bound. Only "not found" is waited on:
any other store error is the reader's to handle at once, as without the wait.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

from pack.errors import ObjectNotFound

# How long a reader waits for an object to appear. The upload it waits for normally ends
# within a second of the pod's start; the bound is for a client that died between
# creating the pod and writing (nobody deletes that pod): it has to outlast a slow PUT
# from a laptop on a bad link (a network timeout is 60 s by default, store.network_timeout)
# while ending such a pod within a minute, with a system error naming the URL.
WAIT_SECONDS = 60.0
FIRST_STEP = 0.05  # the object is usually ms away: ask again soon
LONGEST_STEP = 0.5  # later, a request every half second is enough and costs the store little


def steps(
    bound: float, first: float = FIRST_STEP, longest: float = LONGEST_STEP
) -> Iterator[float]:
    """Pure: the pauses between reads, doubling from `first` to `longest`, adding up to
    exactly `bound` (the last one shortened): a read follows each, the last at `bound`."""
    left = bound
    step = first
    while left > 1e-9:
        pause = min(step, left)
        yield pause
        left -= pause
        step = min(step * 2, longest)


def read_on_arrival(
    read: Callable[[], bytes],
    url: str,
    *,
    bound: float = WAIT_SECONDS,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> bytes:
    """`read()` (which reads the object at `url`), asked again while it raises
    ObjectNotFound, until `bound` seconds have passed; then ObjectNotFound naming `url`
    and how long this waited."""
    started = clock()
    pauses = steps(bound)
    while True:
        try:
            return read()
        except ObjectNotFound:
            pause = next(pauses, None)
            waited = clock() - started
            if pause is None or waited >= bound:
                raise ObjectNotFound(
                    f"not found: {url} (waited {waited:.1f} s for it to be written)"
                ) from None
            sleep(min(pause, bound - waited))


def read_url_on_arrival(url: str, *, bound: float | None = None) -> bytes:
    """The object at `url`, waited for up to `bound` seconds (None: WAIT_SECONDS) if it
    is not there yet."""
    from pack.packager.store import split_url

    store, key = split_url(url)
    return read_on_arrival(
        lambda: store.get_bytes(key), url, bound=WAIT_SECONDS if bound is None else bound
    )
