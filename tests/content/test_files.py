"""Uploaded files: the type comes from the bytes, never the name; files are stored under a random
name; download names are safe in a header; downloads are recorded."""

from __future__ import annotations

import hashlib
import io
import re
import struct
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import func, select

from content import files, services
from content.models import EventKind, Material, MaterialEvent
from content.services import Upload
from portal.errors import InvalidInput, NotFound
from portal.extensions import db
from portal.models import Role
from tests.content.factories import make_author, make_material, material_input
from tests.factories import make_hcp, make_user

PDF = b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n"
PNG = (
    b"\x89PNG\r\n\x1a\n"
    + struct.pack(">I", 13)
    + b"IHDR"
    + struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    + b"\x90wS\xde"
    + b"\x00\x00\x00\x00IEND\xaeB`\x82"
)
JPEG = (
    b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    + bytes(64)
    + b"\xff\xd9"
)
MP4 = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + b"\x00\x00\x00\x08free"
ELF = b"\x7fELF\x02\x01\x01\x00" + bytes(56)
PE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + bytes(48) + b"PE\x00\x00"
HTML = b"<!DOCTYPE html><html><body><script>alert(document.cookie)</script></body></html>"
SVG = b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"></svg>'
JS = b"alert(document.cookie);\n"

KEY = re.compile(r"[0-9a-f]{40}")


def uploads(app: Flask) -> Path:
    return Path(app.instance_path) / "uploads"


def stored_files(app: Flask) -> list[Path]:
    folder = uploads(app)
    return sorted(folder.iterdir()) if folder.exists() else []


def count(model: type) -> int:
    return db.session.scalar(select(func.count()).select_from(model)) or 0


# --- accepted -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "name", "mime", "download_name"),
    [
        pytest.param(PDF, "Prescribing information.pdf", "application/pdf",
                     "Prescribing information.pdf", id="pdf"),
        pytest.param(PNG, "chart.png", "image/png", "chart.png", id="png"),
        pytest.param(JPEG, "photo.jpeg", "image/jpeg", "photo.jpg", id="jpeg"),
        pytest.param(MP4, "mode of action.mp4", "video/mp4", "mode of action.mp4", id="mp4"),
    ],
)  # fmt: skip
def test_real_files_are_accepted_and_stored_under_a_random_name(
    app, data, name, mime, download_name
):
    material = services.create_material(
        make_author(), material_input(), Upload(io.BytesIO(data), name)
    )

    db.session.expire_all()
    assert material.file_mime == mime
    assert material.file_size == len(data)
    assert material.file_sha256 == hashlib.sha256(data).hexdigest()
    assert material.file_name == download_name
    assert material.file_key is not None and KEY.fullmatch(material.file_key)
    [stored] = stored_files(app)
    assert stored.name == material.file_key
    assert stored.read_bytes() == data
    assert stored.parent == uploads(app)
    assert uploads(app).is_relative_to(Path(app.instance_path))


def test_the_original_name_never_reaches_the_disk(app):
    first = files.store_upload(io.BytesIO(PDF), "../../../etc/cron.d/evil.pdf")
    second = files.store_upload(io.BytesIO(PDF), "../../../etc/cron.d/evil.pdf")

    assert first.key != second.key
    assert [p.name for p in stored_files(app)] == sorted([first.key, second.key])
    assert not any("evil" in p.name for p in Path(app.instance_path).rglob("*"))


def test_file_type_is_sniffed_whatever_the_name_says(app):
    stored = files.store_upload(io.BytesIO(PNG), "actually-a-picture.pdf")

    assert stored.mime == "image/png"
    assert stored.name == "actually-a-picture.png"


# --- refused ------------------------------------------------------------------------------------

