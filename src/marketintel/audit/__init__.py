"""The audit log: every API call, export and scenario run, appended to a hash-chained table.

`models` holds the event a caller records and the verification report; `chain` the canonical form of a
record and its hash; `service` appends under the chain-head lock, verifies the chain and archives old
records to the object store (`segments` is the archived form); `writer` batches records on a background
thread so auditing never holds up a request.
"""
