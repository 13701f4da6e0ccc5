"""Markdown to sanitised HTML, and to plain text for the search index."""

from __future__ import annotations

import html
import re

import nh3
from markdown_it import MarkdownIt

# CommonMark with raw HTML switched off; nh3 then removes anything a renderer could still emit
# that is not on the list (scripts, event handlers, javascript: links, styles).
_markdown = MarkdownIt("commonmark", {"html": False, "linkify": False}).enable("table")

ALLOWED_TAGS = {
    "a", "abbr", "b", "blockquote", "br", "code", "em", "h1", "h2", "h3", "h4", "h5", "h6", "hr",
    "i", "li", "ol", "p", "pre", "strong", "sub", "sup", "table", "tbody", "td", "th", "thead",
    "tr", "ul", "img",
}  # fmt: skip
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "abbr": {"title"},
    "img": {"src", "alt", "title"},
}
# Table alignment travels as Bootstrap classes: inline styles are refused by the CSP anyway.
ALIGN_CLASSES = {"text-start", "text-center", "text-end"}
ALLOWED_CLASSES = {"td": ALIGN_CLASSES, "th": ALIGN_CLASSES}
_ALIGN = {"left": "text-start", "center": "text-center", "right": "text-end"}
URL_SCHEMES = {"http", "https", "mailto"}

_TAG = re.compile(r"<[^>]+>")
_SPACE = re.compile(r"\s+")


def sanitize_html(raw: str) -> str:
    """Keep only harmless markup: no script, no event handlers, no ``javascript:`` links."""
    return nh3.clean(
        raw,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=URL_SCHEMES,
        allowed_classes=ALLOWED_CLASSES,
        link_rel="noopener noreferrer nofollow",
        strip_comments=True,
    )


def render_markdown(source: str) -> str:
    tokens = _markdown.parse(source or "")
    for token in tokens:
        style = token.attrGet("style") if token.type in ("th_open", "td_open") else None
        if isinstance(style, str) and style.startswith("text-align:"):
            token.attrs.pop("style", None)
            token.attrSet("class", _ALIGN.get(style.split(":", 1)[1].strip(), "text-start"))
    return sanitize_html(_markdown.renderer.render(tokens, _markdown.options, {}))


def plain_text(safe_html: str) -> str:
    """The words of sanitised HTML, for indexing and summaries."""
    return _SPACE.sub(" ", html.unescape(_TAG.sub(" ", safe_html))).strip()