SPOOFED = [
    pytest.param(ELF, "guide.pdf", id="elf-named-pdf"),
    pytest.param(PE, "guide.pdf", id="windows-exe-named-pdf"),
    pytest.param(PE, "photo.jpg", id="windows-exe-named-jpg"),
    pytest.param(HTML, "guide.pdf", id="html-named-pdf"),
    pytest.param(b"<html>%PDF-1.4</html>", "guide.pdf", id="html-mentioning-pdf"),
    pytest.param(b"MZ" + PDF, "guide.pdf", id="exe-with-pdf-inside"),
    pytest.param(b" " + PDF, "guide.pdf", id="pdf-signature-not-at-start"),
    pytest.param(SVG, "chart.png", id="svg-named-png"),
    pytest.param(JS, "chart.png", id="javascript-named-png"),
    pytest.param(b"GIF89a" + bytes(32), "chart.png", id="gif-not-allowed"),
    pytest.param(b"PK\x03\x04" + bytes(40), "deck.pdf", id="zip-named-pdf"),
    pytest.param(b"plain words, nothing else", "notes.jpg", id="text-named-jpg"),
    pytest.param(b"\x00\x00\x00\x18moovmp42" + bytes(16), "video.mp4", id="mp4-without-ftyp"),
]


@pytest.mark.parametrize(("data", "name"), SPOOFED)
def test_content_that_is_not_an_allowed_type_is_refused_whatever_its_name(app, data, name):
    author = make_author()
    before = count(Material)

    with pytest.raises(InvalidInput) as caught:
        services.create_material(author, material_input(), Upload(io.BytesIO(data), name))

    assert caught.value.field == "file"
    assert count(Material) == before
    assert stored_files(app) == []


@pytest.mark.parametrize(("data", "name"), SPOOFED)
def test_sniffing_names_no_allowed_type_for_spoofed_content(data, name):
    assert files.sniff(data) is None


def test_empty_file_is_refused(app):
    with pytest.raises(InvalidInput) as caught:
        files.store_upload(io.BytesIO(b""), "empty.pdf")

    assert caught.value.field == "file"
    assert stored_files(app) == []


@pytest.mark.app_config(MAX_MATERIAL_BYTES=1000)
def test_file_over_the_size_limit_is_refused(app):
    too_big = PDF + b"%" * (1001 - len(PDF))

    with pytest.raises(InvalidInput) as caught:
        files.store_upload(io.BytesIO(too_big), "big.pdf")

    assert caught.value.field == "file"
    assert stored_files(app) == []


@pytest.mark.app_config(MAX_MATERIAL_BYTES=1000)
def test_file_of_exactly_the_size_limit_is_accepted(app):
    just_right = PDF + b"%" * (1000 - len(PDF))

    stored = files.store_upload(io.BytesIO(just_right), "fits.pdf")

    assert stored.size == 1000


@pytest.mark.app_config(MAX_MATERIAL_BYTES=1000)
def test_size_refusal_states_the_real_limit(app):
    with pytest.raises(InvalidInput) as caught:
        files.store_upload(io.BytesIO(PDF * 100), "big.pdf")

    assert "0 MB" not in caught.value.message


def test_material_with_a_refused_file_is_not_edited(app):
    author = make_author()
    material = make_material(author, status="draft", title="Kept")
    data = material_input(title="Changed", approval_code=material.approval_code)

    with pytest.raises(InvalidInput):
        services.update_material(author, material, data, Upload(io.BytesIO(ELF), "x.pdf"))

    db.session.rollback()
    db.session.refresh(material)
    assert material.title == "Kept"
    assert material.file_key is None


@pytest.mark.parametrize(
    "key", ["../../etc/passwd", "A" * 40, "0" * 39, "0" * 41, "", "0" * 40 + "/"]
)
def test_stored_file_paths_accept_only_random_keys(app, key):
    with pytest.raises(InvalidInput):
        files.path_of(key)


# --- download names -----------------------------------------------------------------------------

