"""`pack gc`: store retention. Runs older than a cutoff go, with their logs, decks,
inputs, outputs and children; bundles and image-record entries go only when no kept run
refers to them and they are older than the cutoff themselves.

plan      pure: ages, which runs expire, which bundles and image entries follow them
collect   I/O: read the store and the cache dir into a plan; apply a plan
"""
