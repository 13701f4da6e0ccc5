"""Uploaded files: type checked from the bytes, stored under ``instance/`` with a random name."""

from __future__ import annotations

import dataclasses
import hashlib
import re
import secrets
import unicodedata
from pathlib import Path
from typing import BinaryIO

import puremagic
from flask import current_app

from portal.errors import InvalidInput

# What the bytes must be, and the names we give each kind on download.
ALLOWED = {
    "application/pdf": ".pdf",
    "image/png": ".png",
    "image/jpeg": ".jpg",
    "video/mp4": ".mp4",
}
_SIGNATURES = {
    "application/pdf": lambda head: head.startswith(b"%PDF-"),
    "image/png": lambda head: head.startswith(b"\x89PNG\r\n\x1a\n"),
    "image/jpeg": lambda head: head.startswith(b"\xff\xd8\xff"),
    "video/mp4": lambda head: head[4:8] == b"ftyp",
}
_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9._ -]+")


@dataclasses.dataclass(frozen=True)
class StoredFile:
    key: str
    name: str
    mime: str
    size: int
    sha256: str


def human_size(size: int) -> str:
    """``1536`` -> ``1.5 KB``; exact enough to tell a person what the limit is."""
    value = float(size)
    for unit in ("bytes", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{int(value)} bytes" if unit == "bytes" else f"{value:.3g} {unit}"
        value /= 1024
    return f"{size} bytes"


def upload_folder() -> Path:
    folder = Path(current_app.instance_path) / "uploads"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def safe_download_name(name: str, mime: str) -> str:
    """An ASCII file name that cannot break a header or pick another extension."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    stem = _UNSAFE_NAME.sub("_", Path(ascii_name).stem).strip(" ._") or "material"
    return stem[:80] + ALLOWED[mime]


def sniff(data: bytes) -> str | None:
    """The allowed type these bytes really are, or ``None``."""
    try:
        guessed = puremagic.from_string(data[:4096], mime=True)
    except (puremagic.PureError, ValueError):
        return None
    if guessed == "image/jpg":
        guessed = "image/jpeg"
    if guessed not in ALLOWED or not _SIGNATURES[guessed](data[:16]):
        return None
    return guessed


def store_upload(stream: BinaryIO, filename: str) -> StoredFile:
    """Check and store an upload.

    Raises :class:`InvalidInput` (field ``file``) for content that is not PDF, PNG, JPEG or MP4
    whatever its name says, for an empty file, and for one over ``MAX_MATERIAL_BYTES``.
    """
    limit = int(current_app.config["MAX_MATERIAL_BYTES"])
    data = stream.read(limit + 1)
    if not data:
        raise InvalidInput("The file is empty.", field="file")
    if len(data) > limit:
        raise InvalidInput(
            f"The file is larger than the {human_size(limit)} allowed.", field="file"
        )
    mime = sniff(data)
    if mime is None:
        raise InvalidInput(
            "Only PDF, PNG, JPEG and MP4 files are accepted, checked by their content.",
            field="file",
        )
    key = secrets.token_hex(20)
    (upload_folder() / key).write_bytes(data)
    return StoredFile(
        key=key,
        name=safe_download_name(filename or "material", mime),
        mime=mime,
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
    )


def path_of(key: str) -> Path:
    if not re.fullmatch(r"[0-9a-f]{40}", key):
        raise InvalidInput("Unknown file.")
    return upload_folder() / key
