"""Markdown to HTML that is safe to show HCPs: hostile input comes out inert, ordinary Markdown
comes out intact.

The checks parse the output rather than grep it: a payload the renderer turned into *text*
(``&lt;img onerror=...&gt;``, or a refused link left as ``[x](javascript:...)``) is harmless
and must not fail the test, while any element, attribute or URL that a browser would act on must.
"""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser

import pytest

from content.rendering import ALLOWED_TAGS, plain_text, render_markdown, sanitize_html

SAFE_SCHEMES = {"http", "https", "mailto"}
URL_ATTRIBUTES = {
    "href",
    "src",
    "action",
    "formaction",
    "data",
    "background",
    "poster",
    "xlink:href",
}
_SCHEME = re.compile(r"^([a-z][a-z0-9+.\-]*):")
_IGNORED_IN_URLS = re.compile(r"[\x00-\x20\x7f]+")


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, list[tuple[str, str | None]]]] = []
        self.comments: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, attrs))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, attrs))

    def handle_comment(self, data: str) -> None:
        self.comments.append(data)


def scheme_of(url: str) -> str | None:
    # Browsers drop whitespace and control characters inside a URL's scheme ("java\tscript:").
    cleaned = _IGNORED_IN_URLS.sub("", html.unescape(url)).lower()
    found = _SCHEME.match(cleaned)
    return found.group(1) if found else None


def dangers(output: str) -> list[str]:
    """Everything in ``output`` a browser would run, load from a hostile scheme, or style."""
    collector = _Collector()
    collector.feed(output)
    collector.close()
    problems: list[str] = []
    for tag, attrs in collector.elements:
        if tag not in ALLOWED_TAGS:
            problems.append(f"element <{tag}>")
        for name, value in attrs:
            if name.startswith("on"):
                problems.append(f"event handler {name} on <{tag}>")
            if name in ("style", "srcdoc", "srcset"):
                problems.append(f"{name} attribute on <{tag}>")
            if name in URL_ATTRIBUTES and value is not None:
                scheme = scheme_of(value)
                if scheme is not None and scheme not in SAFE_SCHEMES:
                    problems.append(f"{scheme}: URL in {name} of <{tag}>")
    if collector.comments:
        problems.append("HTML comment")
    lowered = output.lower()
    for opening in ("<script", "<iframe", "<svg", "<style", "<object", "<embed", "<math"):
        if opening in lowered:
            problems.append(f"raw {opening}")
    return problems


XSS = [
    "<script>alert(1)</script>",
    "<SCRIPT SRC=//evil.test/x.js></SCRIPT>",
    "<scr<script>ipt>alert(1)</scr</script>ipt>",
    "<img src=x onerror=alert(1)>",
    '<IMG SRC="jav&#x09;ascript:alert(1)">',
    "<svg onload=alert(1)>",
    "<svg><script>alert(1)</script></svg>",
    "<svg><a xlink:href='javascript:alert(1)'><text>x</text></a></svg>",
    '<iframe src="javascript:alert(1)"></iframe>',
    '<iframe srcdoc="<script>alert(1)</script>"></iframe>',
    '<a href="javascript:alert(1)">x</a>',
    '<a href="&#x6A;avascript:alert(1)">x</a>',
    '<a href="  JaVaScRiPt:alert(1)">x</a>',
    '<div style="background:url(javascript:alert(1))">x</div>',
    '<p style="width:expression(alert(1))">x</p>',
    "<body onload=alert(1)>",
    "<details open ontoggle=alert(1)>",
    "<input autofocus onfocus=alert(1)>",
    "<form action=javascript:alert(1)><button>go</button></form>",
    '<button formaction="javascript:alert(1)">go</button>',
    '<object data="javascript:alert(1)"></object>',
    "<embed src=javascript:alert(1)>",
    '<meta http-equiv="refresh" content="0;url=javascript:alert(1)">',
    '<base href="javascript:/">',
    "<link rel=stylesheet href=//evil.test/x.css>",
    "<style>@import 'https://evil.test/x.css';</style>",
    "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
    "<!--><script>alert(1)</script>-->",
    "<!-- --!><img src=x onerror=alert(1)> -->",
    "<![CDATA[<script>alert(1)</script>]]>",
    "<div>\n<script>alert(1)</script>\n</div>",
    "**<img src=x onerror=alert(1)>**",
    "[x](javascript:alert(1))",
    "[x](JaVaScRiPt:alert(1))",
    "[x](&#106;avascript:alert(1))",
    "[x](&#x6A;avascript:alert(1))",
    "[x](java&#09;script:alert(1))",
    "[x](<javascript:alert(1)>)",
    "[x]( javascript:alert(1))",
    "[x](\u200bjavascript:alert(1))",
    "[x](vbscript:msgbox(1))",
    "[x](file:///etc/passwd)",
    "[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "![x](data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9YWxlcnQoMSk+)",
    "![x](data:image/png;base64,iVBORw0KGgo=)",
    "![x](javascript:alert(1))",
    '![x](https://example.com/a.png"onerror="alert(1))',
    '[x](https://example.com "a\\" onmouseover=\\"alert(1)")',
    "[x](https://example.com 'a' onmouseover='alert(1)')",
    "[x][ref]\n\n[ref]: javascript:alert(1)",
    '[x][ref]\n\n[ref]: https://example.com "t" onclick="alert(1)"',
    "<javascript:alert(1)>",
    '<https://example.com/"onmouseover="alert(1)>',
    "[x](https://example.com)<img src=x onerror=alert(1)>",
    "`<script>alert(1)</script>`",
    "```html\n<script>alert(1)</script>\n```",
    "    <script>alert(1)</script>",
    "| a |\n|---|\n| <img src=x onerror=alert(1)> |",
    "[<img src=x onerror=alert(1)>](https://example.com)",
    "![<svg onload=alert(1)>](https://example.com/a.png)",
]


