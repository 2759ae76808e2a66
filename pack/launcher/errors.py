"""Exceptions a task's own code can raise to steer what happens after a failure."""

from __future__ import annotations


class Recoverable(Exception):
    """Raise (or subclass) this in a task to say "try again": the attempt is retried
    up to the task's `retries`. Any other exception fails the run at once."""
