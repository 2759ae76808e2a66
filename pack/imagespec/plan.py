"""Build order: a spec whose base_image is another spec is built after it.

Pure: specs in, waves out. Every wave only depends on earlier waves, so the specs
of one wave may be built in parallel. Equal specs (two variables naming the same
spec, or a base spec that is also a module-level variable) are one node.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from pack.errors import SpecError
from pack.imagespec.spec import ImageSpec


@dataclass
class Node:
    spec: ImageSpec
    variables: list[str] = field(default_factory=list)  # module-level names of this spec
    base: Node | None = None
    implicit: str = ""  # `child.base_image` for a base spec that has no name of its own

    @property
    def label(self) -> str:
        return self.variables[0] if self.variables else self.implicit


def plan(specs: Mapping[str, ImageSpec]) -> list[list[Node]]:
    """Waves of nodes in dependency order; within a wave, the order of `specs`."""
    nodes: dict[ImageSpec, Node] = {}
    order: list[Node] = []

    def visit(spec: ImageSpec, variable: str | None, chain: tuple[ImageSpec, ...]) -> Node:
        if spec in chain:
            raise SpecError(f"ImageSpec {spec.name!r}: base_image chain loops back to itself")
        node = nodes.get(spec)
        if node is None:
            base = None
            if isinstance(spec.base_image, ImageSpec):
                base = visit(spec.base_image, None, (*chain, spec))
                if not base.implicit:
                    base.implicit = f"{variable or spec.name}.base_image"
            node = Node(spec, base=base)
            nodes[spec] = node
            order.append(node)
        if variable is not None and variable not in node.variables:
            node.variables.append(variable)
        return node

    for variable, spec in specs.items():
        visit(spec, variable, ())

    depth: dict[int, int] = {}

    def level(node: Node) -> int:
        key = id(node)
        if key not in depth:
            depth[key] = 0 if node.base is None else level(node.base) + 1
        return depth[key]

    waves: list[list[Node]] = []
    for node in order:
        d = level(node)
        while len(waves) <= d:
            waves.append([])
        waves[d].append(node)
    return waves
