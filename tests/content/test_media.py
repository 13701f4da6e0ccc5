"""Media on the material page: the MP4 player's stream (Range requests, one view), the PDF
viewer's markup, and one thumbnail per material, as visible as the material itself."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from flask import Flask
from PIL import Image
from sqlalchemy import func, select

from content import demo_media, thumbnails
from content.models import EventKind, MaterialEvent, MaterialKind
from content.services import Upload
from portal.extensions import db
from tests.conftest import login
from tests.content.factories import make_material
from tests.factories import make_hcp

RED = (255, 0, 0)


def tiny_pdf(pages: int = 2, width: int = 200, height: int = 100) -> bytes:
    """A real PDF, written by hand: ``pages`` pages each filled with red."""
    content = f"1 0 0 rg 0 0 {width} {height} re f".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids ["
        + b" ".join(f"{4 + n} 0 R".encode() for n in range(pages))
        + f"] /Count {pages} >>".encode(),
        b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream",
    ]
    objects += [
        f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {width} {height}] /Contents 3 0 R >>".encode()
        for _ in range(pages)
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{offset:010d} 00000 n \n".encode() for offset in offsets)
    out += (
        f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    )
    return bytes(out)


def png(width: int, height: int, colour: tuple[int, int, int]) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(out, format="PNG")
    return out.getvalue()


def events(kind: EventKind) -> int:
    query = select(func.count()).select_from(MaterialEvent).where(MaterialEvent.kind == kind)
    return db.session.scalar(query) or 0


def close_to(pixel: tuple[int, ...], colour: tuple[int, int, int], tolerance: int = 24) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(pixel[:3], colour, strict=True))


def picture(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


@pytest.fixture
def video_bytes() -> bytes:
    data = demo_media.video_mp4("Starting a patient")
    assert data is not None, "PyAV with an H.264 or VP9 encoder is a dependency"
    return data


# --- the video stream --------------------------------------------------------------------------


def test_range_request_gets_206_with_those_bytes_and_records_no_second_view(client, video_bytes):
    material = make_material(
        kind=MaterialKind.VIDEO.value, upload=Upload(io.BytesIO(video_bytes), "intro.mp4")
    )
    login(client, make_hcp().email)

    assert client.get(f"/library/{material.id}").status_code == 200
    assert events(EventKind.VIEW) == 1

    response = client.get(f"/library/{material.id}/stream", headers={"Range": "bytes=100-299"})

    assert response.status_code == 206
    assert response.data == video_bytes[100:300]
    assert response.headers["Content-Range"] == f"bytes 100-299/{len(video_bytes)}"
    assert response.mimetype == "video/mp4"
    assert response.headers["Content-Disposition"] == "inline"
    # The player fetches in many pieces; only opening the page is a view, and none a download.
    client.get(f"/library/{material.id}/stream", headers={"Range": "bytes=0-"})
    assert events(EventKind.VIEW) == 1
    assert events(EventKind.DOWNLOAD) == 0


def test_whole_stream_says_it_accepts_ranges(client):
    data = tiny_pdf()
    material = make_material(upload=Upload(io.BytesIO(data), "deck.pdf"))
    login(client, make_hcp().email)

    response = client.get(f"/library/{material.id}/stream")

    assert response.status_code == 200
    assert response.data == data
    assert response.headers["Accept-Ranges"] == "bytes"
    assert response.headers["Cache-Control"] == "private, no-store"


def test_image_material_has_no_stream(client):
    material = make_material(upload=Upload(io.BytesIO(png(40, 20, RED)), "chart.png"))
    login(client, make_hcp().email)
    assert client.get(f"/library/{material.id}/stream").status_code == 404


# --- who may see the stream and the thumbnail ---------------------------------------------------


@pytest.mark.parametrize("path", ["stream", "thumbnail.png"])
def test_stream_and_thumbnail_of_a_material_for_another_country_are_404(app, client, path):
    material = make_material(countries=["DE"], upload=Upload(io.BytesIO(tiny_pdf()), "d.pdf"))
    audience = app.test_client()

    login(client, make_hcp(country="US").email)
    login(audience, make_hcp(country="DE").email)

    assert client.get(f"/library/{material.id}/{path}").status_code == 404
    assert audience.get(f"/library/{material.id}/{path}").status_code == 200


@pytest.mark.parametrize("state", ["draft", "withdrawn", "expired"])
@pytest.mark.parametrize("path", ["stream", "thumbnail.png"])
def test_stream_and_thumbnail_of_a_material_not_live_are_404_for_an_hcp(client, state, path):
    material = make_material(status=state, upload=Upload(io.BytesIO(tiny_pdf()), "d.pdf"))
    login(client, make_hcp().email)
    assert client.get(f"/library/{material.id}/{path}").status_code == 404


def test_thumbnail_needs_sign_in(client):
    material = make_material()
    response = client.get(f"/library/{material.id}/thumbnail.png")
    assert response.status_code == 302
    assert "/login" in response.headers["Location"]


# --- thumbnails ---------------------------------------------------------------------------------


def test_thumbnail_of_a_pdf_is_its_first_page_at_the_card_size(client):
    material = make_material(
        kind=MaterialKind.SLIDE_DECK.value, upload=Upload(io.BytesIO(tiny_pdf()), "deck.pdf")
    )
    login(client, make_hcp().email)

    response = client.get(f"/library/{material.id}/thumbnail.png")

    assert response.status_code == 200
    assert response.mimetype == "image/png"
    image = picture(response.data)
    assert image.format == "PNG"
    assert image.size == thumbnails.SIZE
    # The page is red all over: the render, not the generated card of a slide deck.
    assert close_to(image.convert("RGB").getpixel((160, 100)), RED)


def test_thumbnail_is_cacheable_privately_and_revalidates_with_its_etag(client):
    material = make_material(upload=Upload(io.BytesIO(tiny_pdf()), "deck.pdf"))
    login(client, make_hcp().email)

    first = client.get(f"/library/{material.id}/thumbnail.png")
    etag = first.headers["ETag"]
    again = client.get(f"/library/{material.id}/thumbnail.png", headers={"If-None-Match": etag})

    assert "private" in first.headers["Cache-Control"]
    assert "max-age" in first.headers["Cache-Control"]
    assert again.status_code == 304


def test_thumbnail_of_an_upload_is_made_once_at_upload(app, client, monkeypatch):
    material = make_material(upload=Upload(io.BytesIO(tiny_pdf()), "deck.pdf"))
    made = Path(app.instance_path) / "thumbnails" / f"file-{material.file_key}.png"
    assert made.exists()

    def must_not_render(*args: object) -> None:
        raise AssertionError("rendered again")

    monkeypatch.setattr(thumbnails, "_render_file", must_not_render)
    login(client, make_hcp().email)
    assert client.get(f"/library/{material.id}/thumbnail.png").status_code == 200
    assert client.get(f"/library/{material.id}/thumbnail.png").status_code == 200
    # Written through a temporary name and renamed: nothing half-written is left behind.
    assert sorted(p.name for p in made.parent.iterdir()) == [made.name]


def test_thumbnail_of_a_large_image_is_scaled_down_to_the_card_size(client):
    material = make_material(upload=Upload(io.BytesIO(png(2000, 1000, (0, 0, 255))), "x.png"))
    login(client, make_hcp().email)

    image = picture(client.get(f"/library/{material.id}/thumbnail.png").data)

    assert image.size == thumbnails.SIZE
    assert close_to(image.convert("RGB").getpixel((160, 100)), (0, 0, 255))


def test_thumbnail_of_a_video_is_a_frame_of_it(app, video_bytes):
    material = make_material(
        kind=MaterialKind.VIDEO.value, upload=Upload(io.BytesIO(video_bytes), "intro.mp4")
    )
    assert material.file_key is not None
    made = Path(app.instance_path) / "thumbnails" / f"file-{material.file_key}.png"

    assert made.exists()  # rendered from the clip at upload (a broken file is not)
    assert picture(made.read_bytes()).size == thumbnails.SIZE


def test_a_text_article_gets_a_generated_thumbnail_in_its_kind_colour(client):
    material = make_material(kind=MaterialKind.ARTICLE.value, title="Cardiovex at a glance")
    login(client, make_hcp().email)

    response = client.get(f"/library/{material.id}/thumbnail.png")

    assert response.status_code == 200
    image = picture(response.data).convert("RGB")
    assert image.size == thumbnails.SIZE
    colour = thumbnails.KIND_STYLES[MaterialKind.ARTICLE].colour
    assert image.getpixel((thumbnails.SIZE[0] - 4, thumbnails.SIZE[1] - 4)) == colour
    # The title is drawn on it: not a plain block of colour.
    assert len(image.getcolors(maxcolors=100_000) or []) > 2


def test_an_upload_that_cannot_be_rendered_gets_the_generated_card(client):
    broken = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << >>\n%%EOF\n"
    material = make_material(
        kind=MaterialKind.DOSING_GUIDE.value, upload=Upload(io.BytesIO(broken), "guide.pdf")
    )
    login(client, make_hcp().email)

    response = client.get(f"/library/{material.id}/thumbnail.png")

    assert response.status_code == 200
    image = picture(response.data).convert("RGB")
    colour = thumbnails.KIND_STYLES[MaterialKind.DOSING_GUIDE].colour
    assert image.getpixel((4, thumbnails.SIZE[1] - 4)) == colour


def test_a_new_title_gives_a_generated_thumbnail_a_new_url(app):
    material = make_material(status="draft", title="First title")
    before = thumbnails.token(material)
    material.title = "Second title"
    assert thumbnails.token(material) != before


# --- the material page --------------------------------------------------------------------------


def test_video_page_has_the_player_streaming_with_the_thumbnail_as_poster(client, video_bytes):
    material = make_material(
        kind=MaterialKind.VIDEO.value, upload=Upload(io.BytesIO(video_bytes), "intro.mp4")
    )
    login(client, make_hcp().email)

    html = client.get(f"/library/{material.id}").get_data(as_text=True)

    assert '<video class="material-video' in html
    assert 'controls preload="metadata"' in html
    assert f'src="/library/{material.id}/stream" type="video/mp4"' in html
    assert f'poster="/library/{material.id}/thumbnail.png?v={thumbnails.token(material)}"' in html
    assert "data-pdf-viewer" not in html


def test_pdf_page_has_the_viewer_its_module_script_and_a_download_link(client):
    material = make_material(
        kind=MaterialKind.SLIDE_DECK.value, upload=Upload(io.BytesIO(tiny_pdf()), "deck.pdf")
    )
    login(client, make_hcp().email)

    html = client.get(f"/library/{material.id}").get_data(as_text=True)

    assert "data-pdf-viewer" in html
    assert f'data-src="/library/{material.id}/stream"' in html
    assert 'data-worker="/static/vendor/pdfjs/pdf.worker.min.js"' in html
    assert '<script type="module" src="/static/js/pdf-viewer.js">' in html
    assert f'href="/library/{material.id}/download"' in html
    assert "<video" not in html


def test_article_page_has_neither_player_nor_viewer(client):
    material = make_material()
    login(client, make_hcp().email)

    html = client.get(f"/library/{material.id}").get_data(as_text=True)

    assert "<video" not in html and "data-pdf-viewer" not in html
    assert "pdf-viewer.js" not in html


def test_library_cards_show_a_lazy_thumbnail_with_size_and_alt_text(client):
    material = make_material(kind=MaterialKind.STUDY_SUMMARY.value)
    login(client, make_hcp().email)

    html = client.get("/library/").get_data(as_text=True)

    src = f'src="/library/{material.id}/thumbnail.png?v={thumbnails.token(material)}"'
    assert src in html
    tag = html[html.index(src) - 200 : html.index(src) + 200]
    assert 'width="160" height="100"' in tag
    assert 'loading="lazy"' in tag
    assert 'alt="Study summary preview"' in tag


def test_demo_files_are_a_valid_pdf_and_mp4(app: Flask) -> None:
    from content import files

    pdf = demo_media.slide_deck_pdf("Deck", ["One", "Two"])
    assert files.sniff(pdf) == "application/pdf"
    video = demo_media.video_mp4("Clip")
    assert video is not None and files.sniff(video) == "video/mp4"
