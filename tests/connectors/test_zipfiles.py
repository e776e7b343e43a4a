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
