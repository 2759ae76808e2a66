"""The one exception tree pack raises.

Library code raises these with a one-line message that names the field, file or
value at fault; only the CLI turns them into exit codes and hints.
"""

from __future__ import annotations


class PackError(Exception):
    """Base of every error pack reports to a user."""

    exit_code: int = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message


class UsageError(PackError):
    """Bad input from the user: a flag, a config value, a path."""

    exit_code = 2


class ConfigError(UsageError):
    """A bad value in [tool.pack] or a PACK_* variable."""


class SpecError(UsageError):
    """An ImageSpec that cannot be valid, or a spec file that cannot be loaded."""


class BuildError(PackError):
    """An image build or push failed."""


class EngineUnavailable(BuildError):
    """No Docker engine (or no CLI that can build with it) to build with."""


class RegistryError(PackError):
    """A registry answered something other than yes or no."""


class ListingError(UsageError):
    """A folder whose files cannot be listed (unreadable, vanished, a missing or escaping path)."""


class PackageError(UsageError):
    """A source tree that cannot be bundled (empty, too big, unreadable, escaping links)."""


class StoreError(PackError):
    """An object store could not be read or written."""


class ObjectTooLarge(StoreError):
    """An object bigger than the reader's cap: refused before any of it was written."""


class ObjectNotFound(StoreError):
    """The store answered: no object under that key (not "could not ask")."""


class ArchiveError(PackError):
    """A bundle that fails verification or tries to escape its destination."""


class TaskError(UsageError):
    """A task definition or its inputs are invalid."""


class LaunchError(PackError):
    """A run could not be started or followed on its backend."""


class Interrupted(PackError):
    """Stopped by Ctrl-C or SIGTERM after cleaning up; the message says what was stopped."""

    exit_code = 130


class TaskFailed(PackError):
    """The user's task ran and failed; the message carries its traceback."""


class ChildFailed(TaskFailed):
    """A task a workflow called failed: `label failed: <its error in one line>`.

    Raised into the calling workflow's body, which may catch it like any exception.
    """

    def __init__(
        self, label: str, summary: str, *, execution_id: str | None = None, task: str = ""
    ) -> None:
        where = f" (execution {execution_id})" if execution_id else ""
        super().__init__(f"{label} failed: {summary}{where}")
        self.label = label
        self.summary = summary
        self.execution_id = execution_id
        self.task = task


class RunCancelled(KeyboardInterrupt):
    """Ctrl-C, SIGTERM or `pack cancel` reached a driver: it stops starting children and
    stops the running ones. Not an Exception, so a workflow's `except Exception` does not
    swallow it."""
