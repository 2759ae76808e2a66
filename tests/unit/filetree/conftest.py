"""The packager tests' tree helpers serve the listing's tests too."""

from tests.unit.packager.conftest import tree, write

__all__ = ["tree", "write"]
