"""`pack ui`: a web console over a store's run records (an optional extra: `pack[ui]`).

It reads pack.runs only (records, index, logs, decks, inputs.pb / outputs.pb) and
never talks to a backend. Pages are rendered on the server (Starlette + Jinja2);
the only JavaScript keeps the runs list and a running run's page live through
server-sent events.

app        the Starlette application: routes, live streams, access guard
views      pure view models: rows, timelines, trees, decoded values
"""
