"""Zip payloads (CAISO OASIS answers, ERCOT MIS documents, AEMO and NYISO bundles) read with one ParseError.

A zip can be broken in many ways — not a zip at all, cut short, a member whose compressed data or CRC is
wrong, a compression method or encryption Python cannot read — and `zipfile` answers each with a different
exception, some only when a member is read. A connector must quarantine all of them as a bad file, not crash
on the ones it did not think of, so they are caught here, once.

Deflated members (nearly all) are inflated with ISA-L (`isal`), three to four times faster than zlib; that
is most of the time it takes to open a day of CAISO nodal prices. `zipfile` still reads the directory and
every other kind of member. The CRC and size are checked as `zipfile` checks them.
"""

from __future__ import annotations

import io
import struct
import zipfile
import zlib

from isal import igzip_lib, isal_zlib

from marketintel.connectors.models import Fail

# BadZipFile: not a zip, truncated, bad CRC; zlib.error / IsalError: damaged deflate data; EOFError: a member
# cut short; RuntimeError: an encrypted member (NotImplementedError, its subclass: an unsupported compression)
ZIP_ERRORS = (
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    zlib.error,
    igzip_lib.IsalError,
    EOFError,
    RuntimeError,
)
LOCAL_HEADER = struct.Struct("<4s22xHH")  # signature ... file name length, extra field length (30 bytes)
# compressed input fed per inflate call: small enough that what the inflater keeps back is cheap to copy
INPUT_STEP = 1 << 20
MAX_DEFLATE_RATIO = 1032  # the most deflate can expand its input


class ZipPayload:
    """The members of a zip payload. `corrupt` starts the message of the ParseError for a damaged archive
    (each source keeps the wording its operators know, e.g. "corrupt ZIP archive")."""

    def __init__(self, content: bytes, fail: Fail, corrupt: str = "not a readable zip archive") -> None:
        self._content = content
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
            stream = self._stream(name)
            return self._archive.read(name) if stream is None else stream.read_all()
        except ZIP_ERRORS as exc:
            raise self._fail(f"{self._corrupt}: member {name!r}: {exc}") from None

    def stream(self, name: str) -> MemberStream | None:
        """A deflated member as a stream inflating as it is read (None for any other kind of member: read
        it whole). Its `read` raises the errors of ZIP_ERRORS; a reader stopping early never sees the CRC
        checked, so only `complete` says the bytes read are the member's."""
        try:
            return self._stream(name)
        except ZIP_ERRORS as exc:
            raise self._fail(f"{self._corrupt}: member {name!r}: {exc}") from None

    def _stream(self, name: str) -> MemberStream | None:
        info = self._archive.getinfo(name)
        if info.compress_type != zipfile.ZIP_DEFLATED or info.flag_bits & 0x1:
            return None  # stored, bzip2, lzma or encrypted: zipfile reads (or refuses) those
        start = info.header_offset
        header = self._content[start : start + LOCAL_HEADER.size]
        if len(header) != LOCAL_HEADER.size or header[:4] != b"PK\x03\x04":
            raise zipfile.BadZipFile("Bad magic number for file header")
        _, name_length, extra_length = LOCAL_HEADER.unpack(header)
        start += LOCAL_HEADER.size + name_length + extra_length
        data = memoryview(self._content)[start : start + info.compress_size]
        if len(data) != info.compress_size:
            raise EOFError("compressed data ended before the end-of-stream marker was reached")
        return MemberStream(info, data)


class MemberStream(io.RawIOBase):
    """One deflated member, inflated as it is read. A read returns at most the size asked for (less only at
    the end); the CRC and size are checked when the end of the deflate stream is reached."""

    PIECE = 1 << 22  # 4 MiB: pieces this size inflate (and are then parsed) while still in the CPU cache

    def __init__(self, info: zipfile.ZipInfo, data: memoryview) -> None:
        super().__init__()
        self._info = info
        self._data = data
        self._fed = 0
        self._inflater = igzip_lib.IgzipDecompressor(igzip_lib.DECOMP_DEFLATE)
        self._crc = 0
        self._size = 0
        self.complete = False  # the whole member was read and its CRC and size are right

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        want = self._info.file_size - self._size + 1 if size is None or size < 0 else size
        pieces = []
        while want > 0 and not self._inflater.eof:
            if self._inflater.needs_input:
                feed = self._data[self._fed : self._fed + INPUT_STEP]
                if not feed:
                    raise EOFError("compressed data ended before the end-of-stream marker was reached")
                self._fed += len(feed)
            else:
                feed = b""
            piece = self._inflater.decompress(feed, want)
            if piece:
                pieces.append(piece)
                want -= len(piece)
                self._crc = isal_zlib.crc32(piece, self._crc)
                self._size += len(piece)
        if self._inflater.eof and not self.complete:
            self._check()
        return pieces[0] if len(pieces) == 1 else b"".join(pieces)

    def read_all(self) -> bytes:
        """The whole member in one call (from the start only): one buffer, no pieces to join."""
        if self._fed:
            raise ValueError("read_all reads a member from its start")
        # sized from the directory, but never beyond what deflate can expand the bytes present to
        size = min(self._info.file_size, MAX_DEFLATE_RATIO * len(self._data)) or 1
        data = isal_zlib.decompress(self._data, -15, size)
        self._fed, self._size, self._crc = len(self._data), len(data), isal_zlib.crc32(data)
        self._check()
        return data

    def _check(self) -> None:
        # the messages zipfile gives for the same faults
        if self._size != self._info.file_size:
            raise zipfile.BadZipFile(
                f"File size in directory and inflated data differ for {self._info.filename!r}"
            )
        if self._crc != self._info.CRC:
            raise zipfile.BadZipFile(f"Bad CRC-32 for file {self._info.filename!r}")
        self.complete = True
