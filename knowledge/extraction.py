"""The text of an uploaded file. PDF and HTML are parsed in a child process under hard limits."""

from __future__ import annotations

import subprocess
import sys

from django.conf import settings

from knowledge.models import Kind

MEMORY_LIMIT_BYTES = 768 * 1024 * 1024
PARSED_KINDS = {Kind.PDF, Kind.HTML}


class ExtractionFailed(Exception):
    """The file could not be read. The message is for the person who uploaded it."""


def extract_text(data: bytes, kind: str) -> str:
    if kind in PARSED_KINDS:
        return _extract_in_child(data, kind)
    return data.decode("utf-8-sig").replace("\r\n", "\n")


def _extract_in_child(data: bytes, kind: str) -> str:
    timeout = settings.KNOWLEDGE_EXTRACT_TIMEOUT_SECONDS
    try:
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "knowledge.extract_worker",
                kind,
                str(MEMORY_LIMIT_BYTES),
                str(int(timeout) + 1),  # CPU seconds
            ],
            input=data,
            capture_output=True,
            timeout=timeout,
            cwd=settings.BASE_DIR,
        )
    except subprocess.TimeoutExpired:
        raise ExtractionFailed(
            f"Reading the file took longer than {timeout:g} s; it was not indexed."
        ) from None
    if done.returncode == 0:
        return done.stdout.decode("utf-8")
    reason = done.stderr.decode("utf-8", errors="replace").strip()
    if done.returncode == 3 and reason:
        raise ExtractionFailed(reason.splitlines()[-1])
    # Killed by a limit (CPU seconds, memory) or crashed: the file asked for too much.
    raise ExtractionFailed(
        "The file needs more memory or time to read than uploads are allowed; it was not indexed."
    )
