"""The hostile-input corpus, and how to find the forms it goes through.

Every string carries a marker so that a page echoing it can be searched for the raw markup; the
numbers are the edges of the integer types (SQLite and PostgreSQL store at most 2^63-1).
"""

from __future__ import annotations

from html.parser import HTMLParser
from typing import Any
from urllib.parse import quote, quote_from_bytes, urlsplit

MARK = "zq7x"  # unlikely in any page of the portal; every markup payload carries it

XSS = [
    f"<script>alert('{MARK}1')</script>",
    f'"><img src=x onerror=alert("{MARK}2")>',
    f"<svg onload=alert('{MARK}3')><circle r=1></svg>",
    f"javascript:alert('{MARK}4')",
    f"<a href=\"javascript:alert('{MARK}5')\">click</a>",
    f"</textarea><script>alert('{MARK}6')</script>",
    f"{{{{7*7}}}}{MARK}7 {{% raw %}}",
]
# Raw markup that must never appear unescaped in a page (javascript: alone is harmless as text).
MARKUP = [p for p in XSS if "<" in p]

# SQL and path traversal in one string each: the form must store or refuse them, never run them.
SQL_AND_TRAVERSAL = [
    "' OR '1'='1' -- ../../../../etc/passwd",
    "1; DROP TABLE users; -- %2e%2e%2f%2e%2e%2fetc/passwd ' UNION SELECT password_hash FROM users",
]
UNICODE = ["\ud800", "a\udfffb", "\x00nul", "\u202eevil e\u0301\u200b"]
NUMBERS = [str(2**63), str(10**30), "-1", "0", "1e309"]
HUGE_IDS = [2**63, 2**64, 10**30]
LONG = "A" * 70_000  # over any field's limit and Werkzeug's default form memory

TEXT_PAYLOADS: list[str] = [*XSS, *SQL_AND_TRAVERSAL, *UNICODE, *NUMBERS, LONG]
# What PostgreSQL may take differently from SQLite (NUL bytes, integer ranges, encodings,
# lengths): the subset the PostgreSQL run sends; the rest is engine-independent.
ENGINE_SENSITIVE: list[str] = [XSS[0], *UNICODE, *NUMBERS, LONG]

# Bodies that are not valid form encoding: raw invalid UTF-8, a percent-encoded one.
RAW_BODIES: list[bytes] = [
    b"text=\xff\xfe\xfd&body=\xc3\x28&name=\xed\xa0\x80",
    b"text=%FF%FE%ED%A0%80&body=%C0%AF",
    b"\x00\x01\x02=\xff",
]

# Socket values put in place of each field of each event.
SOCKET_VALUES: list[Any] = [
    2**63,
    10**30,
    -1,
    0,
    "1",
    True,
    None,
    [1, 2],
    {"$gt": ""},
    "\ud800",
    f"<script>alert('{MARK}9')</script>",
    1.5,
    "x" * 1_048_576,  # one megabyte
]


def form_body(fields: list[str], payload: str) -> bytes:
    """A form body giving ``payload`` to every field, encoded as a client would send it; a lone
    surrogate goes as the bytes a careless encoder produces (CESU-8), which is not UTF-8."""
    value = quote_from_bytes(payload.encode("utf-8", "surrogatepass"))
    return "&".join(f"{quote(field)}={value}" for field in fields).encode("ascii")


class _Forms(HTMLParser):
    """The POST forms of a page: ``{action path: [field names]}``."""

    def __init__(self, page_path: str) -> None:
        super().__init__()
        self.page_path = page_path
        self.forms: dict[str, list[str]] = {}
        self._current: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "form":
            if (values.get("method") or "get").lower() == "post":
                action = urlsplit(values.get("action") or self.page_path).path or self.page_path
                self._current = self.forms.setdefault(action, [])
            else:
                self._current = None
        elif tag in ("input", "textarea", "select") and self._current is not None:
            name = values.get("name")
            kind = (values.get("type") or "").lower()
            wanted = name and name != "csrf_token" and kind not in ("submit", "file")
            if wanted and name not in self._current:
                self._current.append(str(name))

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._current = None


def forms_of(page_path: str, html: str) -> dict[str, list[str]]:
    parser = _Forms(page_path)
    parser.feed(html)
    return parser.forms
