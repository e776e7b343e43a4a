"""Airflow DAGs for marketintel's seed schedule: one DAG per job, each a single task calling the same job
function the embedded scheduler (`marketintel scheduler`) calls.

The schedule — cadence, retries, backoff, timeout — is read from `marketintel.scheduling.schedule`, the one
place it is written; that module needs only the standard library, so this file parses in an Airflow that
does not have marketintel's dependencies (the repo's `src` is put on the path when marketintel is not
installed). The job function is imported inside the task, when it runs, on a worker that has them.

Differences from the embedded scheduler, on purpose: Airflow's own scheduler spreads task starts, so the
tasks do not sleep a worker slot away for jitter; and `execution_timeout` really kills an overrunning
task, where the embedded scheduler can only report it. Overlap is prevented by max_active_runs=1 per DAG.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import sys
from pathlib import Path
from typing import Any

if importlib.util.find_spec("marketintel") is None:  # a checkout, not an installed package
    sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "src"))

from airflow.providers.standard.operators.python import PythonOperator
from airflow.sdk import DAG

from marketintel.scheduling.models import RETRY_MULTIPLIER
from marketintel.scheduling.schedule import SEED_SCHEDULE

# a fixed start in the past; with catchup=False only the latest interval ever runs
START = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)


def run_seed_job(job_name: str) -> dict[str, Any]:
    """The task: run seed job `job_name` as the embedded scheduler would; its summary goes to XCom."""
    from marketintel.scheduling.jobs import JobFailed, run_job  # lazily: parsing needs none of this

    try:
        summary: dict[str, Any] = run_job(job_name)
    except JobFailed as exc:
        if not exc.retryable:  # a file the parser rejected: retrying cannot help, so fail without retries
            from airflow.exceptions import AirflowFailException

            raise AirflowFailException(str(exc)) from exc
        raise
    return summary


def dag_id(job_name: str) -> str:
    return f"marketintel-{job_name}"


for job in SEED_SCHEDULE:
    with DAG(
        dag_id=dag_id(job.name),
        description=job.description,
        schedule=job.cadence,
        start_date=START,
        catchup=False,
        max_active_runs=1,
        tags=["marketintel", "seed"],
    ) as dag:
        PythonOperator(
            task_id=job.name,
            python_callable=run_seed_job,
            op_kwargs={"job_name": job.name},
            retries=job.retries,
            retry_delay=job.retry_backoff,
            retry_exponential_backoff=RETRY_MULTIPLIER,
            max_retry_delay=job.max_retry_backoff,
            execution_timeout=job.timeout,
        )
    globals()[dag.dag_id] = dag
