"""Runs you can look at: a record for every run, a time-ordered index, logs, in the store.

record     RunRecord / AttemptRecord: pure data, checked when read (names only, no connection)
keys       where records, index entries, child links and logs live in a store
runstore   RunStore: put / get / recent / children / tree / put_log / get_log
recorder   Recorder: the record of one run kept current by the run pipeline
logs       LogCapture (a tee the backends write to), LiveLog (stores it while it runs)
settle     a detached run's record brought up to date from its outputs.pb / errors.pb
connection the cache-dir note of how this user's own run reached its backend
locate     finding a run by id, and which settings may be used to reach its backend
literals   a typeless reading of inputs.pb / outputs.pb
"""
