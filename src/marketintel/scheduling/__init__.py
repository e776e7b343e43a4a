"""Scheduling: the seed job schedule, the job functions, and the embedded scheduler that runs them.

`schedule`, `models` and `cadence` import only the standard library, so Airflow's DAG files can read the
one seed schedule without the platform's dependencies; `jobs`, `state` and `service` carry the weight.
Keep this module free of imports for the same reason.
"""
