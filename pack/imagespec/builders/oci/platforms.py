"""A target platform as the resolver, the wheel tags and the image config need it (pure).

Wheels are chosen for glibc MANYLINUX (2.28: Debian 10+, Ubuntu 18.10+, RHEL 8+, every
`python:*-slim`), a floor the image's libc is assumed to meet since the oci builder never
runs the base image to ask. A package whose only wheels need a newer glibc is reported as
having no wheel for the target.
"""

from __future__ import annotations

from dataclasses import dataclass

from pack.errors import BuildError

MANYLINUX = (2, 28)
_ARCH = {
    "linux/amd64": ("amd64", None, "x86_64"),
    "linux/arm64": ("arm64", None, "aarch64"),
    "linux/arm64/v8": ("arm64", "v8", "aarch64"),
}


@dataclass(frozen=True)
class Target:
    platform: str  # linux/amd64
    python_version: str  # 3.11

    @property
    def os(self) -> str:
        return "linux"

    def _arch(self) -> tuple[str, str | None, str]:
        try:
            return _ARCH[self.platform]
        except KeyError:
            valid = ", ".join(sorted(_ARCH))
            raise BuildError(
                f"platform: the oci builder builds for {valid}, not {self.platform!r} "
                "(use the docker builder for it)"
            ) from None

    def check(self) -> None:
        """Fail here, before any request, for a platform the oci builder cannot build."""
        self._arch()

    @property
    def architecture(self) -> str:
        return self._arch()[0]

    @property
    def variant(self) -> str | None:
        return self._arch()[1]

    @property
    def machine(self) -> str:
        """`uname -m` in the image: x86_64, aarch64."""
        return self._arch()[2]

    @property
    def uv_platform(self) -> str:
        """The `--python-platform` value: e.g. `aarch64-manylinux_2_28`."""
        return f"{self.machine}-manylinux_{MANYLINUX[0]}_{MANYLINUX[1]}"

    @property
    def abi(self) -> str:
        return "cp" + self.python_version.replace(".", "")

    def platform_tags(self) -> list[str]:
        """Most specific first: manylinux_2_28 ... manylinux_2_17 and the legacy aliases."""
        tags = []
        for minor in range(MANYLINUX[1], 16, -1):
            tags.append(f"manylinux_2_{minor}_{self.machine}")
            if minor == 17:
                tags.append(f"manylinux2014_{self.machine}")
        if self.machine == "x86_64":
            tags += ["manylinux2010_x86_64", "manylinux1_x86_64"]
        return tags

    def wheel_tags(self) -> list[str]:
        """Every compatible `python-abi-platform` tag, best first (the order pip ranks them)."""
        from packaging import tags

        major, minor = (int(p) for p in self.python_version.split(".")[:2])
        plats = self.platform_tags()
        cp = tags.cpython_tags((major, minor), abis=[self.abi], platforms=plats)
        compat = tags.compatible_tags((major, minor), self.abi, plats)
        return [str(t) for t in (*cp, *compat)]

    def describe(self) -> str:
        return f"{self.platform} (CPython {self.python_version}, {self.uv_platform})"
