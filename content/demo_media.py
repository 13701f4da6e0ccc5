"""Small real files for the demo library, drawn at seed time (nothing is downloaded): a few-page
PDF slide deck (Pillow) and a two-second MP4 clip (PyAV), so `make run` shows the PDF viewer
and the video player."""

from __future__ import annotations

import io
import textwrap

from PIL import Image, ImageDraw, ImageFont

SLIDE = (960, 540)
VIDEO = (320, 180)
VIDEO_FPS = 12
VIDEO_SECONDS = 2
# H.264 plays in every browser; VP9 in MP4 is the fallback where the encoder lacks x264.
VIDEO_CODECS = ("libx264", "libvpx-vp9")


def _slide(lines: list[str], *, page: int, pages: int, colour: tuple[int, int, int]) -> Image.Image:
    image = Image.new("RGB", SLIDE, (255, 255, 255))
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 0, SLIDE[0], 90), fill=colour)
    heading = ImageFont.load_default(size=38)
    body = ImageFont.load_default(size=28)
    small = ImageFont.load_default(size=18)
    draw.text((40, 24), lines[0], font=heading, fill=(255, 255, 255))
    y = 140
    for line in lines[1:]:
        for wrapped in textwrap.wrap(line, width=58):
            draw.text((60, y), wrapped, font=body, fill=(33, 37, 41))
            y += 42
        y += 12
    draw.text((40, SLIDE[1] - 40), f"Slide {page} of {pages}", font=small, fill=(108, 117, 125))
    return image


def slide_deck_pdf(title: str, points: list[str]) -> bytes:
    """A PDF of a title slide and one slide per point, landscape 16:9."""
    colour = (138, 90, 0)
    slides = [[title, "Approved for scientific exchange", "Demo material"]]
    slides += [[f"Key point {n}", point] for n, point in enumerate(points, start=1)]
    images = [
        _slide(lines, page=n, pages=len(slides), colour=colour)
        for n, lines in enumerate(slides, start=1)
    ]
    out = io.BytesIO()
    images[0].save(out, format="PDF", save_all=True, append_images=images[1:], resolution=96)
    return out.getvalue()


def _frame(title: str, index: int, frames: int) -> Image.Image:
    image = Image.new("RGB", VIDEO, (176, 42, 55))
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=16)
    for n, line in enumerate(textwrap.wrap(title, width=26, max_lines=3, placeholder=" …")):
        draw.text((40, 24 + n * 22), line, font=font, fill=(255, 255, 255))
    # A bar sweeping across, so the clip visibly plays.
    x = int((VIDEO[0] - 40) * index / max(frames - 1, 1))
    draw.rectangle((x, VIDEO[1] - 40, x + 40, VIDEO[1] - 20), fill=(255, 255, 255))
    return image


def video_mp4(title: str) -> bytes | None:
    """A short silent MP4 clip, or ``None`` if PyAV (or a usable encoder) is not installed."""
    try:
        import av
    except ImportError:
        return None
    frames = VIDEO_FPS * VIDEO_SECONDS
    for codec in VIDEO_CODECS:
        out = io.BytesIO()
        try:
            with av.open(out, mode="w", format="mp4") as container:
                stream = container.add_stream(codec, rate=VIDEO_FPS)
                assert isinstance(stream, av.VideoStream)
                stream.width, stream.height = VIDEO
                stream.pix_fmt = "yuv420p"
                for index in range(frames):
                    picture = av.VideoFrame.from_image(_frame(title, index, frames))
                    for packet in stream.encode(picture):
                        container.mux(packet)
                for packet in stream.encode():
                    container.mux(packet)
        except (av.FFmpegError, ValueError):
            continue
        return out.getvalue()
    return None