NAMES = [
    pytest.param("../../etc/passwd.pdf", "application/pdf", "passwd.pdf", id="unix-path"),
    pytest.param("/abs/path/guide.pdf", "application/pdf", "guide.pdf", id="absolute-path"),
    pytest.param("Étude clinique.pdf", "application/pdf", "Etude clinique.pdf", id="accents"),
    pytest.param("report.exe", "application/pdf", "report.pdf", id="wrong-extension"),
    pytest.param("photo.pdf", "image/png", "photo.png", id="extension-of-the-sniffed-type"),
    pytest.param("scan.JPEG", "image/jpeg", "scan.jpg", id="jpeg"),
    pytest.param("", "application/pdf", "material.pdf", id="no-name"),
    pytest.param("...", "video/mp4", "material.mp4", id="dots-only"),
    pytest.param("文件.pdf", "application/pdf", None, id="no-ascii-at-all"),
]


@pytest.mark.parametrize(("name", "mime", "expected"), NAMES)
def test_download_name_is_a_safe_ascii_name_with_the_sniffed_extension(name, mime, expected):
    result = files.safe_download_name(name, mime)

    if expected is not None:
        assert result == expected
    assert result.endswith(files.ALLOWED[mime])
    assert result.isascii()


HOSTILE_NAMES = [
    "..\\..\\windows\\system32\\evil.pdf",
    'report"; filename="evil.exe',
    "report'.pdf",
    "report\r\nSet-Cookie: session=stolen.pdf",
    "report\n.pdf",
    "guide\x00.exe.pdf",
    "guide.pdf\x00.exe",
    "a" * 300 + ".pdf",
    "%2e%2e%2fetc%2fpasswd.pdf",
    ".htaccess",
    "con:guide.pdf",
    "guide;.pdf",
    "\u202egpj.exe",  # right-to-left override: "exe.jpg" on screen
    "\uff46\uff55\uff4c\uff4c.pdf",
]


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_download_name_cannot_break_a_header_or_a_path(name):
    result = files.safe_download_name(name, "application/pdf")

    assert result.isascii()
    assert result.endswith(".pdf")
    assert not result.startswith(".")
    assert len(result) <= 84
    for forbidden in ("/", "\\", '"', "'", ";", ":", "\r", "\n", "\x00", "%", ".."):
        assert forbidden not in result, forbidden
    assert result[: -len(".pdf")].strip(" ._") == result[: -len(".pdf")]


# --- downloads ----------------------------------------------------------------------------------


def test_download_returns_the_file_and_records_the_event(app):
    material = make_material(upload=Upload(io.BytesIO(PDF), '../Étude "finale".pdf'))
    hcp = make_hcp()

    path, mime, name = services.open_download(hcp, material)

    assert Path(path).read_bytes() == PDF
    assert mime == "application/pdf"
    assert name == "Etude _finale.pdf"
    [event] = db.session.scalars(select(MaterialEvent))
    assert (event.kind, event.user_id, event.material_id, event.family_id) == (
        EventKind.DOWNLOAD,
        hcp.id,
        material.id,
        material.family_id,
    )
    assert services.dashboard(make_user(Role.COMPLIANCE)).downloads == {material.id: 1}


def test_new_version_keeps_the_file_of_the_approved_one(app):
    author = make_author()
    v1 = make_material(author, upload=Upload(io.BytesIO(PNG), "chart.png"))
    v2 = services.new_version(author, v1)

    assert (v2.file_key, v2.file_mime, v2.file_name) == (v1.file_key, "image/png", "chart.png")
    path, _, _ = services.open_download(make_user(Role.CONTENT_MANAGER), v2)
    assert Path(path).read_bytes() == PNG


def test_material_without_a_file_has_nothing_to_download(app):
    material = make_material()

    with pytest.raises(NotFound):
        services.open_download(make_hcp(), material)

    assert count(MaterialEvent) == 0


def test_missing_file_is_not_found_and_not_recorded(app):
    material = make_material(upload=Upload(io.BytesIO(PDF), "guide.pdf"))
    assert material.file_key is not None
    (uploads(app) / material.file_key).unlink()

    with pytest.raises(NotFound):
        services.open_download(make_hcp(), material)

    assert count(MaterialEvent) == 0
