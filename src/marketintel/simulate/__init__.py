"""A deterministic, realistic market simulator that emits canonical Arrow tables.

`simulate(spec)` yields `SimBatch`es (instruments, series, price facts, fundamentals, forward quotes, and
finally the revisions) whose tables carry exactly the schemas of `marketintel.store.models`. The same spec
gives byte-identical tables in any process; a different seed gives a different history.
"""
