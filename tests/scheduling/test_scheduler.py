"""The embedded scheduler: cadences, due slots and jitter on an injected clock; retries with backoff; leases
that keep a job from overlapping itself across threads, scheduler instances and processes; graceful stop;
and `scheduler --once` end to end against the connector fixtures, offline."""

from __future__ import annotations

import datetime as dt
import itertools
import os
import random
import signal
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select, text
from sqlalchemy.engine import make_url
from typer.testing import CliRunner

from marketintel.cli import scheduler_cmd
from marketintel.config import load_settings
from marketintel.connectors.models import RawPayload
from marketintel.connectors.parse import parse_payload
from marketintel.connectors.registry import connector
from marketintel.metadata import service as metadata
from marketintel.metadata.models import QualityCheck, Run
from marketintel.scheduling import jobs, state
from marketintel.scheduling.cadence import Cron, latest_slot, next_slot
from marketintel.scheduling.models import Job, due_slot, next_due
from marketintel.scheduling.offline import serve_sources
from marketintel.scheduling.schedule import SEED_SCHEDULE, seed_jobs
from marketintel.scheduling.service import Scheduler
from marketintel.scheduling.state import SchedulerState
from marketintel.store.models import PRICES
from marketintel.store.service import open_timeseries
from tests.helpers import TEST_PG_URL, environment, postgres_admin

UTC = dt.UTC
REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "connectors" / "fixtures"
DAY = dt.date(2024, 11, 3)


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=UTC)


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: dt.datetime) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now


def _postgres_schema() -> Generator[str, None, None]:
    """A URL whose tables live in a fresh schema of the test database, dropped afterwards."""
    admin = postgres_admin(TEST_PG_URL)
    schema = f"sched_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield make_url(TEST_PG_URL).set(query={"options": f"-csearch_path={schema}"}).render_as_string(False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def metadata_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A migrated metadata store: the lease takes a different lock on each backend, so both are tested."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'metadata.sqlite'}"
        metadata.upgrade(url)
        yield url
        return
    schemas = _postgres_schema()
    url = next(schemas)
    metadata.upgrade(url)
    yield url
    schemas.close()


@pytest.fixture
def schedulers(metadata_url: str) -> Iterator[Callable[..., Scheduler]]:
    made: list[Scheduler] = []

    def make(jobs_: list[Job], **options: Any) -> Scheduler:
        scheduler = Scheduler(jobs_, metadata_url, **options)
        made.append(scheduler)
        return scheduler

    yield make
    for scheduler in made:
        scheduler.close(timeout=10)


def job_runs(url: str, name: str, kind: str = "job:{}") -> list[dict[str, Any]]:
    """The run rows of job `name` (or of another kind), oldest first."""
    engine = metadata.engine_for(url)
    try:
        with engine.connect() as conn:
            stmt = select(Run.__table__).where(Run.kind == kind.format(name)).order_by(Run.id)
            return [dict(row._mapping) for row in conn.execute(stmt)]
    finally:
        engine.dispose()


# --- cadences, due slots, jitter ---------------------------------------------------------------------


def test_cron_expressions_fire_where_cron_would() -> None:
    now = at("2024-11-03T10:07:30")
    assert latest_slot("*/5 * * * *", now) == at("2024-11-03T10:05")
    assert next_slot("*/5 * * * *", now) == at("2024-11-03T10:10")
    assert latest_slot("0 * * * *", now) == at("2024-11-03T10:00")
    assert next_slot("0 * * * *", at("2024-11-03T23:00")) == at("2024-11-04T00:00")
    assert latest_slot("0 6 * * *", at("2024-11-03T05:59")) == at("2024-11-02T06:00")
    assert latest_slot("0 6 * * *", at("2024-11-03T06:00")) == at("2024-11-03T06:00")
    assert latest_slot("@daily", now) == at("2024-11-03T00:00")
    # both day fields restricted: either fires (the 1st, or a Monday); 2024-11-04 is a Monday
    assert next_slot("0 0 1 * 1", at("2024-11-02T00:00")) == at("2024-11-04T00:00")
    assert next_slot("0 0 29 2 *", at("2024-03-01T00:00")) == at("2028-02-29T00:00")
    # an interval is aligned to the epoch, not to when the process started
    assert latest_slot(dt.timedelta(minutes=5), now) == at("2024-11-03T10:05")
    assert next_slot(dt.timedelta(minutes=5), at("2024-11-03T10:05")) == at("2024-11-03T10:10")
    for bad in ("* * * *", "60 * * * *", "*/0 * * * *", "a * * * *"):
        with pytest.raises(ValueError, match="cron"):
            Cron.parse(bad)
    with pytest.raises(ValueError, match="never fires"):
        Cron.parse("0 0 31 2 *").next(now)


