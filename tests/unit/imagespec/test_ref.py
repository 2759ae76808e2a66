from __future__ import annotations

import pytest

from pack.digest import Digest
from pack.imagespec.ref import ImageRef


@pytest.mark.parametrize(
    ("text", "registry", "repository", "tag"),
    [
        ("python:3.11-slim", None, "python", "3.11-slim"),
        ("127.0.0.1:5000/pack/ml:abc", "127.0.0.1:5000", "pack/ml", "abc"),
        ("localhost/ml", "localhost", "ml", None),
        ("ghcr.io/org/team/img:v1", "ghcr.io", "org/team/img", "v1"),
        ("library/ubuntu", None, "library/ubuntu", None),
    ],
)
def test_parse_round_trips(
    text: str, registry: str | None, repository: str, tag: str | None
) -> None:
    ref = ImageRef.parse(text)
    assert (ref.registry, ref.repository, ref.tag) == (registry, repository, tag)
    assert str(ref) == text


def test_digest_forms() -> None:
    d = Digest.of_bytes(b"x")
    ref = ImageRef.parse("127.0.0.1:5000/pack/ml:abc").with_digest(d)
    assert str(ref) == f"127.0.0.1:5000/pack/ml:abc@{d}"
    assert ref.by_digest == f"127.0.0.1:5000/pack/ml@{d}"
    assert ImageRef.parse(str(ref)) == ref


@pytest.mark.parametrize("bad", ["UPPER/case", "a:b:c", "x@sha256:zz", "ml:bad tag", ""])
def test_parse_rejects(bad: str) -> None:
    with pytest.raises(ValueError):
        ImageRef.parse(bad)
