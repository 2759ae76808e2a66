"""DriverSpec: everything a driver needs to start child runs, decided by the client.

The client resolves every image before any driver starts and writes this spec to
the store (`runs/<root-id>/driver.json`); a driver in a pod or a process finds it
through the PACK_DRIVER_SPEC variable its pod sets, a driver in the client's own
process gets the object. It holds names and refs, never a credential value: the
values of `pass_env` reach children through a Secret (kubernetes: the one the
driver's own pod reads them from, or one the client made for an attached run) or
the driver's own environment (local, docker).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from pack.errors import UsageError
from pack.launcher.workflow.cache import MODES

FORMAT = 1
ENV_SPEC = "PACK_DRIVER_SPEC"
# The pod's own name, uid and namespace (Downward API), so a driver pod can own its children.
ENV_POD_NAME = "PACK_POD_NAME"
ENV_POD_UID = "PACK_POD_UID"
ENV_POD_NAMESPACE = "PACK_POD_NAMESPACE"


@dataclass(frozen=True)
class ImagePin:
    """The image a task runs in, as the client resolved it (by digest on remote backends)."""

    ref: str
    spec_digest: str | None = None


@dataclass(frozen=True)
class DriverSpec:
    root: str  # the execution id of the run the user started
    backend: str
    store_url: str
    s3_endpoint_url: str | None = None
    network_timeout: float | None = None  # the client's, for the driver's store and children
    namespace: str | None = None
    project: str = "default"
    domain: str = "development"
    bundle_url: str | None = None
    bundle_digest: str | None = None
    images: dict[str, ImagePin] = field(default_factory=dict)  # module.name -> pin
    # The operator's default pod template (a manifest dict), under every child's own.
    pod_template: dict[str, Any] | None = None
    pass_env: tuple[str, ...] = ()
    env_from_secret: tuple[str, ...] = ()
    cache: str = "use"

    def __post_init__(self) -> None:
        if self.cache not in MODES:
            raise UsageError(f"cache mode {self.cache!r} is not one of {', '.join(MODES)}")

    @property
    def url(self) -> str:
        return spec_url(self.store_url, self.root)

    def image_of(self, qualified_name: str) -> ImagePin | None:
        return self.images.get(qualified_name)

    def to_json(self) -> bytes:
        data = asdict(self)
        data["format"] = FORMAT
        return json.dumps(data, sort_keys=True).encode()

    @classmethod
    def from_json(cls, data: bytes, origin: str) -> DriverSpec:
        try:
            raw = json.loads(data)
            if raw.pop("format", None) != FORMAT:
                raise ValueError(f"format is not {FORMAT}")
            raw["images"] = {k: ImagePin(**v) for k, v in raw.get("images", {}).items()}
            raw["pass_env"] = tuple(raw.get("pass_env", ()))
            raw["env_from_secret"] = tuple(raw.get("env_from_secret", ()))
            return cls(**raw)
        except (ValueError, TypeError, AttributeError) as exc:
            raise UsageError(f"driver spec {origin} is not readable: {exc}") from None


def read_spec(url: str, *, wait: float | None = None) -> DriverSpec:
    """The spec at `url`; a pod may start before the client has written it, so a spec
    not there yet is waited for, up to `wait` seconds (default: pack.packager.arrival's)."""
    from pack.packager.arrival import read_url_on_arrival

    return DriverSpec.from_json(read_url_on_arrival(url, bound=wait), url)


def spec_url(store_url: str, root: str) -> str:
    from pack.launcher.execution import join_url

    return join_url(store_url, "runs", root, "driver.json")


def cancel_url(store_url: str, root: str) -> str:
    """Written by `pack cancel`: drivers start no child once it exists."""
    from pack.launcher.execution import join_url

    return join_url(store_url, "runs", root, "cancel")
