"""Keys and bytes on a local directory (`file://`) or S3 (`s3://`, needs s3fs), behind one small class."""

from __future__ import annotations

import uuid

import fsspec
from fsspec import AbstractFileSystem

from marketintel.config import url_path


class ObjectStore:
    def __init__(self, url: str) -> None:
        self.url = url
        if url.startswith("file:"):
            root = url_path(url)
            root.mkdir(parents=True, exist_ok=True)
            self.fs: AbstractFileSystem = fsspec.filesystem("file")
            self.root = str(root)
        else:
            self.fs, self.root = fsspec.core.url_to_fs(url)

    def _path(self, key: str) -> str:
        if key.startswith("/") or ".." in key.split("/"):
            raise ValueError(f"object key {key!r} must be relative and stay inside the store")
        return f"{self.root.rstrip('/')}/{key}"

    def put(self, key: str, data: bytes) -> None:
        """Write `data` at `key` so a reader never sees half a file (temp object, then rename)."""
        path = self._path(key)
        parent = path.rsplit("/", 1)[0]
        self.fs.makedirs(parent, exist_ok=True)
        temporary = f"{parent}/.{uuid.uuid4().hex}.part"
        with self.fs.open(temporary, "wb") as sink:
            sink.write(data)
        self.fs.mv(temporary, path)

    def get(self, key: str) -> bytes:
        with self.fs.open(self._path(key), "rb") as source:
            data: bytes = source.read()
        return data

    def exists(self, key: str) -> bool:
        return bool(self.fs.exists(self._path(key)))

    def move(self, source: str, destination: str) -> None:
        target = self._path(destination)
        self.fs.makedirs(target.rsplit("/", 1)[0], exist_ok=True)
        self.fs.mv(self._path(source), target)

    def keys(self, prefix: str = "") -> list[str]:
        """Every key under `prefix`, sorted."""
        base = self.root.rstrip("/")
        found = self.fs.find(self._path(prefix) if prefix else base)
        return sorted(p[len(base) + 1 :] for p in found if not p.rsplit("/", 1)[-1].startswith("."))
