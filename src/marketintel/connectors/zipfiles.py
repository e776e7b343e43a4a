"""Zip payloads (CAISO OASIS answers, ERCOT MIS documents, AEMO and NYISO bundles) read with one ParseError.

A zip can be broken in many ways — not a zip at all, cut short, a member whose compressed data or CRC is
wrong, a compression method or encryption Python cannot read — and `zipfile` answers each with a different
exception, some only when a member is read. A connector must quarantine all of them as a bad file, not crash
on the ones it did not think of, so they are caught here, once.
"""

from __future__ import annotations

import io
import zipfile
import zlib

from marketintel.connectors.models import Fail

# BadZipFile: not a zip, truncated, bad CRC; zlib.error: damaged deflate data; EOFError: a member cut short;
# RuntimeError: an encrypted member (NotImplementedError, its subclass: an unsupported compression method)
ZIP_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, EOFError, RuntimeError)


class ZipPayload:
    """The members of a zip payload. `corrupt` starts the message of the ParseError for a damaged archive
    (each source keeps the wording its operators know, e.g. "corrupt ZIP archive")."""

    def __init__(self, content: bytes, fail: Fail, corrupt: str = "not a readable zip archive") -> None:
        self._fail = fail
        self._corrupt = corrupt
        try:
            self._archive = zipfile.ZipFile(io.BytesIO(content))
        except ZIP_ERRORS as exc:
            raise fail(f"{corrupt}: {exc}") from None
        # every entry, directories ("name/") included, in archive order, as zipfile.namelist() lists them
        self.names: list[str] = self._archive.namelist()

    def read(self, name: str) -> bytes:
        """The uncompressed bytes of one member; ParseError naming it if its data is damaged."""
        try:
            return self._archive.read(name)
        except ZIP_ERRORS as exc:
            raise self._fail(f"{self._corrupt}: member {name!r}: {exc}") from None
