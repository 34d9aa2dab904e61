"""Content-addressed file store under ``var/files``: a blob's key is its SHA-512 (hex).

Writes go to a temporary file in the same directory, are fsynced and renamed into place, so a crash
never leaves a half-written blob under a valid key. The same content is stored once.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class StoredBlob:
    key: str
    sha512: str
    size: int


class FileStore:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def path(self, key: str) -> Path:
        if len(key) != 128 or any(c not in "0123456789abcdef" for c in key):
            raise ValueError("invalid storage key")
        return self.root / key[:2] / key[2:4] / key

    def exists(self, key: str) -> bool:
        try:
            return self.path(key).is_file()
        except ValueError:
            return False

    def put(self, data: bytes) -> StoredBlob:
        digest = hashlib.sha512(data).hexdigest()
        target = self.path(digest)
        if not target.is_file():
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
            try:
                with os.fdopen(fd, "wb") as fh:
                    fh.write(data)
                    fh.flush()
                    os.fsync(fh.fileno())
                os.replace(tmp, target)
                dir_fd = os.open(target.parent, os.O_RDONLY)
                try:
                    os.fsync(dir_fd)
                finally:
                    os.close(dir_fd)
            except BaseException:
                if os.path.exists(tmp):
                    os.unlink(tmp)
                raise
        return StoredBlob(key=digest, sha512=digest, size=len(data))

    def read(self, key: str) -> bytes:
        return self.path(key).read_bytes()