def test_a_job_is_due_at_its_jittered_slot_once_and_never_catches_up() -> None:
    job = Job("hourly", print, "0 * * * *", jitter=dt.timedelta(minutes=2))
    slot = at("2024-11-03T10:00")
    delay = job.start_delay(slot)
    assert dt.timedelta(0) <= delay < dt.timedelta(minutes=2)
    assert due_slot(job, None, slot + delay - dt.timedelta(seconds=1)) is None  # not before its jitter
    assert due_slot(job, None, slot + delay) == slot
    assert next_due(job, None, slot) == slot + delay
    # served: not due again until the next slot (plus that slot's own jitter)
    assert due_slot(job, slot, at("2024-11-03T10:59")) is None
    following = at("2024-11-03T11:00")
    assert next_due(job, slot, at("2024-11-03T10:30")) == following + job.start_delay(following)
    # down for a day: one run for the latest slot, not 24 (catchup=False)
    assert due_slot(job, slot, at("2024-11-04T10:30")) == at("2024-11-04T10:00")


def test_jitter_stays_in_bounds_spreads_and_is_the_same_for_every_instance() -> None:
    job = Job("spread", print, "*/5 * * * *", jitter=dt.timedelta(seconds=30))
    slots = [at("2024-11-03T00:00") + dt.timedelta(minutes=5 * i) for i in range(1000)]
    delays = [job.start_delay(s).total_seconds() for s in slots]
    assert all(0 <= d < 30 for d in delays)
    assert min(delays) < 1.5
    assert max(delays) > 28.5
    assert delays == [job.start_delay(s).total_seconds() for s in slots]  # deterministic
    other = Job("other", print, "*/5 * * * *", jitter=dt.timedelta(seconds=30))
    assert [other.start_delay(s) for s in slots[:20]] != [job.start_delay(s) for s in slots[:20]]
    assert Job("none", print, "*/5 * * * *").start_delay(slots[0]) == dt.timedelta(0)


def test_retry_delays_follow_airflows_exponential_backoff() -> None:
    job = Job(
        "r",
        print,
        "@hourly",
        retry_backoff=dt.timedelta(seconds=10),
        max_retry_backoff=dt.timedelta(seconds=50),
    )
    rng = random.Random(7)
    for _ in range(200):
        assert 10 <= job.retry_delay(1, rng).total_seconds() < 20
        assert 20 <= job.retry_delay(2, rng).total_seconds() < 40
        assert job.retry_delay(3, rng).total_seconds() <= 50  # capped


def test_the_seed_schedule_is_the_one_in_the_issue() -> None:
    cadences = {job.name: job.cadence for job in SEED_SCHEDULE}
    assert cadences == {
        "miso-rt": "*/5 * * * *",
        "miso-da": "0 * * * *",
        "caiso-oasis": "0 * * * *",
        "curves": "0 6 * * *",
    }
    for job in SEED_SCHEDULE:
        assert callable(job.resolve())
        assert len(job.kind) <= 32  # runs.kind
        assert job.retries >= 1
        assert job.jitter > dt.timedelta(0)
        if job.source:
            connector(job.source)  # a real connector
    assert [j.name for j in seed_jobs(["curves", "miso-da"])] == ["curves", "miso-da"]
    with pytest.raises(KeyError, match="nope"):
        seed_jobs(["nope"])
    with pytest.raises(ValueError, match="cron"):
        Job("bad", print, "every 5 minutes")


