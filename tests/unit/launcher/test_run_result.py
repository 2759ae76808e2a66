from __future__ import annotations

from pack.launcher.backends.base import AttemptResult
from pack.launcher.execution import Execution
from pack.launcher.run import ErrorInfo, RunResult, retryable

TRACEBACK = (
    "Traceback (most recent call last):\n"
    '  File "/code/wf.py", line 3, in main\n'
    "    raise ValueError('bad')\n"
    "ValueError: bad\n"
)
USER_ERROR = ErrorInfo("ValueError", TRACEBACK, user=True, recoverable=False)


def failed(log_tail: str, error: ErrorInfo | None, attempts: int = 1, of: int = 1) -> RunResult:
    result = RunResult(
        execution=Execution("rabc", "p", "d", "file:///s", attempt=attempts),
        task="wf.main",
        image="img:1",
        bundle=None,
        max_attempts=of,
    )
    for n in range(1, attempts + 1):
        result.attempts.append(AttemptResult(n, "Failed", 1, "Error", "exit code 1", log_tail))
        result.errors.append(error)
    return result


def test_failure_repeats_the_traceback_when_the_log_did_not_show_it() -> None:
    text = str(failed("", USER_ERROR).failure(log_shown=True))
    assert text.startswith("task wf.main failed (execution rabc, attempt 1 of 1): ValueError")
    assert 'File "/code/wf.py", line 3' in text
    text = str(failed("noise\n" + TRACEBACK, USER_ERROR).failure())  # library use: no sink
    assert 'File "/code/wf.py", line 3' in text


def test_failure_after_a_streamed_traceback_is_one_line() -> None:
    text = str(failed("noise\n" + TRACEBACK, USER_ERROR, 2, 3).failure(log_shown=True))
    assert text == (
        "task wf.main failed (execution rabc, attempt 2 of 3; not retried): ValueError: bad "
        "(in the task's code; traceback above; "
        "error document file:///s/runs/rabc/attempts/2/errors.pb)"
    )


def test_system_failure_summary_is_what_pack_could_not_do() -> None:
    err = ErrorInfo("StoreError", "pack could not read inputs: gone\n" + TRACEBACK, False, True)
    text = str(failed(err.message, err).failure(log_shown=True))
    assert "attempt 1 of 1): pack could not read inputs: gone (in pack's runtime;" in text


def test_retryable_follows_the_error_document_else_the_backend() -> None:
    attempt = AttemptResult(1, "Failed", 137, "OOMKilled")
    assert retryable(attempt, None)
    assert not retryable(attempt, USER_ERROR)
    assert not retryable(AttemptResult(1, "Failed", None, "DeadlineExceeded"), None)
    pod = AttemptResult(1, "Failed", None, "Evicted", details={"recoverable": "false"})
    assert not retryable(pod, None)


def test_missing_store_credentials_point_at_pass_env() -> None:
    tail = "pack-fast-execute: cannot fetch s3://b/x.tar.zst: Unable to locate credentials\n"
    failure = failed(tail, None).failure(log_shown=True)
    assert failure.hint is not None and "--pass-env AWS_ACCESS_KEY_ID" in failure.hint
    assert failed("other\n", None).failure(log_shown=True).hint is None
