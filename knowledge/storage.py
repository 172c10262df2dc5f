"""Uploaded files, kept outside the web root (KNOWLEDGE_FILES_DIR) under random names.

No URL maps to this folder: a stored file is only ever read back by the ingestion task.
"""

from __future__ import annotations

import os
import re
import secrets
from pathlib import Path

from django.conf import settings

_NAME = re.compile(r"^[0-9a-f]{32}$")


def _path(name: str) -> Path:
    if not _NAME.match(name):  # only names this module made: no path can be smuggled in
        raise ValueError(f"not a stored file name: {name!r}")
    return Path(settings.KNOWLEDGE_FILES_DIR) / name


def store_file(data: bytes) -> str:
    folder = Path(settings.KNOWLEDGE_FILES_DIR)
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    name = secrets.token_hex(16)
    fd = os.open(_path(name), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as file:
        file.write(data)
    return name


def read_file(name: str) -> bytes:
    return _path(name).read_bytes()


def delete_file(name: str) -> None:
    if name:
        _path(name).unlink(missing_ok=True)