@pytest.mark.parametrize("payload", XSS)
def test_markdown_payload_comes_out_inert(payload):
    output = render_markdown(payload)

    assert dangers(output) == []


@pytest.mark.parametrize("payload", XSS)
def test_sanitizer_makes_raw_html_payload_inert(payload):
    # Defence in depth: were raw HTML ever let through the Markdown step, nh3 still holds.
    output = sanitize_html(payload)

    assert dangers(output) == []


def test_the_checker_catches_what_it_should():
    # A checker that finds nothing would make every test above pass.
    assert dangers('<a href="javascript:alert(1)">x</a>')
    assert dangers('<a href="java&#09;script:alert(1)">x</a>')
    assert dangers('<img src="data:image/png;base64,AAAA">')
    assert dangers('<p onclick="x()">x</p>')
    assert dangers('<p style="color:red">x</p>')
    assert dangers("<svg></svg>")
    assert dangers("<!-- x -->")
    assert dangers("<script>x</script>")
    assert not dangers("<p>&lt;script&gt; onerror= javascript:</p>")
    assert not dangers('<a href="https://example.com" title="a&quot; onclick=&quot;x">y</a>')


def test_escaped_payload_is_shown_as_text():
    output = render_markdown("Never <script>alert(1)</script> here.")

    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in output
    assert plain_text(output) == "Never <script>alert(1)</script> here."


def test_links_carry_no_referrer_and_no_follow():
    output = render_markdown("[Prescribing information](https://example.com/pi.pdf)")

    assert output == (
        '<p><a href="https://example.com/pi.pdf" rel="noopener noreferrer nofollow">'
        "Prescribing information</a></p>\n"
    )


def test_link_title_cannot_break_out_of_its_attribute():
    output = render_markdown('[x](https://example.com "a\\" onmouseover=\\"alert(1)")')

    collector = _Collector()
    collector.feed(output)
    [attrs] = [attrs for tag, attrs in collector.elements if tag == "a"]
    assert dict(attrs) == {
        "href": "https://example.com",
        "title": 'a" onmouseover="alert(1)',
        "rel": "noopener noreferrer nofollow",
    }


# --- ordinary Markdown survives -----------------------------------------------------------------

ORDINARY = [
    pytest.param("# Dosing\n\n## Adults", ["<h1>Dosing</h1>", "<h2>Adults</h2>"], id="headings"),
    pytest.param(
        "- once daily\n- with food", ["<ul>", "<li>once daily</li>", "<li>with food</li>"],
        id="bullets",
    ),
    pytest.param("1. first\n2. second", ["<ol>", "<li>first</li>", "<li>second</li>"], id="steps"),
    pytest.param(
        "| Dose | Weight |\n|---|---|\n| 5 mg | < 60 kg |",
        ["<table>", "<thead>", "<th>Dose</th>", "<tbody>", "<td>5 mg</td>", "<td>&lt; 60 kg</td>"],
        id="table",
    ),
    pytest.param(
        "See [the label](https://example.com/label?x=1&y=2).",
        ['<a href="https://example.com/label?x=1&amp;y=2"', ">the label</a>"],
        id="https-link",
    ),
    pytest.param(
        "[Write to us](mailto:medinfo@pharma.test)",
        ['<a href="mailto:medinfo@pharma.test"'],
        id="mailto-link",
    ),
    pytest.param(
        "![Kaplan-Meier curve](https://example.com/km.png)",
        ['<img src="https://example.com/km.png" alt="Kaplan-Meier curve">'],
        id="https-image",
    ),
    pytest.param(
        "**bold** *italic* `code`",
        ["<strong>bold</strong>", "<em>italic</em>", "<code>code</code>"],
        id="emphasis",
    ),
    pytest.param("> Quoted study\n\n---", ["<blockquote>", "<hr>"], id="quote-and-rule"),
    pytest.param("```\nx = 1\n```", ["<pre><code>x = 1\n</code></pre>"], id="code-block"),
]  # fmt: skip


@pytest.mark.parametrize(("source", "expected"), ORDINARY)
def test_ordinary_markdown_survives(source, expected):
    output = render_markdown(source)

    for fragment in expected:
        assert fragment in output
    assert dangers(output) == []


def test_table_column_alignment_survives():
    # Alignment travels as a class (the CSP refuses inline styles), and only these classes pass.
    output = render_markdown("| Dose | Weight |\n|:---|---:|\n| 5 mg | 60 kg |")

    assert re.search(r'<td class="text-start">5 mg', output)
    assert re.search(r'<td class="text-end">60 kg', output)
    assert "style=" not in output


def test_empty_source_renders_nothing():
    assert render_markdown("") == ""
    assert plain_text(render_markdown("")) == ""


def test_plain_text_keeps_the_words_only():
    output = render_markdown("# Dosing & safety\n\n- 5 mg *once* daily\n- [PI](https://e.test)")

    assert plain_text(output) == "Dosing & safety 5 mg once daily PI"
