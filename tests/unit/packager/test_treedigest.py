from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from pack.errors import PackageError
from pack.packager.publish import plan_package
from pack.packager.treedigest import TreeRecord, tree_digest

from .conftest import write

H = hashlib.sha256(b"hello\n").hexdigest()

# Golden values: changing the encoding must change TREE_SALT, and these on purpose.
GOLDEN_RECORDS = [
    TreeRecord("b/c.py", "file", False, H),
    TreeRecord("a.sh", "file", True, H),
    TreeRecord("link", "symlink", False, "b/c.py"),
]
GOLDEN = "9aa565891d6a8654c21ae39221b435db64e0a8da44839f6d63a27975d543d86f"


def test_golden_digest() -> None:
    assert tree_digest(GOLDEN_RECORDS).hex == GOLDEN


def test_order_independent_and_every_field_counts() -> None:
    base = tree_digest(GOLDEN_RECORDS)
    assert tree_digest(list(reversed(GOLDEN_RECORDS))) == base
    variants = [
        [TreeRecord("b/c.py", "file", True, H), *GOLDEN_RECORDS[1:]],
        [TreeRecord("b/c.pyx", "file", False, H), *GOLDEN_RECORDS[1:]],
        [*GOLDEN_RECORDS[:2], TreeRecord("link", "symlink", False, "a.sh")],
        [*GOLDEN_RECORDS[:2], TreeRecord("link", "file", False, "b/c.py")],
        GOLDEN_RECORDS[:2],
    ]
    digests = {tree_digest(v) for v in variants}
    assert base not in digests and len(digests) == len(variants)


def test_separators_are_unambiguous() -> None:
    one = tree_digest([TreeRecord("a/bc", "file", False, H)])
    two = tree_digest([TreeRecord("ab/c", "file", False, H)])
    assert one != two
    # A path/content split moved across the boundary must not collide either.
    assert tree_digest([TreeRecord("x", "symlink", False, "yz")]) != tree_digest(
        [TreeRecord("xy", "symlink", False, "z")]
    )


def test_empty_and_duplicate_sets_are_errors(tree: Path) -> None:
    with pytest.raises(ValueError):
        tree_digest([])
    with pytest.raises(ValueError, match="duplicate"):
        tree_digest([GOLDEN_RECORDS[0], GOLDEN_RECORDS[0]])
    write(tree, {"__pycache__/x.pyc": "x", ".gitignore": "*\n"})
    with pytest.raises(PackageError, match="nothing to package"):
        plan_package(tree, "all", None, cache_dir=None)


def test_digest_of_a_tree_on_disk_is_golden(tree: Path) -> None:
    write(tree, {"b/c.py": "hello\n", "a.sh": "hello\n"})
    (tree / "a.sh").chmod(0o755)
    (tree / "link").symlink_to("b/c.py")
    assert plan_package(tree, "all", None, cache_dir=None).digest.hex == GOLDEN
