"""Every whole-value validation refuses a trailing newline (issue 15.8).

`re.match(r"^…$")` accepts "value\\n": `$` also matches before a final newline. Each case
below was accepted before the patterns ended in `\\Z`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import click
import pytest

from pack.digest import Digest
from pack.errors import PackError
from pack.imagespec.ref import ImageRef
from pack.imagespec.spec import ImageSpec
from pack.launcher.credentials import pod_credentials
from pack.launcher.params import DurationType
from pack.launcher.resources import parse_quantity
from pack.launcher.task import _check_env
from pack.packager.extract import digest_from_url

HEX = "a" * 64


def _spec(**kw: object) -> Callable[[], object]:
    return lambda: ImageSpec(name=kw.pop("name", "img"), **kw)  # type: ignore[arg-type]


CASES: dict[str, tuple[Callable[[], object], Callable[[], object]]] = {
    # name: (accepted without the newline, refused with it)
    "digest": (lambda: Digest(HEX), lambda: Digest(HEX + "\n")),
    "ref tag": (lambda: ImageRef.parse("r/a:v1"), lambda: ImageRef.parse("r/a:v1\n")),
    "ref repository": (lambda: ImageRef.parse("r/a"), lambda: ImageRef.parse("r/a\n")),
    "spec name": (_spec(name="img"), _spec(name="img\n")),
    "env key": (_spec(env={"A": "1"}), _spec(env={"A\n": "1"})),
    "label key": (_spec(labels={"a.b": "1"}), _spec(labels={"a.b\n": "1"})),
    "secret id": (_spec(secret_mounts=["tok"]), _spec(secret_mounts=["tok\n"])),
    "quantity": (lambda: parse_quantity("mem", "1Gi"), lambda: parse_quantity("mem", "1Gi\n")),
    "pass-env": (
        lambda: pod_credentials(["A"], [], {"A": "1", "A\n": "1"}),
        lambda: pod_credentials(["A\n"], [], {"A": "1", "A\n": "1"}),
    ),
    "secret name": (
        lambda: pod_credentials([], ["db"], {}),
        lambda: pod_credentials([], ["db\n"], {}),
    ),
    "task env": (lambda: _check_env("t", {"A": "1"}), lambda: _check_env("t", {"A\n": "1"})),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_trailing_newline_is_refused(case: str) -> None:
    good, bad = CASES[case]
    good()
    with pytest.raises((ValueError, PackError)):
        bad()


def test_bundle_url_with_a_trailing_newline_names_no_digest() -> None:
    assert digest_from_url(f"s3://b/bundles/{HEX}.tar.zst") == Digest(HEX)
    assert digest_from_url(f"s3://b/bundles/{HEX}.tar.zst\n") is None


def test_duration_pattern_is_anchored_at_the_very_end() -> None:
    # The CLI strips input first; the pattern itself must still not end at a newline.
    from pack.launcher.params import _DURATION

    assert DurationType().convert("1h30m", None, None) == dt.timedelta(hours=1, minutes=30)
    assert _DURATION.match("1h\n") is None
    with pytest.raises(click.BadParameter):
        DurationType().convert("1h x", None, None)
