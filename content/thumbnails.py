"""One small picture per material, made once and kept on disk beside the uploads.

A material with a file gets a picture of it: the first page of a PDF (pypdfium2), the image itself
scaled down (Pillow), or a frame near the start of a video (PyAV). A material without a file, or
one whose file cannot be rendered, gets a generated card: the colour and icon of its kind and the
start of its title. Every thumbnail is a PNG of exactly :data:`SIZE`, so cards never reflow.

Pictures of files are named after the file's key (made at upload, see :func:`make_for_file`);
generated ones after a hash of what they show, so a changed title gets a new picture. Several
server processes share the thumbnails folder (``instance/thumbnails``, beside the uploads): each
writes to a temporary name and renames it into place, which is atomic, so a reader sees the whole
picture or none.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
import tempfile
import textwrap
from pathlib import Path

from flask import current_app
from PIL import Image, ImageDraw, ImageFont, ImageOps

from content import files
from content.models import Material, MaterialKind

log = logging.getLogger(__name__)

SIZE = (320, 200)
# Bump when the drawing changes, so that cached generated pictures are made again.
GENERATOR_VERSION = "1"
VIDEO_FRAME_SECONDS = 1.0  # past a fade-in from black, within even the shortest clip


@dataclasses.dataclass(frozen=True)
class KindStyle:
    colour: tuple[int, int, int]
    icon: int  # a code point of the Bootstrap Icons font


KIND_STYLES = {
    MaterialKind.ARTICLE: KindStyle((11, 79, 108), 0xF38B),  # file-earmark-text
    MaterialKind.STUDY_SUMMARY: KindStyle((27, 127, 91), 0xF730),  # clipboard2-pulse
    MaterialKind.DOSING_GUIDE: KindStyle((111, 66, 193), 0xF7DF),  # capsule
    MaterialKind.SLIDE_DECK: KindStyle((138, 90, 0), 0xF310),  # easel
    MaterialKind.VIDEO: KindStyle((176, 42, 55), 0xF4F1),  # play-btn
    MaterialKind.PATIENT_LEAFLET: KindStyle((13, 110, 253), 0xF379),  # file-earmark-person
}


def folder() -> Path:
    """``instance/thumbnails``: beside the uploads, shared by every server process like them."""
    path = Path(current_app.instance_path) / "thumbnails"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _generated_name(material: Material) -> str:
    digest = hashlib.sha256(
        f"{GENERATOR_VERSION}|{material.kind.value}|{material.title}".encode()
    ).hexdigest()
    return f"kind-{digest[:32]}.png"


def name_for(material: Material) -> str:
    """The file name of ``material``'s thumbnail: it changes whenever the picture would, so it
    doubles as the ETag and as the cache-busting token in thumbnail URLs."""
    if material.file_key and material.file_mime:
        return f"file-{material.file_key}.png"
    return _generated_name(material)


def token(material: Material) -> str:
    """A short token naming this version of the picture (for URLs and ETags)."""
    return hashlib.sha256(name_for(material).encode()).hexdigest()[:16]


def _write_atomically(target: Path, image: Image.Image) -> None:
    # Same folder as the target, so the rename never crosses file systems.
    handle, temp_name = tempfile.mkstemp(dir=target.parent, prefix=".tmp-", suffix=".png")
    try:
        with os.fdopen(handle, "wb") as out:
            image.save(out, format="PNG", optimize=True)
        os.replace(temp_name, target)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise


def _fit(image: Image.Image) -> Image.Image:
    """``image`` at exactly :data:`SIZE`. A tall picture (a portrait page) is cropped to its top,
    where its title is; a wide one (a slide, a video frame) is shown whole on a neutral band, so
    no words are cut off at its sides."""
    image = ImageOps.exif_transpose(image).convert("RGB")
    if image.width * SIZE[1] > image.height * SIZE[0]:
        return ImageOps.pad(image, SIZE, Image.Resampling.LANCZOS, color=(233, 236, 239))
    return ImageOps.fit(image, SIZE, Image.Resampling.LANCZOS, centering=(0.5, 0.0))


def _render_pdf(path: Path) -> Image.Image:
    import pypdfium2 as pdfium

    document = pdfium.PdfDocument(str(path))
    try:
        page = document[0]
        width = page.get_width() or 1.0
        # Render just wide enough for the thumbnail: never a huge bitmap for a poster-sized page.
        scale = min(SIZE[0] / width, 4.0)
        bitmap = page.render(scale=scale, fill_color=(255, 255, 255, 255))
        image = bitmap.to_pil()
        page.close()
    finally:
        document.close()
    return image


def _render_image(path: Path) -> Image.Image:
    with Image.open(path) as image:
        image.draft("RGB", (SIZE[0] * 2, SIZE[1] * 2))  # JPEG: decode at a reduced scale
        image.load()
        return image.copy()


def _render_video(path: Path) -> Image.Image:
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        first: Image.Image | None = None
        for frame in container.decode(stream):
            picture = frame.to_image()
            first = first or picture
            if frame.time is None or frame.time >= VIDEO_FRAME_SECONDS:
                return picture
        if first is None:
            raise ValueError("the video has no frames")
        return first


_RENDERERS = {
    "application/pdf": _render_pdf,
    "image/png": _render_image,
    "image/jpeg": _render_image,
    "video/mp4": _render_video,
}


def _icon_font(size: int) -> ImageFont.FreeTypeFont | None:
    font_path = Path(current_app.static_folder or "") / "vendor/bootstrap-icons/fonts"
    for name in ("bootstrap-icons.woff2", "bootstrap-icons.woff"):
        if (font_path / name).exists():
            try:
                return ImageFont.truetype(str(font_path / name), size)
            except OSError:
                continue
    return None


def generated(kind: MaterialKind, title: str) -> Image.Image:
    """A card for a material without a picture of its own: kind colour, icon and title."""
    style = KIND_STYLES[kind]
    image = Image.new("RGB", SIZE, style.colour)
    draw = ImageDraw.Draw(image)
    icon_font = _icon_font(56)
    if icon_font is not None:
        draw.text((20, 18), chr(style.icon), font=icon_font, fill=(255, 255, 255))
    label_font = ImageFont.load_default(size=15)
    draw.text((92, 30), kind.label.upper(), font=label_font, fill=(255, 255, 255, 200))
    title_font = ImageFont.load_default(size=20)
    lines = textwrap.wrap(title, width=26, max_lines=3, placeholder=" …") or [kind.label]
    y = 92
    for line in lines:
        draw.text((20, y), line, font=title_font, fill=(255, 255, 255))
        y += 26
    return image


def _render_file(key: str, mime: str) -> Image.Image | None:
    renderer = _RENDERERS.get(mime)
    path = files.path_of(key)
    if renderer is None or not path.exists():
        return None
    try:
        return _fit(renderer(path))
    except Exception:
        # A file that passed the type check but cannot be rendered (truncated, encrypted, a
        # codec we lack, a decompression bomb) still gets a card; log it for the content team.
        log.warning("Could not render a thumbnail of file %s (%s)", key, mime, exc_info=True)
        return None


def make_for_file(key: str, mime: str) -> Path | None:
    """Render and store the thumbnail of an uploaded file, once. ``None`` if it cannot be
    rendered (the material then shows its generated card)."""
    target = folder() / f"file-{key}.png"
    if target.exists():
        return target
    image = _render_file(key, mime)
    if image is None:
        return None
    _write_atomically(target, image)
    return target


def ensure(material: Material) -> Path:
    """The path of ``material``'s thumbnail, made now if it is not on disk yet. Two processes
    asked at the same moment may both draw it; the rename keeps either result whole."""
    target = folder() / name_for(material)
    if target.exists():
        return target
    if material.file_key and material.file_mime:
        made = make_for_file(material.file_key, material.file_mime)
        if made is not None:
            return made
        # Unrenderable file: keep a generated card under the file's name so we do not retry the
        # failing render on every request.
    _write_atomically(target, generated(material.kind, material.title))
    return target
