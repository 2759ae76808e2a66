"""The virtual environment an oci-built image holds, laid out as the Docker builder's.

The Docker builder runs `python3 -m venv /opt/pack/venv` on the base image's python3;
this module writes the same tree without running anything: `pyvenv.cfg` whose `home` is
the folder of the base's interpreter, `bin/python3` a symlink to that interpreter
(`python` and `pythonX.Y` to `python3`), `lib64 -> lib`, an empty `include/pythonX.Y`,
and the same environment variables. Tasks see no difference.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass

from pack.imagespec.builders.oci import tar
from pack.imagespec.dockerfile import VENV

# Set by the Docker builder's preamble too (templates/_preamble.j2): keep them equal.
VENV_ENV = (("VIRTUAL_ENV", VENV), ("UV_LINK_MODE", "copy"), ("UV_PYTHON_DOWNLOADS", "never"))
# What docker's builder puts on PATH when the base image sets none.
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

_ACTIVATE = """\
# Source this file from a POSIX shell: `. {root}/bin/activate` (written by pack).
deactivate () {{
    if [ -n "${{_OLD_VIRTUAL_PATH:-}}" ]; then PATH="$_OLD_VIRTUAL_PATH"; export PATH; fi
    unset _OLD_VIRTUAL_PATH VIRTUAL_ENV
    [ "${{1:-}}" = "nondestructive" ] || unset -f deactivate
}}
deactivate nondestructive
VIRTUAL_ENV={root}
export VIRTUAL_ENV
_OLD_VIRTUAL_PATH="$PATH"
PATH="$VIRTUAL_ENV/bin:$PATH"
export PATH
"""


@dataclass(frozen=True)
class VenvLayout:
    """Where things go in the image (paths without the leading '/', as in a layer)."""

    python_version: str  # "3.11": names lib/python3.11 and the .pyc tag
    interpreter: str  # the base image's python3, e.g. /usr/bin/python3
    root: str = VENV.lstrip("/")

    @property
    def site_packages(self) -> str:
        return f"{self.root}/lib/python{self.python_version}/site-packages"

    @property
    def bin(self) -> str:
        return f"{self.root}/bin"

    @property
    def python(self) -> str:
        """The interpreter console scripts start with (their shebang)."""
        return f"/{self.root}/bin/python"

    def headers(self, distribution: str) -> str:
        return f"{self.root}/include/site/python{self.python_version}/{distribution}"

    @property
    def cache_tag(self) -> str:
        return "cpython-" + self.python_version.replace(".", "")


def skeleton(layout: VenvLayout) -> list[tar.Entry]:
    """The venv itself, before any package: what `python3 -m venv` creates."""
    root, ver = layout.root, layout.python_version
    home = posixpath.dirname(layout.interpreter)
    cfg = f"home = {home}\ninclude-system-site-packages = false\nversion = {ver}\n"
    entries = [
        tar.directory(posixpath.dirname(root)),
        tar.directory(root),
        tar.directory(f"{root}/bin"),
        tar.directory(f"{root}/include"),
        tar.directory(f"{root}/include/python{ver}"),
        tar.directory(f"{root}/lib"),
        tar.directory(f"{root}/lib/python{ver}"),
        tar.directory(layout.site_packages),
        tar.symlink(f"{root}/lib64", "lib"),
        tar.file(f"{root}/pyvenv.cfg", cfg.encode()),
        tar.symlink(f"{root}/bin/python3", layout.interpreter),
        tar.symlink(f"{root}/bin/python", "python3"),
        tar.symlink(f"{root}/bin/python{ver}", "python3"),
        tar.file(f"{root}/bin/activate", _ACTIVATE.format(root="/" + root).encode()),
    ]
    return entries


def venv_env(base_env: list[str]) -> list[str]:
    """The base image's Env with the venv's variables set and its bin first on PATH."""
    from pack.imagespec.builders.oci.image import merge_env

    path = dict(item.partition("=")[::2] for item in base_env).get("PATH") or DEFAULT_PATH
    return merge_env(base_env, [("PATH", f"{VENV}/bin:{path}"), *VENV_ENV])