# --- retries -----------------------------------------------------------------------------------------


def test_a_failing_job_is_retried_with_backoff_until_it_succeeds(
    schedulers: Callable[..., Scheduler], metadata_url: str
) -> None:
    calls: list[float] = []

    def flaky(rows: int) -> dict[str, Any]:
        calls.append(time.monotonic())
        if len(calls) < 3:
            raise ConnectionError(f"source down ({len(calls)})")
        return {"rows_written": rows}

    backoff = dt.timedelta(milliseconds=100)
    job = Job("flaky", flaky, "@hourly", kwargs={"rows": 7}, retries=3, retry_backoff=backoff)
    (result,) = schedulers([job], rng=random.Random(1)).run_once()
    assert (result.status, result.attempts, result.rows_written) == ("succeeded", 3, 7)
    assert "source down (1)" in (result.message or "")
    assert "source down (2)" in (result.message or "")

    (run,) = job_runs(metadata_url, "flaky")
    assert (run["status"], run["rows_written"]) == ("succeeded", 7)
    attempts = run["params"]["attempts"]
    assert [a["status"] for a in attempts] == ["failed", "failed", "succeeded"]
    waits = [a["retry_in_s"] for a in attempts[:2]]
    assert 0.1 <= waits[0] < 0.2
    assert 0.2 <= waits[1] < 0.4
    gaps = [b - a for a, b in itertools.pairwise(calls)]
    assert all(gap >= wait for gap, wait in zip(gaps, waits, strict=True))
    assert run["params"]["result"] == {"rows_written": 7}
    assert "lease_expires_at" not in run["params"]  # released


def test_a_job_fails_once_its_retries_are_spent_and_at_once_when_retrying_cannot_help(
    schedulers: Callable[..., Scheduler], metadata_url: str
) -> None:
    def down() -> None:
        raise TimeoutError("still down")

    def rejected() -> None:
        raise jobs.JobFailed("bad file", {"rows_written": 3}, retryable=False)

    quick = dt.timedelta(milliseconds=10)
    scheduler = schedulers(
        [
            Job("down", down, "@hourly", retries=2, retry_backoff=quick),
            Job("bad", rejected, "@hourly", retries=5),
        ]
    )
    down_result, bad_result = scheduler.run_once()
    assert (down_result.status, down_result.attempts) == ("failed", 3)
    assert (bad_result.status, bad_result.attempts, bad_result.rows_written) == ("failed", 1, 3)
    assert job_runs(metadata_url, "down")[0]["status"] == "failed"
    assert "bad file" in job_runs(metadata_url, "bad")[0]["message"]


# --- no overlap --------------------------------------------------------------------------------------


def test_a_running_job_is_not_started_again_by_the_next_tick(
    schedulers: Callable[..., Scheduler], metadata_url: str
) -> None:
    release, spans = threading.Event(), []

    def slow() -> None:
        begun = time.monotonic()
        release.wait(10)
        spans.append((begun, time.monotonic()))

    clock = Clock(at("2024-11-03T10:00:30"))
    scheduler = schedulers([Job("slow", slow, "0 * * * *")], clock=clock)
    assert scheduler.tick() == ["slow"]
    clock.now = at("2024-11-03T11:00:30")  # the next slot comes while the first run still runs
    assert scheduler.due() == []
    assert scheduler.tick() == []
    release.set()
    scheduler.drain(10)
    assert scheduler.tick() == ["slow"]  # now the 11:00 slot runs, once
    scheduler.drain(10)
    assert scheduler.tick() == []
    slots = [r["params"]["slot"] for r in job_runs(metadata_url, "slow")]
    assert slots == ["2024-11-03T10:00:00+00:00", "2024-11-03T11:00:00+00:00"]
    assert spans[0][1] <= spans[1][0]


