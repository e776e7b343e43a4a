"""The SDK's zip reading: every way a zip payload can be damaged is one ParseError naming the file."""

from __future__ import annotations

import io
import zipfile
from functools import partial

import pytest

from marketintel.connectors.models import ParseError
from marketintel.connectors.zipfiles import ZipPayload

fail = partial(ParseError, "test-source", "bundle.zip")
TEXT = b"node,price\n" + b"".join(b"N%04d,%d.5\n" % (n, n) for n in range(500))


def zipped(*members: tuple[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members:
            archive.writestr(name, data)
    return buffer.getvalue()


def test_names_in_archive_order_with_directories_and_members_read() -> None:
    archive = ZipPayload(zipped(("b.csv", b"1\n"), ("dir/", b""), ("a.csv", TEXT)), fail)
    assert archive.names == ["b.csv", "dir/", "a.csv"]
    assert archive.read("a.csv") == TEXT


@pytest.mark.parametrize(
    "content", [b"", b"not a zip", zipped(("a.csv", TEXT))[:200]], ids=["empty", "not a zip", "truncated"]
)
def test_an_unreadable_archive_is_a_parse_error(content: bytes) -> None:
    with pytest.raises(ParseError, match=r"^test-source: bundle\.zip: not a readable zip archive: "):
        ZipPayload(content, fail)


def test_damaged_member_data_is_a_parse_error_naming_the_member() -> None:
    content = bytearray(zipped(("a.csv", TEXT)))
    start = 30 + len("a.csv")  # the compressed data follows the local header and the name
    content[start + 2 : start + 22] = bytes(20)  # zlib cannot inflate this (zlib.error, not BadZipFile)
    archive = ZipPayload(bytes(content), fail)
    with pytest.raises(ParseError, match=r"not a readable zip archive: member 'a\.csv': ") as caught:
        archive.read("a.csv")
    assert caught.value.file == "bundle.zip"


def test_a_source_keeps_its_own_wording() -> None:
    with pytest.raises(ParseError, match=r"^test-source: bundle\.zip: corrupt ZIP archive: "):
        ZipPayload(b"PK\x03\x04 cut", fail, "corrupt ZIP archive")


def test_a_deflated_member_streams_in_pieces_and_is_complete_at_its_end() -> None:
    archive = ZipPayload(zipped(("a.csv", TEXT)), fail)
    stream = archive.stream("a.csv")
    assert stream is not None
    pieces = [stream.read(1000)]
    assert len(pieces[0]) == 1000
    assert not stream.complete  # not read to the end: nothing is known about the CRC yet
    pieces.extend(iter(lambda: stream.read(1000), b""))
    assert b"".join(pieces) == TEXT
    assert stream.complete


def test_a_stored_member_is_read_whole_not_streamed() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("a.csv", TEXT)
    archive = ZipPayload(buffer.getvalue(), fail)
    assert archive.stream("a.csv") is None
    assert archive.read("a.csv") == TEXT


def with_crc(content: bytes, crc: int) -> bytes:
    """The zip with the member's CRC-32 replaced, in its local header and in the central directory."""
    changed = bytearray(content)
    directory = changed.rindex(b"PK\x01\x02")
    for at in (14, directory + 16):
        changed[at : at + 4] = crc.to_bytes(4, "little")
    return bytes(changed)


def test_a_bad_crc_is_a_parse_error_naming_the_member_whether_read_or_streamed() -> None:
    archive = ZipPayload(with_crc(zipped(("a.csv", TEXT)), 1234), fail)
    with pytest.raises(ParseError, match=r"member 'a\.csv': Bad CRC-32 for file 'a\.csv'"):
        archive.read("a.csv")
    stream = archive.stream("a.csv")
    assert stream is not None
    with pytest.raises(zipfile.BadZipFile, match="Bad CRC-32"):
        stream.read()  # to the end, where the CRC is checked
    assert not stream.complete


def test_a_member_cut_short_is_a_parse_error() -> None:
    content = zipped(("a.csv", TEXT))
    info = zipfile.ZipFile(io.BytesIO(content)).getinfo("a.csv")
    start = 30 + len("a.csv")
    # half of the deflate stream, then the rest of the archive as it was: the stream has no end
    cut = content[: start + info.compress_size // 2] + bytes(info.compress_size - info.compress_size // 2)
    archive = ZipPayload(cut + content[start + info.compress_size :], fail)
    with pytest.raises(ParseError, match=r"not a readable zip archive: member 'a\.csv': "):
        archive.read("a.csv")
