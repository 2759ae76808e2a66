from __future__ import annotations

from pathlib import Path

import pytest

from pack.imagespec.plan import plan
from pack.imagespec.record import ImageRecord
from pack.imagespec.spec import ImageSpec


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_record_fresh_within_ttl_for_same_content(tmp_path: Path) -> None:
    clock = Clock()
    rec = ImageRecord(tmp_path / "r.json", 60, clock)
    rec.remember("reg/a:1", "sha256:aa", "sha256:m1")
    again = ImageRecord(tmp_path / "r.json", 60, clock)  # a new process reads the file
    entry = again.fresh("reg/a:1", "sha256:aa")
    assert entry is not None and entry.digest == "sha256:m1"
    assert again.fresh("reg/a:1", "sha256:other") is None
    assert again.fresh("reg/a:1", "sha256:aa", local=True) is None
    clock.now += 61
    assert again.fresh("reg/a:1", "sha256:aa") is None


def test_record_merges_concurrent_writers_and_finds_content_elsewhere(tmp_path: Path) -> None:
    clock = Clock()
    one = ImageRecord(tmp_path / "r.json", 60, clock)
    two = ImageRecord(tmp_path / "r.json", 60, clock)
    one.remember("reg/old:1", "sha256:aa", "sha256:m1")
    clock.now += 1
    two.remember("reg2/new:1", "sha256:aa", "sha256:m1")
    two.remember("local:1", "sha256:aa", None, local=True)
    three = ImageRecord(tmp_path / "r.json", 60, clock)
    assert [e.ref for e in three.elsewhere("sha256:aa", "reg/moved:1")] == [
        "reg2/new:1",
        "reg/old:1",
    ]
    three.forget("reg2/new:1")
    assert [e.ref for e in ImageRecord(tmp_path / "r.json", 60).elsewhere("sha256:aa", "x")] == [
        "reg/old:1"
    ]


@pytest.mark.parametrize("junk", [b"{not json", b"[]", b'{"version": 99}', b"\xff\xfe"])
def test_corrupt_record_is_ignored_and_replaced(tmp_path: Path, junk: bytes) -> None:
    path = tmp_path / "r.json"
    path.write_bytes(junk)
    rec = ImageRecord(path, 60)
    assert rec.fresh("a:1", "sha256:aa") is None
    rec.remember("a:1", "sha256:aa", None)
    assert ImageRecord(path, 60).fresh("a:1", "sha256:aa") is not None
    assert not list(tmp_path.glob(".record-*"))


def test_plan_orders_base_specs_first_and_dedups(tmp_path: Path) -> None:
    base = ImageSpec(name="base", base_dir=tmp_path)
    child = ImageSpec(name="child", base_image=base, base_dir=tmp_path)
    other = ImageSpec(name="other", base_dir=tmp_path)
    inline = ImageSpec(
        name="leaf", base_image=ImageSpec(name="hidden", base_dir=tmp_path), base_dir=tmp_path
    )
    waves = plan({"child": child, "other": other, "base": base, "alias": base, "leaf": inline})
    labels = [[n.label for n in wave] for wave in waves]
    assert labels == [["base", "other", "leaf.base_image"], ["child", "leaf"]]
    assert waves[0][0].variables == ["base", "alias"]
    assert waves[1][0].base is waves[0][0]
