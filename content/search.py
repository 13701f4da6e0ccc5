"""Full-text search over published materials: one interface, two engines.

SQLite uses an FTS5 table (porter stemming, accents folded, bm25 with column weights); PostgreSQL
uses a weighted ``tsvector`` with a GIN index and ``ts_rank``. The index holds every approved
version; visibility (dates, audience, filters) is applied in the same query, so the index never
needs a job to stay correct.

Ranking every match of a common word is what makes search slow (a third of the corpus can match).
So each query ranks at most ``CANDIDATE_CAP`` candidates, taken newest first: rare and mid-frequency
words are ranked exactly, and a very common word is ranked among its newest matches, which is what
a library reader wants anyway. Snippets are computed for the page of results only.

The last word of a query also matches as a prefix while it is typed; on SQLite, a word that already
matches many materials as typed is taken as complete (an FTS5 prefix merges the doclists of every
term it covers). On PostgreSQL a sample of the newest documents tells whether to walk them newest
first or to fetch every match from the GIN index (see ``PostgresIndex._dense``).

Lay and clinical synonyms (``content/synonyms.json``: "side effect" and "adverse reaction", in
English, German, Spanish and French) are expanded at query time by :func:`expand`, which both
engines render into their own syntax: a query word or phrase also matches any of its synonyms.
When a search finds little, :func:`suggest` offers corrected spellings taken from the words of
materials the searcher may see, never from the whole index.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import html
import json
import re
import threading
import unicodedata
from collections.abc import Callable, Collection
from pathlib import Path
from typing import Any, Protocol

import snowballstemmer
from sqlalchemy import (
    ColumnElement,
    bindparam,
    column,
    func,
    literal_column,
    select,
    table,
    text,
)
from sqlalchemy.orm import Session, scoped_session

from content.models import Material

DbSession = Session | scoped_session[Any]

CANDIDATE_CAP = 600
# ts_rank must detoast each candidate's document, several times dearer than FTS5's bm25.
PG_CANDIDATE_CAP = 250
DENSITY_SAMPLE = 400  # PostgreSQL: newest documents sampled to choose a query shape
MAX_TERMS = 8
# Markers no material text contains; swapped for <mark> after HTML-escaping the snippet.
_START, _STOP = "\x02", "\x03"
_WORD = re.compile(r"[^\W_]+", re.UNICODE)

# Words that carry no meaning in a query. Dropped unless the query has nothing else.
STOP_WORDS = frozenset(
    """a about above after again against all am an and any are as at be because been before being
    below between both but by can could did do does doing down during each few for from further had
    has have having he her here hers him his how i if in into is it its itself just me more most my
    no nor not now of off on once only or other our out over own same she should so some such than
    that the their them then there these they this those through to too under until up very was we
    were what when where which while who whom why will with would you your""".split()
)


def fold(text_value: str) -> str:
    """Lower-case and strip accents, as the indexes do."""
    decomposed = unicodedata.normalize("NFKD", text_value.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def parse_query(raw: str) -> list[str]:
    """The search terms of a query: words only (no operators reach the engine), stop words
    dropped unless nothing else is left, at most ``MAX_TERMS``."""
    words = [w for w in _WORD.findall(fold(raw or "")) if len(w) < 40]
    meaningful = [w for w in words if w not in STOP_WORDS]
    terms = list(dict.fromkeys(meaningful or words))
    return terms[:MAX_TERMS]


def mark(snippet: str) -> str:
    """HTML-escape an engine snippet and turn its match markers into ``<mark>``."""
    return html.escape(snippet).replace(_START, "<mark>").replace(_STOP, "</mark>")


_stemmer = snowballstemmer.stemmer("english")
_stemmer_lock = threading.Lock()  # a snowball stemmer keeps the word it works on


# Highlighting folds and stems every word it looks at, up to a whole body per hit: ~45 us a word
# for the pure-Python stemmer, 0.4 s for a page of 20. Words repeat (a few thousand make most of
# any library), so both are remembered.
@functools.lru_cache(maxsize=1 << 16)
def _folded(word: str) -> str:
    return fold(word)


@functools.lru_cache(maxsize=1 << 16)
def _stem(folded: str) -> str:
    with _stemmer_lock:
        return str(_stemmer.stemWord(folded))


def _word_matches(
    terms: list[str], *, stem: bool, also: Collection[str] = ()
) -> Callable[[str], bool]:
    """A test for one word of a text: does it match a query term (or a word of ``also``, the
    synonyms) the way the engine does? (Same stem as a term, or the last term as a prefix;
    accents and case folded.)"""
    words = {*terms, *also}
    stems = {_stem(t) for t in words} if stem else words
    last = terms[-1]

    seen: dict[str, bool] = {}

    def matches(word: str) -> bool:
        found = seen.get(word)
        if found is None:
            folded = _folded(word)
            found = folded.startswith(last) or (_stem(folded) if stem else folded) in stems
            seen[word] = found
        return found

    return matches


def first_match(text_value: str, matches: Callable[[str], bool]) -> int | None:
    """Index (in words) of the first matching word, or ``None``."""
    for position, token in enumerate(_WORD.finditer(text_value)):
        if matches(token.group()):
            return position
    return None


def highlight(text_value: str, matches: Callable[[str], bool], *, words: int | None = None) -> str:
    """``text_value`` HTML-escaped with each matching word in ``<mark>``; with ``words``, only a
    window of that many words around the first match (``…`` where text was cut)."""
    start, end, window = 0, len(text_value), None
    if words is not None:
        first = first_match(text_value, matches) or 0
        window = (max(0, first - words // 4), max(0, first - words // 4) + words)
    parts: list[str] = []
    cursor = None
    for position, token in enumerate(_WORD.finditer(text_value)):
        if window is not None:
            if position < window[0]:
                continue
            if position >= window[1]:
                end = token.start()
                break
        if cursor is None:
            start = cursor = token.start() if window is not None and window[0] else 0
        if matches(token.group()):
            parts.append(html.escape(text_value[cursor : token.start()]))
            parts.append(f"<mark>{html.escape(token.group())}</mark>")
            cursor = token.end()
    if cursor is None:
        cursor = start
    parts.append(
        html.escape(
            text_value[cursor:end].rstrip() if end < len(text_value) else text_value[cursor:end]
        )
    )
    return ("…" if start else "") + "".join(parts) + ("…" if end < len(text_value) else "")


# --- synonyms ---------------------------------------------------------------------------------
SYNONYMS_FILE = Path(__file__).with_name("synonyms.json")
MAX_SYNONYMS = 12  # alternatives per query phrase, so that a query stays small


@dataclasses.dataclass(frozen=True)
class Clause:
    """One part of a query, which a material must match: all of the query's own ``words``, or
    any one of their ``synonyms`` (each a phrase: its words adjacent, in order)."""

    words: tuple[str, ...]
    synonyms: tuple[tuple[str, ...], ...] = ()


def _phrase(term: str) -> tuple[str, ...]:
    return tuple(_WORD.findall(fold(term)))


def _key(words: tuple[str, ...]) -> tuple[str, ...]:
    """How a phrase is looked up: stemmed, stop words dropped (as :func:`parse_query` drops
    them), so that "side effects" finds the group of "side effect"."""
    meaningful = tuple(w for w in words if w not in STOP_WORDS) or words
    return tuple(_stem(w) for w in meaningful)


def load_synonyms(path: Path = SYNONYMS_FILE) -> dict[tuple[str, ...], tuple[tuple[str, ...], ...]]:
    """The synonyms of each phrase (by :func:`_key`), from a file of groups: every term of a
    group is a synonym of every other (both ways). A phrase in several groups gets them all."""
    groups = json.loads(path.read_text(encoding="utf-8"))["groups"]
    found: dict[tuple[str, ...], dict[tuple[str, ...], None]] = {}
    for group in groups:
        phrases = [p for p in dict.fromkeys(_phrase(t) for t in group["terms"]) if p]
        for phrase in phrases:
            key = _key(phrase)
            others = found.setdefault(key, {})
            for other in phrases:
                if _key(other) != key:
                    others.setdefault(other, None)
    # One spelling per stemmed form: "adverse reactions" adds nothing to "adverse reaction".
    result = {}
    for key, others in found.items():
        unique = {_key(o): o for o in reversed(list(others))}
        result[key] = tuple(o for o in others if unique.get(_key(o)) == o)[:MAX_SYNONYMS]
    return result


@functools.cache
def synonyms() -> dict[tuple[str, ...], tuple[tuple[str, ...], ...]]:
    return load_synonyms()


def expand(terms: list[str]) -> list[Clause]:
    """The clauses of a query: each run of terms that is a known phrase (longest first) becomes
    one clause with its synonyms; every other term is a clause of its own."""
    table_ = synonyms()
    longest = max((len(k) for k in table_), default=0)
    stems = [_stem(t) for t in terms]
    clauses: list[Clause] = []
    start = 0
    while start < len(terms):
        for size in range(min(longest, len(terms) - start), 0, -1):
            alternatives = table_.get(tuple(stems[start : start + size]))
            if alternatives:
                clauses.append(Clause(tuple(terms[start : start + size]), alternatives))
                start += size
                break
        else:
            clauses.append(Clause((terms[start],)))
            start += 1
    return clauses


def synonym_words(terms: list[str]) -> set[str]:
    """Every word the synonyms of a query add (for highlighting)."""
    return {w for c in expand(terms) for phrase in c.synonyms for w in phrase}


# --- "did you mean" ----------------------------------------------------------------------------
SUGGEST_SCAN = 500  # newest materials (of those the searcher may see) whose words are offered
SUGGEST_CUTOFF = 0.75  # difflib similarity a correction needs
MIN_SUGGEST_LENGTH = 3


def visible_vocabulary(
    session: DbSession, *, where: ColumnElement[bool], scan: int = SUGGEST_SCAN
) -> dict[str, int]:
    """The words (folded) of the newest ``scan`` materials that ``where`` admits, with the number
    of those materials each occurs in. Only what the searcher may see, so a suggestion can never
    reveal a word of a draft or of another audience's material."""
    counts: dict[str, int] = {}
    rows = session.execute(
        select(Material.title, Material.summary, Material.body_text)
        .where(where)
        .order_by(Material.id.desc())
        .limit(scan)
    )
    for row in rows:
        words = set(_WORD.findall(f"{row.title} {row.summary} {row.body_text}".casefold()))
        for word in {_folded(w) for w in words}:
            if len(word) >= MIN_SUGGEST_LENGTH and not word.isdigit():
                counts[word] = counts.get(word, 0) + 1
    return counts


