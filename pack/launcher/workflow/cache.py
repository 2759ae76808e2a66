"""The result cache: a call's outputs kept in the store under a key of what decides them.

    key = sha256(versioned encoding of: the task (module.name), its interface (input and
          output names and types), its cache_version, the image it runs in (the digest
          the client pinned; the ref where there is none, e.g. the local backend), and
          the input literals (deterministic protobuf bytes; a File by its store URL,
          which for a local file passed in is named by its digest: same bytes, same key))

The task's code is deliberately not in the key: bump `cache_version` when a change
should invalidate old results. Entries live at `<store>/cache/<module.name>/<key>/`:
`outputs.pb` (a copy of the producing attempt's) and `origin.json` (which execution
wrote it, for people). A hit is one GET; nothing is written for it.
"""

from __future__ import annotations

import hashlib
import json
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flyteidl.core.literals_pb2 import LiteralMap

KEY_VERSION = "pack-cache-1"
MODES = ("use", "off", "overwrite")


def image_identity(ref: str) -> str:
    """The digest of a ref pinned by digest, else the ref itself."""
    _, at, digest = ref.partition("@")
    return digest if at else ref


def cache_key(task: Any, image_ref: str, literals: LiteralMap) -> str:
    """Pure: the hex key of a call of `task` with `literals` in image `image_ref`."""
    from pack.launcher.types.engine import type_name

    interface = task.interface
    head = {
        "version": KEY_VERSION,
        "task": task.qualified_name,
        "inputs": [[n, type_name(t)] for n, t in interface.inputs.items()],
        "outputs": [[n, type_name(t)] for n, t in interface.outputs.items()],
        "cache_version": task.cache_version,
        "image": image_identity(image_ref),
    }
    h = hashlib.sha256()
    h.update(json.dumps(head, sort_keys=True, separators=(",", ":")).encode())
    h.update(b"\0")
    h.update(literals.SerializeToString(deterministic=True))
    return h.hexdigest()


class StoreCache:
    """Entries in one store (pack.launcher.run.ResultCache). `mode`: use (read and
    write), off (neither: --no-cache), overwrite (run anyway, then write: --overwrite-cache).
    `lookup` answers hit or miss; a store it cannot ask raises StoreError."""

    def __init__(
        self, store_url: str, mode: str = "use", *, endpoint_url: str | None = None
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"cache mode {mode!r} is not one of {', '.join(MODES)}")
        self.store_url = store_url
        self.mode = mode
        self.read = mode == "use"
        self.write = mode in ("use", "overwrite")

    def key(self, task: Any, image_ref: str, literals: LiteralMap) -> str:
        return cache_key(task, image_ref, literals)

    def _prefix(self, task: Any, key: str) -> str:
        from pack.launcher.execution import join_url

        return join_url(self.store_url, "cache", task.qualified_name, key)

    def lookup(self, task: Any, key: str) -> bytes | None:
        from pack.errors import ObjectNotFound
        from pack.packager.store import read_url

        try:
            return read_url(f"{self._prefix(task, key)}/outputs.pb")
        except ObjectNotFound:
            return None

    def store(self, task: Any, key: str, outputs: bytes, *, execution_id: str) -> None:
        """outputs.pb last: an entry exists once its outputs do (writes are all-or-nothing)."""
        from pack.packager.store import write_url

        prefix = self._prefix(task, key)
        origin = {"execution_id": execution_id, "task": task.qualified_name, "at": time.time()}
        write_url(f"{prefix}/origin.json", json.dumps(origin).encode())
        write_url(f"{prefix}/outputs.pb", outputs)
