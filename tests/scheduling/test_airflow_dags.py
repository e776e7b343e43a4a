"""The Airflow DAGs, loaded by real Apache Airflow's DagBag (in its own venv, .venv-airflow): no import
errors, one DAG per seed job, with the seed schedule's cadence, retries and backoff."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from marketintel.scheduling.models import RETRY_MULTIPLIER
from marketintel.scheduling.schedule import SEED_SCHEDULE
from tests.helpers import service_missing

REPO = Path(__file__).resolve().parents[2]
AIRFLOW_PYTHON = REPO / ".venv-airflow" / "bin" / "python"
CHECK = REPO / "deploy" / "airflow" / "check_dags.py"


@pytest.fixture(scope="module")
def dagbag() -> dict[str, Any]:
    if not AIRFLOW_PYTHON.exists():
        service_missing(
            f"no Airflow venv at {AIRFLOW_PYTHON.relative_to(REPO)}: run make install-airflow",
            "the DAG check",
        )
    done = subprocess.run(
        [str(AIRFLOW_PYTHON), str(CHECK)], capture_output=True, text=True, timeout=300, check=False, cwd=REPO
    )
    assert done.stdout, done.stderr
    return dict(json.loads(done.stdout))


def test_airflow_imports_the_dags_without_errors(dagbag: dict[str, Any]) -> None:
    assert dagbag["import_errors"] == {}


def test_there_is_one_dag_per_seed_job_on_the_seed_schedule(dagbag: dict[str, Any]) -> None:
    dags = dagbag["dags"]
    assert set(dags) == {f"marketintel-{job.name}" for job in SEED_SCHEDULE}
    for job in SEED_SCHEDULE:
        dag = dags[f"marketintel-{job.name}"]
        assert dag["schedule"] == job.cadence, job.name
        assert dag["catchup"] is False
        assert dag["max_active_runs"] == 1
        assert list(dag["tasks"]) == [job.name]
        task = dag["tasks"][job.name]
        assert task["operator"] == "PythonOperator"
        assert task["retries"] == job.retries
        assert task["retry_delay_s"] == job.retry_backoff.total_seconds()
        assert task["retry_exponential_backoff"] == RETRY_MULTIPLIER
        assert task["max_retry_delay_s"] == job.max_retry_backoff.total_seconds()
        assert task["execution_timeout_s"] == job.timeout.total_seconds()


def test_the_schedule_the_dags_read_needs_nothing_but_the_standard_library() -> None:
    """The DAG file imports marketintel.scheduling.schedule in Airflow's venv, which has none of our
    dependencies: importing it must pull in none of them."""
    # modules already loaded before the import (site's .pth hooks, e.g. setuptools' _distutils_hack)
    # are the interpreter's, not the schedule's
    probe = (
        "import sys; before = set(sys.modules); import marketintel.scheduling.schedule; "
        "import json; print(json.dumps(sorted({m.split('.')[0] for m in set(sys.modules) - before} "
        "- set(sys.stdlib_module_names))))"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=REPO)
    assert json.loads(done.stdout) == ["marketintel"]