def _closest(term: str, vocabulary: dict[str, int], limit: int) -> list[str] | None:
    """Known words close to ``term``, best first; ``None`` when ``term`` is itself known (as
    typed, or a form of a known word)."""
    if term in vocabulary:
        return None
    matcher = difflib.SequenceMatcher(b=term)
    scored = []
    for word in vocabulary:
        matcher.set_seq1(word)
        if (
            matcher.real_quick_ratio() >= SUGGEST_CUTOFF
            and matcher.quick_ratio() >= SUGGEST_CUTOFF
            and (ratio := matcher.ratio()) >= SUGGEST_CUTOFF
        ):
            scored.append((-ratio, -vocabulary[word], word))
    scored.sort()
    close = [word for _, _, word in scored]
    if any(_stem(word) == _stem(term) for word in close):
        return None
    return close[:limit]


def suggest(
    session: DbSession, terms: list[str], *, where: ColumnElement[bool], limit: int = 3
) -> list[str]:
    """Corrected queries for ``terms`` (at most ``limit``, best first): each unknown term
    replaced by the closest word of :func:`visible_vocabulary`; the first unknown term's
    runners-up make the further suggestions. Empty when every term is known or none is close."""
    if not terms:
        return []
    vocabulary = visible_vocabulary(session, where=where)
    options: list[list[str]] = []
    corrected = False
    for term in terms:
        close = _closest(term, vocabulary, limit)
        if close is None:
            options.append([term])
        elif close:
            options.append(close)
            corrected = True
        else:
            options.append([term])
    if not corrected:
        return []
    first = next(i for i, o in enumerate(options) if len(o) > 1 or o[0] != terms[i])
    best = [o[0] for o in options]
    queries = []
    for choice in options[first]:
        query = " ".join([*best[:first], choice, *best[first + 1 :]])
        queries.append(query)
    return list(dict.fromkeys(queries))[:limit]


