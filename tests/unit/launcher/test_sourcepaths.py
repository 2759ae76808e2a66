from __future__ import annotations

from pack.launcher.sourcepaths import CODE_DIR, SOURCE_ROOT, attempt_source_paths, to_source_paths

CODE = "/tmp/pack-r1-1-abc/code"
LOG = (
    "Traceback (most recent call last):\n"
    f'  File "{CODE}/wf.py", line 3, in main\n'
    f'  File "/usr/lib/python3.11/json/decoder.py", line 9, in decode\n'
    f"{CODE}/pkg/util.py:4: UserWarning: careful\n"
    f"FileNotFoundError: [Errno 2] No such file or directory: '{CODE}/data.csv'\n"
    f'print says "{CODE}/wf.py:1: not a warning line"\n'
)


def test_frames_and_warnings_point_at_the_source_messages_do_not() -> None:
    out = to_source_paths(LOG, CODE, "/home/me/proj")
    assert '  File "/home/me/proj/wf.py", line 3, in main\n' in out
    assert '  File "/usr/lib/python3.11/json/decoder.py"' in out
    assert "/home/me/proj/pkg/util.py:4: UserWarning: careful\n" in out
    assert f"No such file or directory: '{CODE}/data.csv'" in out
    assert f'"{CODE}/wf.py:1: not a warning line"' in out


def test_only_with_both_details() -> None:
    assert attempt_source_paths(LOG, {}) == LOG
    assert attempt_source_paths(LOG, {CODE_DIR: CODE}) == LOG
    mapped = attempt_source_paths(LOG, {CODE_DIR: CODE, SOURCE_ROOT: "/p"})
    assert 'File "/p/wf.py"' in mapped
