"""Load deploy/airflow/dags with Apache Airflow's DagBag and print what Airflow sees, as JSON.

Run with the Airflow venv's python (`.venv-airflow/bin/python deploy/airflow/check_dags.py`): import errors,
and per DAG its schedule, catchup, max_active_runs and each task's retry settings. The test suite compares
that to the seed schedule. Uses a throwaway AIRFLOW_HOME unless one is set, so it touches no real Airflow.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

DAGS = Path(__file__).resolve().parent / "dags"


def _seconds(value: Any) -> float | None:
    return value.total_seconds() if isinstance(value, dt.timedelta) else value


def _schedule(value: Any) -> Any:
    return {"interval_seconds": value.total_seconds()} if isinstance(value, dt.timedelta) else value


def describe(dag_folder: Path) -> dict[str, Any]:
    try:  # Airflow 3: examples come from a bundle of their own, never from a DagBag
        from airflow.dag_processing.dagbag import DagBag

        bag = DagBag(dag_folder=str(dag_folder))
    except ImportError:  # Airflow 2
        from airflow.models.dagbag import DagBag

        bag = DagBag(dag_folder=str(dag_folder), include_examples=False)
    dags = {}
    for dag_id, dag in sorted(bag.dags.items()):
        dags[dag_id] = {
            "schedule": _schedule(dag.schedule),
            "timetable": type(dag.timetable).__name__,
            "catchup": dag.catchup,
            "max_active_runs": dag.max_active_runs,
            "tasks": {
                task.task_id: {
                    "operator": type(task).__name__,
                    "retries": task.retries,
                    "retry_delay_s": _seconds(task.retry_delay),
                    "retry_exponential_backoff": task.retry_exponential_backoff,
                    "max_retry_delay_s": _seconds(task.max_retry_delay),
                    "execution_timeout_s": _seconds(task.execution_timeout),
                }
                for task in dag.tasks
            },
        }
    return {"import_errors": dict(bag.import_errors), "dags": dags}


def main() -> int:
    folder = Path(sys.argv[1]) if len(sys.argv) > 1 else DAGS
    stdout = os.dup(1)
    with tempfile.TemporaryDirectory(prefix="airflow-home-") as home:
        os.environ.setdefault("AIRFLOW_HOME", home)
        os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
        # Airflow logs to stdout, which is this script's answer: send its file descriptor to stderr
        sys.stdout.flush()
        os.dup2(2, 1)
        try:
            report = describe(folder)
        finally:
            sys.stdout.flush()
            os.dup2(stdout, 1)
            os.close(stdout)
    print(json.dumps(report, indent=2, sort_keys=True))
    return 1 if report["import_errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