@dataclasses.dataclass(frozen=True)
class SearchHit:
    material_id: int
    score: float
    title_html: str = ""
    snippet_html: str = ""


@dataclasses.dataclass(frozen=True)
class SearchResult:
    hits: list[SearchHit]
    has_more: bool
    capped: bool  # more matches exist than were ranked
    total: int = 0  # matches ranked: all of them unless capped (the candidates already fetched)


class SearchIndex(Protocol):
    def add(self, session: DbSession, material: Material) -> None: ...

    def remove(self, session: DbSession, material_id: int) -> None: ...

    def search(
        self,
        session: DbSession,
        terms: list[str],
        *,
        where: ColumnElement[bool],
        limit: int,
        offset: int = 0,
        snippets: bool = True,
    ) -> SearchResult: ...


def _page(rows: list[Any], limit: int, offset: int, cap: int) -> tuple[list[Any], bool, bool]:
    return rows[offset : offset + limit], len(rows) > offset + limit, len(rows) >= cap


class Fts5Index:
    """SQLite FTS5: ``material_search(title, summary, body)``, rowid = material id."""

    fts = table(
        "material_search", column("rowid"), column("title"), column("summary"), column("body")
    )
    weights = (10.0, 4.0, 1.0)

    @staticmethod
    def match_expression(terms: list[str], *, prefix: bool = True) -> str:
        # Every term quoted (no FTS syntax from users; terms are words only); the last one also
        # matches as a prefix. A phrase with synonyms: (its words OR "a synonym" OR ...).
        clauses = expand(terms)
        parts = []
        for position, clause in enumerate(clauses):
            own = [f'"{w}"' for w in clause.words]
            if prefix and position == len(clauses) - 1:
                own[-1] += "*"
            if not clause.synonyms:
                parts.extend(own)
                continue
            alternatives = [f"({' AND '.join(own)})"]
            alternatives += [f'"{" ".join(phrase)}"' for phrase in clause.synonyms]
            parts.append(f"({' OR '.join(alternatives)})")
        return " AND ".join(parts)

    def _expression(self, session: DbSession, terms: list[str], cap: int) -> str:
        """The MATCH expression of a search: the last word also matches as a prefix (it may still
        be being typed), unless the words as typed already match twice as many materials as are
        ranked: such a word is complete, and FTS5 answers a prefix by merging the doclists of
        every term it covers (a common stem: tens of thousands of rows, once for the candidates
        and again for bm25 and the snippets; 10-30 ms at 100k materials)."""
        exact = self.match_expression(terms, prefix=False)
        enough = 2 * cap
        found = session.execute(
            text(
                "SELECT count(*) FROM (SELECT 1 FROM material_search "
                "WHERE material_search MATCH :q LIMIT :n)"
            ),
            {"q": exact, "n": enough},
        ).scalar_one()
        return exact if found >= enough else self.match_expression(terms)

    def add(self, session: DbSession, material: Material) -> None:
        self.remove(session, material.id)
        session.execute(
            text(
                "INSERT INTO material_search (rowid, title, summary, body) "
                "VALUES (:id, :title, :summary, :body)"
            ),
            {
                "id": material.id,
                "title": material.title,
                "summary": material.summary,
                "body": material.body_text,
            },
        )

    def remove(self, session: DbSession, material_id: int) -> None:
        session.execute(text("DELETE FROM material_search WHERE rowid = :id"), {"id": material_id})

    def search(
        self,
        session: DbSession,
        terms: list[str],
        *,
        where: ColumnElement[bool],
        limit: int,
        offset: int = 0,
        snippets: bool = True,
    ) -> SearchResult:
        if not terms:
            return SearchResult([], False, False)
        cap = max(CANDIDATE_CAP, offset + limit + 1)
        expression = self._expression(session, terms, cap)
        name: ColumnElement[Any] = literal_column("material_search")
        score = func.bm25(name, *self.weights).label("score")
        candidates = (
            select(self.fts.c.rowid.label("id"), score)
            .select_from(self.fts.join(Material, Material.id == self.fts.c.rowid))
            .where(name.op("MATCH")(bindparam("q", expression)))
            .where(where)
            .order_by(self.fts.c.rowid.desc())
            .limit(cap)
            .subquery()
        )
        rows = session.execute(
            select(candidates.c.id, candidates.c.score).order_by(
                candidates.c.score, candidates.c.id.desc()
            )
        ).all()
        page, has_more, capped = _page(list(rows), limit, offset, cap)
        hits = [SearchHit(r.id, -float(r.score)) for r in page]
        if snippets and hits:
            hits = self._with_snippets(session, expression, hits)
        return SearchResult(hits, has_more, capped, total=len(rows))

    def _with_snippets(
        self, session: DbSession, expression: str, hits: list[SearchHit]
    ) -> list[SearchHit]:
        ids = [h.material_id for h in hits]
        # One full-text query over the page's rowid range, the ids filtered outside the index
        # ("+rowid" is not offered to FTS5): with "rowid IN" FTS5 would run the query once per
        # id, and a prefix term rebuilds its whole merged doclist each time (20 x 2-20 ms for a
        # common word). Snippets are still computed for the page's rows only.
        rows = session.execute(
            text(
                "SELECT rowid, highlight(material_search, 0, :a, :b) AS title, "
                "snippet(material_search, 2, :a, :b, '…', 24) AS body, "
                "snippet(material_search, 1, :a, :b, '…', 24) AS summary "
                "FROM material_search WHERE material_search MATCH :q "
                "AND rowid BETWEEN :low AND :high AND +rowid IN :ids"
            ).bindparams(bindparam("ids", expanding=True)),
            {
                "a": _START,
                "b": _STOP,
                "q": expression,
                "ids": ids,
                "low": min(ids),
                "high": max(ids),
            },
        ).all()
        found = {r.rowid: r for r in rows}
        result = []
        for hit in hits:
            row = found.get(hit.material_id)
            if row is None:
                result.append(hit)
                continue
            snippet = row.body if _START in (row.body or "") else (row.summary or row.body or "")
            result.append(
                dataclasses.replace(
                    hit, title_html=mark(row.title or ""), snippet_html=mark(snippet)
                )
            )
        return result


