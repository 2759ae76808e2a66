"""Local runs: where a traceback points inside the extracted bundle, shown as the user's file.

A local run extracts the bundle into a temporary folder (`/tmp/pack-…/code`), so the
task's tracebacks name `/tmp/pack-…/code/wf.py`, a copy that is gone when the run ends.
Every file in the bundle sits at the same relative path under the source root it was
packaged from, so a frame's file is shown there instead. Only code locations are
rewritten (traceback frames, warnings' `file:line:`): a message such as
FileNotFoundError's keeps the path the task really used, which may not exist in the
source tree at all.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

# AttemptResult.details keys a backend sets when its attempt ran an extracted bundle.
CODE_DIR = "code_dir"
SOURCE_ROOT = "source_root"


def to_source_paths(text: str, code_dir: str, source_root: str) -> str:
    """Pure: `text` with frames in files under `code_dir` pointing under `source_root`."""
    if not code_dir or code_dir not in text:
        return text
    inside = re.escape(code_dir.rstrip("/") + "/")
    root = source_root.rstrip("/") + "/"
    # `  File "/tmp/pack-…/code/wf.py", line 3, in main`
    text = re.sub(rf'(File "){inside}', lambda m: m.group(1) + root, text)
    # `/tmp/pack-…/code/wf.py:3: UserWarning: …` (warnings, at the start of a line)
    return re.sub(rf"(?m)^{inside}(?=[^\s:]+:\d+: )", lambda m: root, text)


def attempt_source_paths(text: str, details: Mapping[str, str]) -> str:
    """`to_source_paths` with the code dir and source root an attempt reported, if any."""
    code_dir, source_root = details.get(CODE_DIR), details.get(SOURCE_ROOT)
    if not code_dir or not source_root:
        return text
    return to_source_paths(text, code_dir, source_root)
