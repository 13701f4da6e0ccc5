"""Make the small pictures of docs/tour.md from the browser tour's screenshots.

The tour test (tests/browser/test_tour.py) saves full-size, full-page screenshots under
tests/artifacts/ as ``tour-<role>-<page>-<desktop|phone>.png``. docs/tour.md shows some of them as
``tour/<role>-<page>-<desktop|phone>.png``; this script makes exactly those: the top of the page
(a screen and a half), scaled down (640 px wide for a desktop, 300 for a phone) and reduced to 256
colours, so the committed folder stays small.

    .venv/bin/python -m pytest -q tests/browser/test_tour.py
    .venv/bin/python bench/tour_images.py            # writes docs/tour/*.png, prints the sizes
    .venv/bin/python bench/tour_images.py --check    # exit 1 if a picture the page names is missing

Nothing but local files is read or written.
"""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "tests" / "artifacts"
DOC = ROOT / "docs" / "tour.md"
OUT = ROOT / "docs" / "tour"

# The pictures docs/tour.md names, e.g. "tour/pv-cases-phone.png".
_PICTURE = re.compile(r"\btour/([a-z0-9-]+-(?:desktop|phone))\.png\b")


@dataclass(frozen=True)
class Size:
    width: int  # of the picture in the docs
    viewport: tuple[int, int]  # the browser window the tour used (width, height)


SIZES = {
    "desktop": Size(width=640, viewport=(1280, 800)),
    "phone": Size(width=300, viewport=(390, 844)),
}
# Keep the first screen and a half: a long list's hundredth row tells a reviewer nothing.
SCREENS = 1.5


def pictures_named(doc: Path = DOC) -> list[str]:
    """The picture names (without ``.png``) docs/tour.md shows, in order, without repeats."""
    return list(dict.fromkeys(_PICTURE.findall(doc.read_text(encoding="utf-8"))))


def shrink(source: Path, target: Path, size: Size) -> int:
    """Write the top of ``source``, scaled to ``size.width`` and 256 colours, to ``target``;
    return the bytes written."""
    with Image.open(source) as image:
        rgb = image.convert("RGB")
    # A screenshot is as wide as the window (the tour asserts no sideways scrolling), times the
    # device's pixel ratio.
    ratio = rgb.width / size.viewport[0]
    keep = round(size.viewport[1] * SCREENS * ratio)
    if rgb.height > keep:
        rgb = rgb.crop((0, 0, rgb.width, keep))
    height = round(rgb.height * size.width / rgb.width)
    small = rgb.resize((size.width, height), Image.Resampling.LANCZOS)
    small.quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(target, optimize=True)
    return target.stat().st_size


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only check the pictures exist")
    args = parser.parse_args(argv)

    names = pictures_named()
    if not names:
        print(f"{DOC.relative_to(ROOT)} names no tour/*.png picture", file=sys.stderr)
        return 1
    if args.check:
        missing = [name for name in names if not (OUT / f"{name}.png").is_file()]
        for name in missing:
            print(f"missing: docs/tour/{name}.png", file=sys.stderr)
        return 1 if missing else 0

    sources = {name: ARTIFACTS / f"tour-{name}.png" for name in names}
    absent = [path for path in sources.values() if not path.is_file()]
    if absent:
        for path in absent:
            print(f"no screenshot {path.relative_to(ROOT)}", file=sys.stderr)
        print(
            "run the tour first: .venv/bin/python -m pytest -q tests/browser/test_tour.py",
            file=sys.stderr,
        )
        return 1

    OUT.mkdir(parents=True, exist_ok=True)
    total = 0
    for name, source in sources.items():
        written = shrink(source, OUT / f"{name}.png", SIZES[name.rsplit("-", 1)[1]])
        total += written
        print(f"docs/tour/{name}.png  {written / 1024:6.1f} KiB")
    print(f"{len(sources)} pictures, {total / 1024 / 1024:.2f} MiB in docs/tour/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
