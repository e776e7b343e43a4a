"""The audit tamper test: every way of rewriting history in the database is caught by `verify`, which
names the first bad record. Deletions name the first missing id; a record edited and re-hashed (a forger
who knows the scheme) names the record after it, whose link no longer matches."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker

from marketintel.audit.chain import record_hash
from marketintel.audit.service import verify
from tests.audit.builders import AUDIT_LOG, build_chain, content, overwrite, row
from tests.helpers import run_cli

N = 12  # records, appended 4 per transaction
K = 5  # the record tampered with
PAGE = 5  # verify reads pages this small, so breaks fall before, on and after page edges


def edit_status(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(text("UPDATE audit_log SET status = 500 WHERE id = :k"), {"k": K})


def edit_actor(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(text("UPDATE audit_log SET actor = 'someone-else' WHERE id = :k"), {"k": K})


def edit_time_by_a_microsecond(engine: Engine) -> None:
    overwrite(engine, K, {"occurred_at": row(engine, K)["occurred_at"] + timedelta(microseconds=1)})


def delete_record(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_log WHERE id = :k"), {"k": K})


def delete_first_record(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_log WHERE id = 1"))


def swap_whole_rows(engine: Engine) -> None:
    """Records K and K+1 trade places, hashes and all (only the ids stay)."""
    first, second = row(engine, K), row(engine, K + 1)
    overwrite(engine, K, {c: v for c, v in second.items() if c != "id"})
    overwrite(engine, K + 1, {c: v for c, v in first.items() if c != "id"})


def swap_contents(engine: Engine) -> None:
    """Records K and K+1 trade their contents; each keeps its hashes."""
    first, second = row(engine, K), row(engine, K + 1)
    overwrite(engine, K, content(second))
    overwrite(engine, K + 1, content(first))


def delete_tail(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_log WHERE id >= :first"), {"first": N - 1})


def rehash(engine: Engine, record_id: int) -> None:
    """Edit a record and give it the hash it would have had: its own check passes."""
    record = row(engine, record_id) | {"status": 403}
    overwrite(engine, record_id, {"status": 403, "hash": record_hash(record["prev_hash"], record)})


def forge_and_rehash(engine: Engine) -> None:
    rehash(engine, K)


def forge_and_rehash_last(engine: Engine) -> None:
    rehash(engine, N)


def insert_beyond_head(engine: Engine) -> None:
    """A well-formed record added at the end without going through the head."""
    last = row(engine, N)
    forged = last | {"id": N + 1, "prev_hash": last["hash"], "actor": "ghost"}
    forged["hash"] = record_hash(forged["prev_hash"], forged)
    with engine.begin() as conn:
        conn.execute(AUDIT_LOG.insert().values(**forged))


TAMPERS: dict[str, tuple[Callable[[Engine], None], int, str]] = {
    "edit-status": (edit_status, K, "content edited (hash mismatch)"),
    "edit-actor": (edit_actor, K, "content edited (hash mismatch)"),
    "edit-time-1us": (edit_time_by_a_microsecond, K, "content edited (hash mismatch)"),
    "delete": (delete_record, K, f"record {K} missing (deleted): the chain jumps from {K - 1} to {K + 1}"),
    "delete-first": (delete_first_record, 1, "record 1 missing (deleted): the chain jumps from 0 to 2"),
    "swap-rows": (
        swap_whole_rows,
        K,
        f"previous record missing or reordered (prev_hash does not match record {K - 1})",
    ),
    "swap-contents": (swap_contents, K, "content edited (hash mismatch)"),
    "delete-tail": (delete_tail, N - 1, f"chain truncated after record {N - 2} (head says {N})"),
    "forge-rehash": (
        forge_and_rehash,
        K + 1,
        f"previous record missing or reordered (prev_hash does not match record {K})",
    ),
    "forge-rehash-last": (forge_and_rehash_last, N, f"the chain head's hash does not match record {N}"),
    "insert-beyond-head": (
        insert_beyond_head,
        N + 1,
        f"record {N + 1} is beyond the chain head (head says {N})",
    ),
}


@pytest.mark.parametrize("tamper", TAMPERS)
def test_tampering_is_detected_at_the_first_bad_record(
    tamper: str, engine: Engine, sessions: sessionmaker[Session]
) -> None:
    build_chain(sessions, N)
    intact = verify(engine, page_size=PAGE)
    assert (intact.ok, intact.records_checked, intact.first_bad_id) == (True, N, None)

    change, bad_id, problem = TAMPERS[tamper]
    change(engine)
    report = verify(engine, page_size=PAGE)
    assert not report.ok
    assert (report.first_bad_id, report.problem) == (bad_id, problem)
    assert f"broken at record {bad_id}:" in report.summary()
    # the same answer through a caller's session, and with pages larger than the log
    with sessions() as session:
        assert verify(session) == report


def test_verify_of_an_empty_log_is_ok(engine: Engine) -> None:
    report = verify(engine)
    assert (report.ok, report.records_checked) == (True, 0)


def test_cli_verify_names_the_bad_record(
    tmp_path: Path, db_url: str, engine: Engine, sessions: sessionmaker[Session]
) -> None:
    build_chain(sessions, N)
    good = run_cli(tmp_path, "audit", "verify", MARKETINTEL_METADATA_URL=db_url)
    assert good.returncode == 0, good.stderr + good.stdout
    assert f"audit chain OK: {N} record(s) checked" in good.stdout

    edit_status(engine)
    bad = run_cli(tmp_path, "audit", "verify", MARKETINTEL_METADATA_URL=db_url)
    assert bad.returncode == 1, bad.stderr + bad.stdout
    assert f"audit chain broken at record {K}: content edited (hash mismatch)" in bad.stderr
