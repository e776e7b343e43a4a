"""Checking presented API keys against the store, with the rows cached briefly and use recorded sparingly.

A key's row is cached for `cache_ttl` (a revocation made in this process applies at once; one made by
another process within `cache_ttl`). `last_used_at` is written at most once per key per
`last_used_resolution`, so a busy key does not write on every request.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from marketintel.auth.apikeys import (
    ApiKeyRecord,
    check_api_key,
    find_api_key,
    key_prefix,
    record_use,
    revoke_api_key,
)
from marketintel.auth.cache import TtlCache
from marketintel.auth.models import AuthenticationError, Principal

log = logging.getLogger(__name__)

CACHE_TTL = timedelta(seconds=5)
LAST_USED_RESOLUTION = timedelta(minutes=1)


class ApiKeyVerifier:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        cache_ttl: timedelta = CACHE_TTL,
        last_used_resolution: timedelta = LAST_USED_RESOLUTION,
    ) -> None:
        self._sessions = sessions
        self.last_used_resolution = last_used_resolution
        self._records: TtlCache[str, ApiKeyRecord] = TtlCache(cache_ttl)
        # key id → when this process last recorded its use
        self._recorded: TtlCache[int, datetime] = TtlCache(last_used_resolution)

    def _record(self, prefix: str, now: datetime) -> ApiKeyRecord:
        cached = self._records.get(prefix, now)
        if cached is not None:
            return cached
        with self._sessions() as session:
            found = find_api_key(session, prefix)
        if found is None:
            raise AuthenticationError("unknown API key")
        self._records.put(prefix, found, now)
        return found

    def _use_noted(self, record: ApiKeyRecord, now: datetime) -> bool:
        """Whether this use needs no `last_used_at` write (one was made within the resolution)."""
        last = record.last_used_at
        return self._recorded.get(record.id, now) is not None or (
            last is not None and last <= now < last + self.last_used_resolution
        )

    def _note_use(self, record: ApiKeyRecord, now: datetime) -> None:
        if self._use_noted(record, now):
            return
        self._recorded.put(record.id, now, now)
        try:
            with self._sessions() as session:
                record_use(session, record.id, now, self.last_used_resolution)
                session.commit()
        except SQLAlchemyError as exc:  # bookkeeping: a busy store must not refuse a valid key
            log.warning("could not record API key use", extra={"prefix": record.prefix, "error": str(exc)})

    def principal(self, presented: str, now: datetime) -> Principal:
        record = self._record(key_prefix(presented), now)
        check_api_key(record, presented, now)
        self._note_use(record, now)
        return record.principal()

    def cached_principal(self, presented: str, now: datetime) -> Principal | None:
        """`principal` when it needs no database (the key's row cached, its use recorded lately): the
        gateway answers those on its event loop. None when it would query or write, or would refuse:
        `principal` then does the work, and says why it refuses."""
        try:
            record = self._records.get(key_prefix(presented), now)
            if record is None or not self._use_noted(record, now):
                return None
            check_api_key(record, presented, now)
        except AuthenticationError:
            return None
        return record.principal()

    def revoke(self, prefix: str, now: datetime) -> ApiKeyRecord:
        """Revoke a key in the store and in this process's cache at once; the revoked key's record."""
        with self._sessions() as session:
            record = revoke_api_key(session, prefix, now)
            session.commit()
        self._records.pop(prefix)
        return record