class PostgresIndex:
    """PostgreSQL: ``material_search(material_id, document tsvector)`` with a GIN index."""

    config = "english"

    def query_config(self, terms: list[str]) -> str:
        # The English configuration drops stop words from documents and queries alike; a query
        # made only of them ("ALL", the leukaemia) is matched unstemmed against titles/summaries.
        return "simple" if all(t in STOP_WORDS for t in terms) else self.config

    @staticmethod
    def tsquery(terms: list[str]) -> str:
        # Terms are words only (no quotes); the last one also matches as a prefix. A phrase
        # with synonyms: (its words | a synonym's words adjacent | ...).
        clauses = expand(terms)
        parts = []
        for position, clause in enumerate(clauses):
            own = [f"'{w}'" for w in clause.words]
            if position == len(clauses) - 1:
                own[-1] += ":*"
            if not clause.synonyms:
                parts.extend(own)
                continue
            alternatives = [f"({' & '.join(own)})"]
            alternatives += [
                "(" + " <-> ".join(f"'{w}'" for w in phrase) + ")" for phrase in clause.synonyms
            ]
            parts.append(f"({' | '.join(alternatives)})")
        return " & ".join(parts)

    def add(self, session: DbSession, material: Material) -> None:
        session.execute(
            text(
                "INSERT INTO material_search (material_id, document) VALUES (:id, "
                "setweight(to_tsvector(CAST(:cfg AS regconfig), :title), 'A') || "
                "setweight(to_tsvector(CAST(:cfg AS regconfig), :summary), 'B') || "
                "setweight(to_tsvector(CAST(:cfg AS regconfig), :body), 'D') || "
                "setweight(to_tsvector('simple', :title), 'A') || "
                "setweight(to_tsvector('simple', :summary), 'B')) "
                "ON CONFLICT (material_id) DO UPDATE SET document = EXCLUDED.document"
            ),
            {
                "id": material.id,
                "cfg": self.config,
                "title": fold(material.title),
                "summary": fold(material.summary),
                "body": fold(material.body_text),
            },
        )

    def remove(self, session: DbSession, material_id: int) -> None:
        session.execute(
            text("DELETE FROM material_search WHERE material_id = :id"), {"id": material_id}
        )

    def search(
        self,
        session: DbSession,
        terms: list[str],
        *,
        where: ColumnElement[bool],
        limit: int,
        offset: int = 0,
        snippets: bool = True,
    ) -> SearchResult:
        if not terms:
            return SearchResult([], False, False)
        search_table = table("material_search", column("material_id"), column("document"))
        # The configuration is one of two constants, never user input.
        query = func.to_tsquery(
            literal_column(f"'{self.query_config(terms)}'::regconfig"),
            bindparam("q", self.tsquery(terms)),
        )
        cap = max(PG_CANDIDATE_CAP, offset + limit + 1)
        document = search_table.c.document
        joined = search_table.join(Material, Material.id == search_table.c.material_id)
        if self._dense(session, search_table, query, cap):
            # Walk the newest documents and stop at the cap. The function form of @@ keeps the
            # planner off the GIN index, whose matches would all have to be fetched and sorted.
            candidates = (
                select(
                    search_table.c.material_id.label("id"),
                    func.ts_rank(document, query).label("score"),
                )
                .select_from(joined)
                .where(func.ts_match_vq(document, query))
                .where(where)
                .order_by(search_table.c.material_id.desc())
                .limit(cap)
                .subquery()
            )
        else:
            # Few matches: take them all from the GIN index and sort them, newest first, before
            # joining the materials, so that the join stops at the cap instead of checking every
            # match. "+ 0" keeps the planner from walking the primary key instead (it cannot see
            # that each step detoasts a document). Only the candidates are ranked.
            match_id = (search_table.c.material_id + literal_column("0")).label("id")
            matches = (
                select(match_id)
                .where(document.op("@@")(query))
                .order_by(match_id.desc())
                .subquery()
            )
            newest = (
                select(matches.c.id)
                .join(Material, Material.id == matches.c.id)
                .where(where)
                .order_by(matches.c.id.desc())
                .limit(cap)
                .subquery()
            )
            ranked = search_table.alias("ranked")
            candidates = (
                select(newest.c.id, func.ts_rank(ranked.c.document, query).label("score"))
                .join(ranked, ranked.c.material_id == newest.c.id)
                .subquery()
            )
        rows = session.execute(
            select(candidates.c.id, candidates.c.score).order_by(
                candidates.c.score.desc(), candidates.c.id.desc()
            )
        ).all()
        page, has_more, capped = _page(list(rows), limit, offset, cap)
        hits = [SearchHit(r.id, float(r.score)) for r in page]
        if snippets and hits:
            hits = self._with_snippets(session, terms, hits)
        return SearchResult(hits, has_more, capped, total=len(rows))

    def _dense(
        self, session: DbSession, search_table: Any, query: ColumnElement[Any], cap: int
    ) -> bool:
        """Do the terms match so many documents that walking the newest ones finds ``cap``
        candidates sooner than fetching every match from the GIN index would?

        The planner makes this choice badly: it does not price the detoasting of each document
        it walks, so it walks for mid-frequency words too (100-300 ms at 100k materials), and a
        generic plan of a prepared statement decides the same for every word. So the share of
        matches among the newest ``DENSITY_SAMPLE`` documents decides: walking reads about
        ``cap / share`` documents, the index fetches ``share * newest id`` matches.
        """
        recent = (
            select(search_table.c.material_id, search_table.c.document)
            .order_by(search_table.c.material_id.desc())
            .limit(DENSITY_SAMPLE)
            .subquery()
        )
        row = session.execute(
            select(
                func.count().filter(func.ts_match_vq(recent.c.document, query)),
                func.count(),
                func.max(recent.c.material_id),
            )
        ).one()
        matched, sampled, newest = int(row[0]), int(row[1]), int(row[2] or 0)
        if not matched:
            return False
        share = matched / sampled
        return cap / share <= share * newest

    def _with_snippets(
        self, session: DbSession, terms: list[str], hits: list[SearchHit]
    ) -> list[SearchHit]:
        # Highlighted here rather than by ts_headline, which reads tags in the text as markup
        # and cannot see matches it only found through accent folding.
        matches = _word_matches(
            terms, stem=self.query_config(terms) != "simple", also=synonym_words(terms)
        )
        rows = session.execute(
            select(Material.id, Material.title, Material.summary, Material.body_text).where(
                Material.id.in_([h.material_id for h in hits])
            )
        ).all()
        found = {r.id: r for r in rows}
        result = []
        for hit in hits:
            row = found.get(hit.material_id)
            if row is None:
                result.append(hit)
                continue
            in_body = first_match(row.body_text, matches) is not None
            source = row.body_text if in_body or not row.summary else row.summary
            result.append(
                dataclasses.replace(
                    hit,
                    title_html=highlight(row.title, matches),
                    snippet_html=highlight(source, matches, words=35),
                )
            )
        return result


def index_for(session: DbSession) -> SearchIndex:
    """The search engine of the database this session talks to."""
    dialect = session.get_bind().dialect.name
    return PostgresIndex() if dialect == "postgresql" else Fts5Index()
