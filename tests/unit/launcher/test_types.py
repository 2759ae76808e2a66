from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import shutil
from pathlib import Path
from typing import Any, Optional

import pytest

from pack.errors import TaskError
from pack.launcher.task import task
from pack.launcher.types.engine import TypeContext, UnsupportedType, default_engine
from pack.launcher.types.files import Directory, File


class Mode(enum.Enum):
    FAST = "fast"
    SLOW = "slow"


@dataclasses.dataclass
class Inner:
    when: dt.datetime
    mode: Mode


@dataclasses.dataclass
class Outer:
    name: str
    inner: Inner
    scores: dict[str, list[float]]
    note: str | None = None
    blob: bytes = b""


NOW = dt.datetime(2024, 5, 1, 12, 0, tzinfo=dt.timezone.utc)


@pytest.mark.parametrize(
    ("tp", "value"),
    [
        (int, -7),
        (float, 2.5),
        (str, "héllo"),
        (bool, True),
        (bytes, b"\x00\xff"),
        (dt.datetime, NOW),
        (dt.timedelta, dt.timedelta(minutes=90)),
        (type(None), None),
        (Optional[int], None),  # noqa: UP045 - typing.Optional must work too
        (int | None, 3),
        (list[list[int]], [[1], [2, 3]]),
        (dict[str, float], {"a": 1.0}),
        (Mode, Mode.SLOW),
        (Outer, Outer("n", Inner(NOW, Mode.FAST), {"x": [1.0, 2.0]}, "hi", b"z")),
    ],
)
def test_round_trip(tp: Any, value: Any) -> None:
    engine = default_engine()
    lit = engine.to_literal(value, tp, TypeContext())
    from flyteidl.core.literals_pb2 import Literal

    again = Literal.FromString(lit.SerializeToString())
    assert engine.to_python(again, tp, TypeContext()) == value


def test_dataclass_is_msgpack_binary() -> None:
    lit = default_engine().to_literal(Inner(NOW, Mode.FAST), Inner, TypeContext())
    assert lit.scalar.binary.tag == "msgpack"


@pytest.mark.parametrize(
    ("tp", "value"), [(int, "3"), (int, True), (str, 1), (list[int], [1, "x"])]
)
def test_wrong_values_refused(tp: Any, value: Any) -> None:
    with pytest.raises(TypeError):
        default_engine().to_literal(value, tp, TypeContext())


@pytest.mark.parametrize(
    ("tp", "value", "where"),
    [
        (list[int], [1, "x"], "[1]: expected int, got str 'x'"),
        (dict[str, list[int]], {"a": [0, 1.5]}, "['a']: [1]: expected int, got float 1.5"),
        (
            Outer,
            Outer("n", Inner(NOW, Mode.FAST), {"x": [1.0, "2"]}),
            "Outer.scores: ['x']: [1]: expected float, got str '2'",
        ),
    ],
)
def test_wrong_values_are_named_by_where_they_are(tp: Any, value: Any, where: str) -> None:
    with pytest.raises(TypeError) as info:
        default_engine().to_literal_map({"v": value}, {"v": tp}, TypeContext())
    text = str(info.value)
    assert text.startswith("v: ") and text.endswith(where)


@pytest.mark.parametrize("tp", [object, list, dict[int, str], set[int], complex])
def test_unsupported_types(tp: Any) -> None:
    with pytest.raises(UnsupportedType):
        default_engine().check(tp)


def test_missing_and_unsupported_hints_are_refused_on_first_use() -> None:
    def no_hint(x, y: int) -> int:  # type: ignore[no-untyped-def]
        return y

    decorated = task(no_hint)  # decoration succeeds: the file stays importable
    with pytest.raises(TaskError, match="task no_hint: parameter 'x' has no type hint"):
        _ = decorated.interface

    def bad_type(x: int, y: complex) -> int:
        return x

    with pytest.raises(TaskError, match="task bad_type: parameter 'y'.*complex"):
        _ = task(bad_type).interface

    def no_return(x: int):  # type: ignore[no-untyped-def]
        return x

    with pytest.raises(TaskError, match="return value has no type hint"):
        _ = task(no_return).interface

    def fine() -> None:
        return None

    with pytest.raises(TaskError, match="retries"):  # options are still checked at decoration
        task(retries=-1)(fine)