def widen_the_race(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make a claim dawdle between reading the job's newest run and inserting its own: without the
    database lock, two claimants would then both see the job free, every time."""
    read = state._latest

    def slow_read(session: Any, kind: str) -> Any:
        found = read(session, kind)
        time.sleep(0.3)
        return found

    monkeypatch.setattr(state, "_latest", slow_read)


def test_two_schedulers_on_one_metadata_store_never_run_a_job_twice_at_once(
    schedulers: Callable[..., Scheduler], metadata_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    widen_the_race(monkeypatch)
    started, release, spans = threading.Event(), threading.Event(), []

    def slow() -> None:
        begun = time.monotonic()
        started.set()
        release.wait(10)
        spans.append((begun, time.monotonic()))

    job = Job("slow", slow, "0 * * * *")
    clock = Clock(at("2024-11-03T10:00:30"))
    options = {"clock": clock, "busy_recheck": dt.timedelta(0)}
    first, second = schedulers([job], owner="first", **options), schedulers([job], owner="second", **options)
    barrier, ticks = threading.Barrier(2), {}

    def tick(scheduler: Scheduler) -> None:
        barrier.wait()
        ticks[scheduler.owner] = scheduler.tick()

    threads = [threading.Thread(target=tick, args=(s,)) for s in (first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(ticks.values()) == [[], ["slow"]]  # exactly one claimed the slot
    assert started.wait(5)
    loser = first if ticks["first"] == [] else second
    assert loser.run_once()[0].status == "busy"  # even --once waits its turn
    release.set()
    first.drain(10)
    second.drain(10)
    assert loser.tick() == []  # the slot was served by the other instance: not run again
    (run,) = job_runs(metadata_url, "slow")
    assert run["status"] == "succeeded"
    assert len(spans) == 1


def test_the_heartbeat_keeps_a_long_job_leased(
    schedulers: Callable[..., Scheduler], metadata_url: str
) -> None:
    started, release = threading.Event(), threading.Event()

    def long_job() -> None:
        started.set()
        release.wait(10)

    job = Job("long", long_job, "@hourly")
    lease = {"lease_ttl": dt.timedelta(seconds=0.6), "heartbeat": dt.timedelta(seconds=0.1)}
    holder = schedulers([job], owner="holder", **lease)
    other = schedulers([job], owner="other", **lease)
    thread = threading.Thread(target=holder.run_once)
    thread.start()
    assert started.wait(5)
    time.sleep(1.0)  # longer than the lease: only the heartbeat keeps it
    assert other.run_once()[0].status == "busy"
    release.set()
    thread.join(10)
    assert [r["status"] for r in job_runs(metadata_url, "long")] == ["succeeded"]


def test_a_dead_schedulers_lease_expires_and_the_job_is_taken_over(
    schedulers: Callable[..., Scheduler], metadata_url: str
) -> None:
    clock = Clock(at("2024-11-03T10:00:30"))
    job = Job("ingest", lambda: {"rows_written": 1}, "0 * * * *")
    dead = SchedulerState(metadata_url, "dead", lease_ttl=dt.timedelta(minutes=2), clock=clock)
    assert dead.claim(job, at("2024-11-03T10:00")).outcome == "claimed"  # …and it never heartbeats again
    dead.close()
    alive = schedulers([job], clock=clock, lease_ttl=dt.timedelta(minutes=2))
    clock.now = at("2024-11-03T10:01:30")
    assert alive.due() == []  # the 10:00 slot is the dead one's
    clock.now = at("2024-11-03T11:00:10")
    assert alive.tick() == ["ingest"]
    alive.drain(10)
    first, second = job_runs(metadata_url, "ingest")
    assert first["status"] == "failed"
    assert first["message"].startswith("abandoned: the lease of dead expired")
    assert second["status"] == "succeeded"


SCHEDULER_PROCESS = textwrap.dedent(
    """
    import json, os, sys, time
    from pathlib import Path
    from marketintel.scheduling import state
    from marketintel.scheduling.models import Job
    from marketintel.scheduling.service import Scheduler

    url, go, log = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
    read = state._latest

    def slow_read(session, kind):  # see widen_the_race
        found = read(session, kind)
        time.sleep(0.3)
        return found

    state._latest = slow_read

    def slow():
        begun = time.time()
        time.sleep(1.0)
        with log.open("a") as out:
            out.write(json.dumps([begun, time.time()]) + "\\n")

    scheduler = Scheduler([Job("slow", slow, "@hourly")], url)
    (go.parent / f"ready-{os.getpid()}").touch()
    while not go.exists():
        time.sleep(0.01)
    (result,) = scheduler.run_once()
    scheduler.close()
    print(result.status)
    """
)


def test_two_scheduler_processes_on_one_metadata_store_do_not_overlap(
    tmp_path: Path, metadata_url: str
) -> None:
    go, log = tmp_path / "go", tmp_path / "spans.jsonl"
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", SCHEDULER_PROCESS, metadata_url, str(go), str(log)],
            stdout=subprocess.PIPE,
            text=True,
            cwd=REPO,
        )
        for _ in range(2)
    ]
    deadline = time.monotonic() + 60
    while len(list(tmp_path.glob("ready-*"))) < 2 and time.monotonic() < deadline:
        time.sleep(0.02)  # until both are waiting at the line
    go.touch()
    outcomes = sorted(p.communicate(timeout=60)[0].strip() for p in processes)
    assert outcomes == ["busy", "succeeded"]
    assert len(log.read_text().splitlines()) == 1
    assert [r["status"] for r in job_runs(metadata_url, "slow")] == ["succeeded"]


# --- stopping ----------------------------------------------------------------------------------------


def test_a_graceful_stop_lets_running_attempts_finish_and_abandons_pending_retries(
    schedulers: Callable[..., Scheduler], metadata_url: str
) -> None:
    started, finished = threading.Event(), threading.Event()

    def slow() -> dict[str, int]:
        started.set()
        time.sleep(0.5)
        finished.set()
        return {"rows_written": 2}

    def failing() -> None:
        raise ConnectionError("down")

    scheduler = schedulers(
        [
            Job("slow", slow, "* * * * *"),
            Job("failing", failing, "* * * * *", retries=3, retry_backoff=dt.timedelta(minutes=5)),
        ]
    )
    thread = threading.Thread(target=scheduler.run_forever, kwargs={"poll": 0.05})
    thread.start()
    assert started.wait(5)
    begun = time.monotonic()
    scheduler.stop()
    thread.join(10)
    assert not thread.is_alive()
    assert time.monotonic() - begun < 5
    assert finished.is_set()
    assert [r["status"] for r in job_runs(metadata_url, "slow")] == ["succeeded"]
    (failed,) = job_runs(metadata_url, "failing")
    assert failed["status"] == "failed"
    assert "stopped before the next retry" in failed["message"]


def test_sigterm_stops_the_scheduler_gracefully(
    schedulers: Callable[..., Scheduler], metadata_url: str
) -> None:
    started = threading.Event()

    def job() -> None:
        started.set()
        time.sleep(0.3)

    scheduler = schedulers([Job("job", job, "* * * * *")])

    def terminate() -> None:
        if started.wait(5):
            os.kill(os.getpid(), signal.SIGTERM)

    before = signal.getsignal(signal.SIGTERM)
    threading.Thread(target=terminate, daemon=True).start()
    with scheduler.stopping_on_signals():
        scheduler.run_forever(poll=0.05)
    assert scheduler.stopping
    assert signal.getsignal(signal.SIGTERM) is before
    assert [r["status"] for r in job_runs(metadata_url, "job")] == ["succeeded"]


# --- the curve hook ----------------------------------------------------------------------------------


def test_the_curve_build_is_a_hook_that_succeeds_while_empty(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path)
    empty = jobs.build_curves(settings, day="2024-11-03")
    assert empty["builders"] == []
    assert "no curve builder registered" in empty["message"]

    seen: list[dt.date] = []

    def builder(_settings: Any, as_of: dt.date) -> int:
        seen.append(as_of)
        return 42

    def broken(_settings: Any, as_of: dt.date) -> int:
        raise ValueError("no quotes")

    jobs.register_curve_builder(builder)
    try:
        assert jobs.build_curves(settings, day="2024-11-04")["rows_written"] == 42
        jobs.register_curve_builder(broken)
        with pytest.raises(jobs.JobFailed, match="no quotes"):
            jobs.build_curves(settings, day="2024-11-05")
    finally:
        jobs.unregister_curve_builder(builder)
        jobs.unregister_curve_builder(broken)
    assert seen == [DAY + dt.timedelta(days=1), DAY + dt.timedelta(days=2)]
    runs = job_runs(settings.metadata_url, "", kind="curve-build")
    statuses = [(r["status"], r["rows_written"], (r["message"] or "")[:24]) for r in runs]
    assert statuses == [
        ("succeeded", 0, "no curve builder registe"),
        ("succeeded", 42, ""),
        ("failed", 42, "ValueError: no quotes"),
    ]


# --- offline sources and `scheduler --once` ----------------------------------------------------------


def test_the_offline_server_answers_each_connectors_own_urls_from_its_fixture_files() -> None:
    with serve_sources(FIXTURES) as offline:
        miso = connector("miso-da", offline.base_url("miso-da"))
        caiso = connector("caiso-oasis", offline.base_url("caiso-oasis"))
        da_url, *rt5_urls = caiso.urls(DAY)
        with httpx.Client() as client:
            (miso_url,) = miso.urls(DAY)
            assert client.get(miso_url).content == (FIXTURES / "miso/20241103_da_expost_lmp.csv").read_bytes()
            assert client.get(da_url).content == (FIXTURES / "caiso/PRC_LMP_DAM_20241103.zip").read_bytes()
            rt5 = FIXTURES / "caiso/rt5_20241103/PRC_INTVL_LMP_RTM_20241103T0700Z.zip"
            assert client.get(rt5_urls[0]).content == rt5.read_bytes()  # found in a subdirectory
            assert len(rt5_urls) == 25  # the long day of the DST change
            (missing,) = miso.urls(DAY + dt.timedelta(days=30))
            assert client.get(missing).status_code == 404  # which the connectors read as "not published"
            assert client.get(f"{offline.url}/miso/../../pyproject.toml").status_code == 404
            assert client.get(f"{offline.url}/nordpool/x.json").status_code == 404  # no connector registered


def test_live_ingest_runs_check_freshness_between_batches(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path)
    with serve_sources(FIXTURES) as offline:
        base_url = offline.base_url("miso-da")

        def ingest(day: str | None = None) -> dict[str, Any]:
            return jobs.ingest_source(
                "miso-da", settings=settings, day=day, base_url=base_url, requests_per_second=0
            )

        nothing = ingest()  # today is not in the fixtures: a 404
        assert (nothing["files"], nothing["quality_failed"]) == (0, [])
        pinned = ingest(DAY.isoformat())
        assert pinned["written"] == 1
        assert pinned["quality_failed"] == []  # a pinned day is a backfill: "old data" is not news
        live = ingest()
    assert "DA freshness" in live["quality_failed"]  # the newest MISO DA hour is from 2024
    engine = metadata.engine_for(settings.metadata_url)
    try:
        with engine.connect() as conn:
            checks = {row.check for row in conn.execute(select(QualityCheck.check).distinct())}
    finally:
        engine.dispose()
    assert {"freshness", "completeness"} <= checks  # the source checks and the batch checks, recorded


def run_once(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "marketintel.cli.scheduler_cmd", "--once", *args],
        env=environment(data_dir),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def fixture_rows(source: str, files: list[Path]) -> int:
    now = dt.datetime.now(UTC)
    return sum(
        parse_payload(connector(source), RawPayload(f.name, f.read_bytes(), now)).num_rows for f in files
    )


def test_scheduler_once_runs_every_seed_job_against_the_fixtures_offline(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    args = ("--sources-root", str(FIXTURES.relative_to(REPO)), "--day", DAY.isoformat())
    first = run_once(data_dir, *args)
    assert first.returncode == 0, first.stdout + first.stderr
    for name in ("miso-rt", "miso-da", "caiso-oasis", "curves"):
        assert name in first.stdout

    expected = {
        "miso-da": fixture_rows("miso-da", [FIXTURES / "miso/20241103_da_expost_lmp.csv"]),
        "miso-rt": fixture_rows("miso-rt", [FIXTURES / "miso/20241103_rt_lmp_final.csv"]),
        "caiso-oasis": fixture_rows(
            "caiso-oasis",
            [
                FIXTURES / "caiso/PRC_LMP_DAM_20241103.zip",
                *sorted((FIXTURES / "caiso/rt5_20241103").iterdir()),
            ],
        ),
    }
    assert all(n > 0 for n in expected.values())

    def stored() -> dict[str, int]:
        store = open_timeseries(f"duckdb:///{data_dir / 'timeseries.duckdb'}", create=False)
        try:
            counts = store.query(
                f"SELECT source, count(*) AS n FROM {PRICES.name} GROUP BY source"
            ).to_pylist()
        finally:
            store.close()
        return {row["source"]: row["n"] for row in counts}

    assert stored() == expected
    url = f"sqlite:///{data_dir / 'metadata.sqlite'}"
    for name, rows in expected.items():
        (run,) = job_runs(url, name)
        assert (run["status"], run["rows_written"]) == ("succeeded", rows)
        assert run["params"]["result"]["checkpoint"] == DAY.isoformat()
    (curves,) = job_runs(url, "curves")
    assert curves["status"] == "succeeded"
    (hook,) = job_runs(url, "", kind="curve-build")
    assert hook["status"] == "succeeded"
    assert "no curve builder registered" in hook["message"]

    second = run_once(data_dir, *args)
    assert second.returncode == 0, second.stdout + second.stderr
    assert stored() == expected  # 0 new rows
    assert [r["rows_written"] for r in job_runs(url, "caiso-oasis")] == [expected["caiso-oasis"], 0]


def test_scheduler_once_exits_non_zero_when_a_job_fails(tmp_path: Path) -> None:
    root = tmp_path / "sources"
    (root / "miso").mkdir(parents=True)
    good = (FIXTURES / "miso/20241103_da_expost_lmp.csv").read_text()
    (root / "miso/20241103_da_expost_lmp.csv").write_text(good.replace("LMP", "XYZ", 3))
    result = run_once(
        tmp_path / "data", "--sources-root", str(root), "--day", DAY.isoformat(), "--jobs", "miso-da"
    )
    assert result.returncode == 1, result.stdout + result.stderr
    (run,) = job_runs(f"sqlite:///{tmp_path / 'data/metadata.sqlite'}", "miso-da")
    assert run["status"] == "failed"
    assert "unknown Value 'XYZ'" in run["message"]  # quarantined by the parser
    assert len(run["params"]["attempts"]) == 1


def test_scheduler_rejects_unknown_jobs_and_bad_days() -> None:
    runner = CliRunner()
    unknown = runner.invoke(scheduler_cmd.app, ["--once", "--jobs", "nope"])
    assert unknown.exit_code == 2
    assert "unknown job" in unknown.output
    assert runner.invoke(scheduler_cmd.app, ["--once", "--day", "3 Nov"]).exit_code == 2
    assert runner.invoke(scheduler_cmd.app, ["--once", "--sources-root", "/no/such/dir"]).exit_code == 2
