"""Which files of a folder get shipped: ignore rules, the secret guard and the walk.

A core room: the packager (bundles) and imagespec (`copy=`) both list files through
it, so one set of rules decides what leaves the machine, whatever carries it.
"""