def test_task_still_callable_locally() -> None:
    @task(retries=1)
    def add(a: int, b: int = 2) -> int:
        return a + b

    assert add(1) == 3
    assert add.interface.defaults == {"b": 2}
    assert list(add.interface.outputs) == ["o0"]


def test_file_and_directory_offload_and_lazy_fetch(tmp_path: Path) -> None:
    prefix = (tmp_path / "store" / "raw").as_uri()
    ctx = TypeContext(raw_output_prefix=prefix, local_dir=tmp_path / "fetch")
    src = tmp_path / "a.txt"
    src.write_text("A")
    folder = tmp_path / "d"
    (folder / "sub").mkdir(parents=True)
    (folder / "sub" / "b.txt").write_text("B")
    engine = default_engine()
    flit = engine.to_literal(File(src), File, ctx)
    assert flit.scalar.blob.uri.startswith(prefix)
    f = engine.to_python(flit, File, ctx)
    assert f.is_remote and not (tmp_path / "fetch").exists()  # nothing fetched yet
    assert f.open().read() == "A"
    dlit = engine.to_literal(Directory(folder), Directory, ctx)
    d = engine.to_python(dlit, Directory, ctx)
    assert [p.relative_to(d.path).as_posix() for p in d.files()] == ["sub/b.txt"]
    with pytest.raises(TypeError, match="no raw output prefix"):
        engine.to_literal(File(src), File, TypeContext())


def test_numpy_transformer_comes_from_the_entry_point(tmp_path: Path) -> None:
    np = pytest.importorskip("numpy")
    from pack.launcher.types.engine import load_entry_point_transformers

    names = [t.name for t in load_entry_point_transformers()]
    if "numpy.ndarray" not in names:
        pytest.skip("pack is not pip-installed with its entry points")
    ctx = TypeContext(raw_output_prefix=(tmp_path / "raw").as_uri())
    arr = np.arange(6, dtype=np.float32).reshape(2, 3)
    lit = default_engine().to_literal(arr, np.ndarray, ctx)
    assert lit.scalar.blob.metadata.type.format == "npy"
    back = default_engine().to_python(lit, np.ndarray, ctx)
    assert back.dtype == arr.dtype and (back == arr).all()


def test_a_broken_entry_point_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.metadata

    from pack.launcher.types import engine as engine_mod
    from pack.launcher.types.builtins import builtin_transformers

    broken = importlib.metadata.EntryPoint(
        name="broken", value="no_such_module_for_pack:T", group="pack.types"
    )
    monkeypatch.setattr(importlib.metadata, "entry_points", lambda group: [broken])
    engine = engine_mod.TypeEngine(builtin_transformers())
    engine.check(list[int])  # built-in types never load plugins
    with pytest.raises(UnsupportedType, match="entry point 'broken' .*ModuleNotFoundError"):
        engine.check(complex)


def test_a_local_file_passed_in_is_stored_by_content_once(tmp_path: Path) -> None:
    import hashlib

    store = tmp_path / "store"
    ctx = TypeContext(
        raw_output_prefix=(store / "runs" / "r1" / "inputs-raw").as_uri(),
        files_prefix=(store / "files").as_uri(),
        local_dir=tmp_path / "fetch",
    )
    src = tmp_path / "data.csv"
    src.write_text("a,b\n1,2\n")
    engine = default_engine()
    uri = engine.to_literal(File(src), File, ctx).scalar.blob.uri
    digest = hashlib.sha256(src.read_bytes()).hexdigest()
    assert uri == (store / "files" / digest / "data.csv").as_uri()
    stored = store / "files" / digest / "data.csv"
    first = stored.stat()
    # The same bytes from elsewhere: the same URL, and the object is not written again.
    elsewhere = tmp_path / "copy" / "data.csv"
    elsewhere.parent.mkdir()
    elsewhere.write_bytes(src.read_bytes())
    assert engine.to_literal(File(elsewhere), File, ctx).scalar.blob.uri == uri
    assert (stored.stat().st_ino, stored.stat().st_mtime_ns) == (first.st_ino, first.st_mtime_ns)
    assert not (store / "runs").exists()  # nothing under the run's own folder
    # Other bytes, another URL.
    src.write_text("a,b\n1,3\n")
    assert engine.to_literal(File(src), File, ctx).scalar.blob.uri != uri
    # Fetched, it is checked against the digest its name says.
    back = engine.to_python(engine.to_literal(File(elsewhere), File, ctx), File, ctx)
    assert back.open().read() == "a,b\n1,2\n"


