"""Markdown table of `pack build -o json` results: spec, ref, status, seconds.

    python summary.py pack-check.json [pack-build.json] >> "$GITHUB_STEP_SUMMARY"

A later file's row replaces an earlier one's for the same spec (the build after the check).
Missing or empty files are skipped: the build step does not run when nothing is missing.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def rows(paths: list[str]) -> dict[str, dict[str, object]]:
    out: dict[str, dict[str, object]] = {}
    for path in paths:
        file = Path(path)
        if not file.is_file() or not file.read_text().strip():
            continue
        for row in json.loads(file.read_text()):
            out[str(row["variable"])] = row
    return out


def main(paths: list[str]) -> int:
    found = rows(paths)
    print("| spec | ref | status | seconds |")
    print("| --- | --- | --- | ---: |")
    for name, row in found.items():
        ref = row.get("digest") or row["ref"]
        print(f"| {name} | `{ref}` | {row['status']} | {float(row['seconds']):.1f} |")
    return 0 if found else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
