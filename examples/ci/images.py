"""The images this project's tasks run in; CI keeps them built (github-actions.yml, gitlab-ci.yml).

The registry comes from PACK_REGISTRY (or [tool.pack] registry), so the same file works in
every CI system and on a laptop. python_version is the base image's Python.
"""

from pack import ImageSpec

base = ImageSpec(name="ci-example/base", python_version="3.11", packages=["six"])
app = ImageSpec(name="ci-example/app", base_image=base, packages=["iniconfig"])