def test_a_stored_file_whose_bytes_changed_in_the_store_is_refused(tmp_path: Path) -> None:
    from pack.errors import StoreError

    store = tmp_path / "store"
    ctx = TypeContext(files_prefix=(store / "files").as_uri(), local_dir=tmp_path / "fetch")
    src = tmp_path / "model.bin"
    src.write_bytes(b"weights")
    lit = default_engine().to_literal(File(src), File, ctx)
    stored = next((store / "files").rglob("model.bin"))
    stored.write_bytes(b"planted")
    f = default_engine().to_python(lit, File, ctx)
    with pytest.raises(StoreError, match="not the digest (its name says|the manifest gives)"):
        f.open()
    assert list((tmp_path / "fetch").rglob("model.bin")) == []  # nothing left to read


def test_a_file_that_changes_while_it_is_uploaded_leaves_nothing_under_its_digest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pack.errors import StoreError
    from pack.packager import store as store_mod

    store = tmp_path / "store"
    ctx = TypeContext(files_prefix=(store / "files").as_uri())
    src = tmp_path / "log.txt"
    src.write_text("first line\n")
    real = store_mod.upload_file_url

    def upload_then_append(url: str, path: Path, *, if_absent: bool = False) -> bool:
        wrote = real(url, path, if_absent=if_absent)
        with open(path, "a") as f:  # the writer of the file goes on meanwhile
            f.write("second line\n")
        return wrote

    monkeypatch.setattr(store_mod, "upload_file_url", upload_then_append)
    with pytest.raises(StoreError, match="changed while it was uploaded"):
        default_engine().to_literal(File(src), File, ctx)
    assert [p for p in (store / "files").rglob("*") if p.is_file()] == []


def test_a_local_directory_passed_in_is_stored_by_content_once(tmp_path: Path) -> None:
    from pack.errors import StoreError

    store = tmp_path / "store"
    ctx = TypeContext(files_prefix=(store / "files").as_uri(), local_dir=tmp_path / "fetch")
    folder = tmp_path / "data"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.txt").write_text("A")
    (folder / "sub" / "b.txt").write_text("B")
    engine = default_engine()
    uri = engine.to_literal(Directory(folder), Directory, ctx).scalar.blob.uri
    assert uri.startswith((store / "files").as_uri()) and uri.endswith("/data")
    stored = [p for p in (store / "files").rglob("*") if p.is_file()]
    stamps = {p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in stored}
    # The same tree from elsewhere: the same URL, nothing written again.
    copy = tmp_path / "copy" / "data"
    shutil.copytree(folder, copy)
    assert engine.to_literal(Directory(copy), Directory, ctx).scalar.blob.uri == uri
    assert {p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in stored} == stamps
    d = engine.to_python(engine.to_literal(Directory(copy), Directory, ctx), Directory, ctx)
    assert [p.relative_to(d.path).as_posix() for p in d.files()] == ["a.txt", "sub/b.txt"]
    # One byte more in one file: another URL.
    (copy / "sub" / "b.txt").write_text("BB")
    assert engine.to_literal(Directory(copy), Directory, ctx).scalar.blob.uri != uri
    # A file changed in the store is refused when fetched, and nothing is left.
    next(p for p in stored if p.name == "b.txt").write_text("planted")
    fetch = tmp_path / "fetch2"
    again = engine.to_python(
        engine.to_literal(Directory(folder), Directory, ctx),
        Directory,
        TypeContext(local_dir=fetch),
    )
    with pytest.raises(StoreError, match="not the digest (its name says|the manifest gives)"):
        again.files()
    assert [p for p in fetch.rglob("*") if p.is_file()] == []
