"""Find, in free text, what must reach the right team: a possible adverse event, a patient affected
by a product quality problem, off-label intent, and the keywords of an administrator's rule.

Pure functions, no database and no Flask: the routing engine calls them on every question and the
chat on every message, so they are cheap (the phrase lists are parsed once and indexed by their
first word; a text is scanned once and the scan is cached).

What is searched for is data, not code: the phrase lists in ``portal/safety/phrases/`` are
plain text files a safety officer reads and extends (``phrases/README.md`` explains the format).
Text and phrases go through the same normalization (:func:`normalize`), so matching is on whole
words, in English, Spanish, French and German alike, whatever the case and accents:

* case folded (``casefold``, which also turns ``ß`` into ``ss``), accents stripped (NFKD without
  combining marks), ``œ``/``æ`` spelt out, ``n't`` glued (``didn't`` → ``didnt``);
* split into words at spaces and punctuation, and between letters and digits (``40mg`` → ``40
  mg``);
* abbreviations expanded from ``abbreviations.txt`` (``pt`` → ``patient``, ``ER`` →
  ``emergency room``, ``s/e`` → ``side effect``).

Detection errs on the side of flagging (PRODUCT.md, "Adverse events"): a phrase preceded by a
negation ("no side effects") is still a hit, marked ``negated`` so the reviewer sees why; long
words also match with one typing slip (:func:`_one_slip`).
"""

from __future__ import annotations

import bisect
import itertools
import re
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cache, cached_property, lru_cache
from pathlib import Path
from typing import Protocol, TypeVar

PHRASES_DIR = Path(__file__).with_name("phrases")
LANGUAGES = ("en", "es", "fr", "de")

# The phrase-list files (``<name>.txt``), all in the ``phrase | example`` format.
PHRASE_FILES = (
    "adverse_event",
    "patient_affected",
    "off_label",
    "negations",
    "pediatric",
    "elderly",
)
CONDITIONS_FILE = "conditions"
ABBREVIATIONS_FILE = "abbreviations"


class HitList(StrEnum):
    """What a :class:`Hit` was found as (``Hit.list``)."""

    ADVERSE_EVENT = "adverse_event"
    PATIENT_AFFECTED = "patient_affected"
    OFF_LABEL = "off_label"
    KEYWORD = "keyword"


# --- results --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Hit:
    """One reason to flag a text."""

    list: str  # a HitList value
    phrase: str  # the phrase as written in the data file or rule, or what a label check tested
    matched: str  # the writer's own words, a slice of the original text
    lang: str  # "en" | "es" | "fr" | "de", or "" for keywords and label checks
    negated: bool = False
    reason: str = ""  # one sentence for staff, e.g. "the text mentions 'hospitalised'"


@dataclass(frozen=True)
class Finding:
    """Every hit of one detector in a text, in text order."""

    hits: tuple[Hit, ...] = ()

    @property
    def flagged(self) -> bool:
        """True when there is any hit, negated ones included (detection errs on flagging)."""
        return bool(self.hits)

    @property
    def reasons(self) -> list[str]:
        """One sentence per distinct hit, in text order."""
        return list(dict.fromkeys(hit.reason for hit in self.hits))


@dataclass(frozen=True)
class LabelFacts:
    """What a product's label approves, as far as off-label detection can compare it with text."""

    product: str  # product code, e.g. "CARDIOZEN"
    product_name: str
    indications: tuple[str, ...]  # condition keys from conditions.txt
    min_age: int | None = None  # approved ages in years (None = no bound)
    max_age: int | None = None
    dose_min_mg: float | None = None  # approved single-dose range in mg
    dose_max_mg: float | None = None
    populations: str = ""  # free-text note, shown to staff


@dataclass(frozen=True)
class PhraseEntry:
    """One line of a phrase-list file, as :func:`phrase_lists` returns it."""

    list: str  # the file's name without ".txt", e.g. "adverse_event"
    lang: str
    phrase: str  # as written
    example: str  # a sentence the phrase must be found in (the line's own test)
    file: str
    line: int


# --- normalization --------------------------------------------------------------------------------
# A word is a run of letters (keeping "n't" on, so "didn't" stays one word) or a run of digits:
# "40mg" is two words, as the writer meant.
_WORD_RE = re.compile(r"[^\W\d_]+(?:['\u2019]t(?![^\W\d_]))?|\d+")
# Text pasted in decomposed form ("e" + combining accent) would split words at each accent, which
# is not a word character: such text takes a slower pattern that keeps the marks in the word.
_MARKS = "\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f"
_MARKS_RE = re.compile(f"[{_MARKS}]")
_MARKED_WORD_RE = re.compile(f"(?:[^\\W\\d_]|[{_MARKS}])+(?:['\u2019]t(?![^\\W\\d_]))?|\\d+")
# Letters NFKD does not decompose but writers of these languages expect folded; apostrophes go so
# that "didn't" and "didnt" are the same word.
_FOLD_TABLE = str.maketrans(
    {"œ": "oe", "æ": "ae", "ø": "o", "ł": "l", "đ": "d", "ð": "d", "þ": "th", "'": "", "\u2019": ""}
)


@lru_cache(maxsize=65536)
def _fold(word: str) -> str:
    decomposed = unicodedata.normalize("NFKD", word.casefold().translate(_FOLD_TABLE))
    # Combining marks are not alphanumeric, so this drops accents and any stray symbol at once.
    return "".join(c for c in decomposed if c.isalnum())


@dataclass(frozen=True)
class _Words:
    """A text as the matcher sees it: its normalized words, and where each one came from.

    Parallel tuples rather than one object per word, and character spans only worked out when a
    hit needs them: a 4,000-character message has ~700 words and this is the hot path of every
    scan.
    """

    text: str  # the original
    words: tuple[str, ...]  # normalized
    firsts: tuple[int, ...]  # for each word, the raw words it came from ("s/e" is two of them)
    lasts: tuple[int, ...]
    raw_words: list[str]  # the text split at spaces and punctuation, unchanged

    @cached_property
    def _raw_spans(self) -> list[tuple[int, int]]:
        return _spans(self.text, self.raw_words)

    def start(self, index: int) -> int:
        """Where word ``index`` starts in the original text."""
        return self._raw_spans[self.firsts[index]][0]

    def end(self, index: int) -> int:
        """Where word ``index`` ends in the original text (an expanded abbreviation's words share
        its span)."""
        return self._raw_spans[self.lasts[index]][1]

    def raw(self, first: int, last: int) -> str:
        """The original text of words ``first`` to ``last`` (inclusive)."""
        return self.text[self.start(first) : self.end(last)]


def _spans(text: str, raw_words: list[str]) -> list[tuple[int, int]]:
    # Separators hold no letter or digit, so the next occurrence of a word is the word itself:
    # str.find is cheaper than a match object per word.
    spans = []
    position = 0
    for word in raw_words:
        start = text.find(word, position)
        position = start + len(word)
        spans.append((start, position))
    return spans


@dataclass(frozen=True, slots=True)
class _Abbreviation:
    words: tuple[str, ...]  # raw when case_sensitive, else folded
    gaps: tuple[str, ...]  # the punctuation between its words ("/" in "s/e"), spaces removed
    expansion: tuple[str, ...]
    case_sensitive: bool
    after_number: bool


@dataclass(frozen=True)
class _Abbreviations:
    by_raw: dict[str, tuple[_Abbreviation, ...]]  # case-sensitive ones, by first raw word
    by_folded: dict[str, tuple[_Abbreviation, ...]]
    # raw word -> (folded, whether an abbreviation may start with it): one lookup per word
    _known: dict[str, tuple[str, bool]] = field(default_factory=dict, repr=False, compare=False)

    def expand(self, text: str) -> _Words:
        pattern = _MARKED_WORD_RE if _MARKS_RE.search(text) else _WORD_RE
        raw = pattern.findall(text)
        spans: list[tuple[int, int]] = []  # only worked out if an abbreviation needs them

        def spans_of() -> list[tuple[int, int]]:
            if not spans:
                spans.extend(_spans(text, raw))
            return spans

        words: list[str] = []
        firsts: list[int] = []
        lasts: list[int] = []
        known = self._known
        i = 0
        while i < len(raw):
            word = raw[i]
            info = known.get(word)
            if info is None:
                info = self._learn(word)
            folded, may_start = info
            if may_start:
                found = self._match(text, raw, spans_of, i, folded)
                if found is not None:
                    last = i + len(found.words) - 1
                    for expanded in found.expansion:
                        words.append(expanded)
                        firsts.append(i)
                        lasts.append(last)
                    i = last + 1
                    continue
            if folded:
                words.append(folded)
                firsts.append(i)
                lasts.append(i)
            i += 1
        return _Words(text, tuple(words), tuple(firsts), tuple(lasts), raw)

    def _learn(self, word: str) -> tuple[str, bool]:
        folded = _fold(word)
        info = (folded, word in self.by_raw or folded in self.by_folded)
        if len(self._known) > 100_000:  # bounded: chat text is unbounded vocabulary
            self._known.clear()
        self._known[word] = info
        return info

    def _match(
        self,
        text: str,
        raw: list[str],
        spans_of: Callable[[], list[tuple[int, int]]],
        i: int,
        folded: str,
    ) -> _Abbreviation | None:
        candidates = self.by_raw.get(raw[i], ()) + self.by_folded.get(folded, ())
        for abbr in candidates:
            n = len(abbr.words)
            if i + n > len(raw):
                continue
            if abbr.after_number and (i == 0 or not raw[i - 1].isdigit()):
                continue
            if all(
                (raw[i + k] if abbr.case_sensitive else _fold(raw[i + k])) == abbr.words[k]
                and "".join(text[spans_of()[i + k - 1][1] : spans_of()[i + k][0]].split())
                == abbr.gaps[k - 1]
                for k in range(1, n)
            ):
                return abbr
        return None


def _plain_words(text: str) -> tuple[str, ...]:
    """Folded words without abbreviation expansion (for abbreviations' own two sides)."""
    return tuple(w for w in (_fold(m.group()) for m in _WORD_RE.finditer(text)) if w)


# --- phrases and matching -------------------------------------------------------------------------
FUZZY_MIN_LETTERS = 7
# Letters a hurried writer swaps for one another: neighbours on QWERTY (plus the QWERTZ and AZERTY
# swaps) and vowel for vowel. Any other substitution is more often a different word
# ("infection"/"injection", "swelling"/"spelling") than a slip.
_KEYBOARD_ROWS = ("qwertyuiop", "asdfghjkl", "zxcvbnm")
_VOWELS = "aeiouy"


def _close_letters() -> frozenset[tuple[str, str]]:
    pairs: set[tuple[str, str]] = set()
    for row in _KEYBOARD_ROWS:
        pairs.update(itertools.pairwise(row))
    for upper, lower in itertools.pairwise(_KEYBOARD_ROWS):
        for k, c in enumerate(lower):
            pairs.update({(c, upper[k]), (c, upper[k + 1])})
    pairs.update((a, b) for a in _VOWELS for b in _VOWELS if a != b)
    pairs.update({("y", "z"), ("q", "a"), ("w", "z"), ("c", "k"), ("c", "s"), ("s", "z")})
    return frozenset(pairs | {(b, a) for a, b in pairs})


_CLOSE_LETTERS = _close_letters()


def _one_slip(word: str, token: str) -> bool:
    """Whether ``token`` is ``word`` with one typing slip (Damerau-Levenshtein distance 1).

    Restricted to the slips a hurried writer makes, so that real neighbouring words stay apart
    ("deceased"/"decreased", "infection"/"injection"): the first two letters are right; a
    substitution is of close letters; a letter too many doubles its neighbour; a letter left out
    is a vowel or one of a double. The last two letters of ``word`` change only by a swap,
    because that is where inflections live ("receive"/"received").
    """
    n, m = len(word), len(token)
    if token == word or abs(n - m) > 1 or token[:2] != word[:2]:
        return False
    i = 2
    shortest = min(n, m)
    while i < shortest and word[i] == token[i]:
        i += 1
    if n == m:
        if word[i + 1 :] == token[i + 1 :]:
            return i < n - 2 and (word[i], token[i]) in _CLOSE_LETTERS
        return (
            i + 1 < n
            and word[i] == token[i + 1]
            and word[i + 1] == token[i]
            and word[i + 2 :] == token[i + 2 :]
        )
    if m == n + 1:  # a letter too many in the token, before word[i]
        if i > n - 2 or word[i:] != token[i + 1 :]:
            return False
        return token[i] in (token[i - 1], token[i + 1])  # doubled
    if i >= n - 2 or word[i + 1 :] != token[i:]:  # word[i] left out
        return False
    return word[i] in _VOWELS or word[i] in (word[i - 1], word[i + 1])


@dataclass(frozen=True, slots=True)
class _Word:
    text: str
    prefix: bool  # written with a trailing "*"
    # Long enough to match with one slip. Never with "*": a stem with a slip matches too much
    # ("hospitla*", a listed misspelling, would match every "hospitals").
    fuzzy: bool

    def matches(self, token: str) -> bool:
        if self.prefix:
            return token.startswith(self.text)
        return token == self.text or (self.fuzzy and _one_slip(self.text, token))


@dataclass(frozen=True)
class _Phrase:
    source: str  # the list: a PHRASE_FILES name, "conditions" or "keyword"
    written: str
    lang: str
    words: tuple[_Word, ...]
    key: str = ""  # the condition key, for conditions


@dataclass(frozen=True, slots=True)
class _Match:
    phrase: _Phrase
    first: int  # token indexes, inclusive
    last: int


@dataclass(frozen=True, slots=True)
class _Starts:
    """The phrases whose first word matches one word of text, sorted for a quick check of the
    rest: most longer phrases are rejected by one dictionary lookup of the next word."""

    single: tuple[_Phrase, ...]  # one-word phrases: already a match
    by_next: dict[str, tuple[_Phrase, ...]]  # longer ones whose 2nd word is exact, by that word
    other: tuple[_Phrase, ...]  # longer ones whose 2nd word has a "*" or allows a slip


_NO_STARTS = _Starts((), {}, ())


def _starts(phrases: Sequence[_Phrase]) -> _Starts:
    if not phrases:
        return _NO_STARTS
    by_next: dict[str, list[_Phrase]] = {}
    for phrase in phrases:
        if len(phrase.words) > 1 and not phrase.words[1].prefix and not phrase.words[1].fuzzy:
            by_next.setdefault(phrase.words[1].text, []).append(phrase)
    return _Starts(
        single=tuple(p for p in phrases if len(p.words) == 1),
        by_next={k: tuple(v) for k, v in by_next.items()},
        other=tuple(
            p for p in phrases if len(p.words) > 1 and (p.words[1].prefix or p.words[1].fuzzy)
        ),
    )


class _Matcher:
    """Every phrase of a vocabulary, indexed by its first word, so a scan costs a few dictionary
    lookups per word of text whatever the number of phrases."""

    def __init__(self, phrases: Iterable[_Phrase]) -> None:
        self._exact: dict[str, list[_Phrase]] = {}
        self._prefix: dict[int, dict[str, list[_Phrase]]] = {}
        # Phrases whose first word may match with a slip, by its first two letters (which a slip
        # never touches), so that a word of text has few candidates to compare with.
        self._fuzzy: dict[str, list[_Phrase]] = {}
        for phrase in phrases:
            first = phrase.words[0]
            if first.prefix:
                by_length = self._prefix.setdefault(len(first.text), {})
                by_length.setdefault(first.text, []).append(phrase)
            else:
                self._exact.setdefault(first.text, []).append(phrase)
            if first.fuzzy:
                self._fuzzy.setdefault(first.text[:2], []).append(phrase)
        self._lengths = sorted(self._prefix)
        self._cache: dict[str, _Starts] = {}

    def _starting_with(self, token: str) -> _Starts:
        found = list(self._exact.get(token, ()))
        for length in self._lengths:
            if length > len(token):
                break
            found.extend(self._prefix[length].get(token[:length], ()))
        # A word that starts a phrase as written is meant as written, not a slip for another.
        if not found and len(token) >= FUZZY_MIN_LETTERS - 1 and token.isalpha():
            found.extend(p for p in self._fuzzy.get(token[:2], ()) if p.words[0].matches(token))
        result = _starts(found)
        if len(self._cache) > 100_000:  # bounded: chat text is unbounded vocabulary
            self._cache.clear()
        self._cache[token] = result
        return result

    def find(self, words: Sequence[str]) -> list[_Match]:
        matches: list[_Match] = []
        count = len(words)
        cache = self._cache

        def rest_matches(phrase: _Phrase, i: int, since: int) -> bool:
            pattern = phrase.words
            n = len(pattern)
            return i + n <= count and all(pattern[k].matches(words[i + k]) for k in range(since, n))

        for i, word in enumerate(words):
            starts = cache.get(word)
            if starts is None:
                starts = self._starting_with(word)
            if starts is _NO_STARTS:
                continue
            for phrase in starts.single:
                matches.append(_Match(phrase, i, i))
            if i + 1 == count:
                continue
            for phrase in starts.by_next.get(words[i + 1], ()):
                if rest_matches(phrase, i, 2):
                    matches.append(_Match(phrase, i, i + len(phrase.words) - 1))
            for phrase in starts.other:
                if rest_matches(phrase, i, 1):
                    matches.append(_Match(phrase, i, i + len(phrase.words) - 1))
        return matches


def _parse_phrase(
    written: str,
    abbreviations: _Abbreviations,
    *,
    source: str,
    lang: str = "",
    key: str = "",
    fuzzy: bool = True,
    strict: bool = True,
) -> _Phrase:
    """Turn a phrase as written into words; ``strict`` (data files) refuses doubtful syntax with a
    ValueError, lenient (admin keywords) reads what it can."""
    cleaned: list[str] = []
    star_ends: set[int] = set()
    for raw_word in written.split():
        if strict and "*" in raw_word.rstrip("*"):
            raise ValueError(f"'*' may only end a word, not sit inside '{raw_word}'")
        stem = raw_word.rstrip("*")
        if cleaned:
            cleaned.append(" ")
        cleaned.append(stem.replace("*", ""))
        if raw_word.endswith("*"):
            if strict and len(_fold(stem)) < 3:
                raise ValueError(f"'{raw_word}': a wildcard needs at least 3 letters before '*'")
            star_ends.add(sum(len(c) for c in cleaned))
    parsed = abbreviations.expand("".join(cleaned))
    if not parsed.words:
        raise ValueError(f"'{written}' has no words")
    words = []
    for k, text in enumerate(parsed.words):
        # An expanded abbreviation's words share one span: only the last takes the wildcard.
        last_of_span = k + 1 == len(parsed.words) or parsed.lasts[k + 1] != parsed.lasts[k]
        prefix = parsed.end(k) in star_ends and last_of_span
        slips = fuzzy and not prefix and text.isalpha() and len(text) >= FUZZY_MIN_LETTERS
        words.append(_Word(text, prefix, slips))
    return _Phrase(source, written, lang, tuple(words), key)


# --- the data files -------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Vocabulary:
    abbreviations: _Abbreviations
    entries: dict[str, tuple[PhraseEntry, ...]]
    conditions: dict[str, tuple[str, ...]]
    matcher: _Matcher


def _content_lines(path: Path) -> Iterator[tuple[int, str]]:
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            yield number, stripped


def _error(path: Path, number: int, line: str, problem: str) -> ValueError:
    return ValueError(f"{path.name}, line {number}: {problem}: {line!r}")


def _load_abbreviations(path: Path) -> _Abbreviations:
    by_raw: dict[str, list[_Abbreviation]] = {}
    by_folded: dict[str, list[_Abbreviation]] = {}
    after_number = False
    for number, line in _content_lines(path):
        if line.startswith("["):
            if line not in ("[anywhere]", "[after a number]"):
                raise _error(path, number, line, "sections are [anywhere] and [after a number]")
            after_number = line == "[after a number]"
            continue
        parts = [p.strip() for p in line.split("=>")]
        if len(parts) != 2 or not all(parts):
            raise _error(path, number, line, "expected 'ABBREVIATION => expansion'")
        written, expansion = parts
        matches = list(_WORD_RE.finditer(written))
        words = tuple(_fold(m.group()) for m in matches)
        if not all(words) or not _plain_words(expansion):
            raise _error(path, number, line, "both sides need words")
        # Any capital makes it case-sensitive: "ER" is the emergency room, German "er" is "he".
        case_sensitive = any(c.isupper() for c in written)
        abbr = _Abbreviation(
            words=tuple(m.group() for m in matches) if case_sensitive else words,
            gaps=tuple(
                "".join(written[a.end() : b.start()].split())
                for a, b in itertools.pairwise(matches)
            ),
            expansion=_plain_words(expansion),
            case_sensitive=case_sensitive,
            after_number=after_number,
        )
        index = by_raw if case_sensitive else by_folded
        index.setdefault(abbr.words[0], []).append(abbr)

    def longest_first(
        index: dict[str, list[_Abbreviation]],
    ) -> dict[str, tuple[_Abbreviation, ...]]:
        return {k: tuple(sorted(v, key=lambda a: -len(a.words))) for k, v in index.items()}

    return _Abbreviations(longest_first(by_raw), longest_first(by_folded))


def _load_phrase_file(
    path: Path, abbreviations: _Abbreviations, *, fuzzy: bool
) -> tuple[list[PhraseEntry], list[_Phrase]]:
    entries: list[PhraseEntry] = []
    phrases: list[_Phrase] = []
    lang = ""
    for number, line in _content_lines(path):
        if line.startswith("["):
            if line[1:-1] not in LANGUAGES or not line.endswith("]"):
                raise _error(path, number, line, f"a section is one of {', '.join(LANGUAGES)}")
            lang = line[1:-1]
            continue
        if not lang:
            raise _error(path, number, line, "a phrase before the first [language] header")
        parts = [p.strip() for p in line.split("|")]
        if len(parts) != 2 or not all(parts):
            raise _error(path, number, line, "expected 'phrase | example sentence'")
        written, example = parts
        try:
            phrase = _parse_phrase(written, abbreviations, source=path.stem, lang=lang, fuzzy=fuzzy)
        except ValueError as problem:
            raise _error(path, number, line, str(problem)) from None
        phrases.append(phrase)
        entries.append(PhraseEntry(path.stem, lang, written, example, path.name, number))
    return entries, phrases


def _load_conditions(
    path: Path, abbreviations: _Abbreviations
) -> tuple[dict[str, tuple[str, ...]], list[_Phrase]]:
    conditions: dict[str, tuple[str, ...]] = {}
    phrases: list[_Phrase] = []
    for number, line in _content_lines(path):
        parts = [p.strip() for p in line.split("|")]
        if len(parts) != 2 or not re.fullmatch(r"[a-z0-9_]+", parts[0]):
            raise _error(path, number, line, "expected 'condition_key | synonym; synonym; ...'")
        key, synonyms = parts[0], [s.strip() for s in parts[1].split(";") if s.strip()]
        if not synonyms:
            raise _error(path, number, line, "a condition needs at least one synonym")
        if key in conditions:
            raise _error(path, number, line, f"'{key}' is already defined")
        for synonym in synonyms:
            try:
                phrases.append(
                    _parse_phrase(synonym, abbreviations, source=CONDITIONS_FILE, key=key)
                )
            except ValueError as problem:
                raise _error(path, number, line, str(problem)) from None
        conditions[key] = tuple(synonyms)
    return conditions, phrases


def _load_vocabulary(directory: Path) -> _Vocabulary:
    """Parse every data file of ``directory``; a malformed line raises ValueError naming the file
    and line, so a broken edit fails the test suite rather than silently missing events."""
    abbreviations = _load_abbreviations(directory / f"{ABBREVIATIONS_FILE}.txt")
    entries: dict[str, tuple[PhraseEntry, ...]] = {}
    phrases: list[_Phrase] = []
    for name in PHRASE_FILES:
        # Negations are short function words: a slip there would negate unrelated text.
        file_entries, file_phrases = _load_phrase_file(
            directory / f"{name}.txt", abbreviations, fuzzy=name != "negations"
        )
        entries[name] = tuple(file_entries)
        phrases.extend(file_phrases)
    conditions, condition_phrases = _load_conditions(
        directory / f"{CONDITIONS_FILE}.txt", abbreviations
    )
    phrases.extend(condition_phrases)
    return _Vocabulary(abbreviations, entries, conditions, _Matcher(phrases))


@cache
def _vocabulary() -> _Vocabulary:
    return _load_vocabulary(PHRASES_DIR)


def phrase_lists() -> dict[str, tuple[PhraseEntry, ...]]:
    """Every line of the phrase-list files, by list name (the file name without ``.txt``:
    adverse_event, patient_affected, off_label, negations, pediatric, elderly), in file order.

    Each entry carries its example sentence, which the tests check is found with that phrase.
    """
    return dict(_vocabulary().entries)


def conditions() -> dict[str, tuple[str, ...]]:
    """The condition vocabulary of ``conditions.txt``: condition key → synonyms as written. The
    keys are what :attr:`LabelFacts.indications` holds."""
    return dict(_vocabulary().conditions)


# --- scanning a text ------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Scan:
    words: _Words
    matches: tuple[_Match, ...]

    @property
    def text(self) -> str:
        return self.words.text

    def raw(self, first: int, last: int) -> str:
        return self.words.raw(first, last)

    def of(self, source: str) -> list[_Match]:
        return [m for m in self.matches if m.phrase.source == source]


@lru_cache(maxsize=256)
def _scan(text: str) -> _Scan:
    # Cached because the routing engine asks several detectors about the same text in a row.
    vocabulary = _vocabulary()
    words = vocabulary.abbreviations.expand(text)
    return _Scan(words, tuple(vocabulary.matcher.find(words.words)))


def normalize(text: str) -> str:
    """``text`` as the detectors see it: folded words with abbreviations expanded, joined by
    single spaces (``"Pt had a RXN in the ER"`` → ``"patient had a reaction in the emergency
    room"``)."""
    return " ".join(_scan(text).words.words)


@dataclass(frozen=True, slots=True)
class _Located:
    first: int
    last: int
    hit: Hit


class _Spanned(Protocol):
    @property
    def first(self) -> int: ...
    @property
    def last(self) -> int: ...


_S = TypeVar("_S", bound=_Spanned)


def _outermost(located: Iterable[_S]) -> list[_S]:
    """Drop hits lying inside a longer one ("reaction" inside "allergic reaction"), so each part
    of the text gives one reason; the survivors in text order."""
    kept: list[_S] = []
    reach = -1
    for item in sorted(located, key=lambda x: (x.first, -x.last)):
        if item.last > reach:
            kept.append(item)
            reach = item.last
    return kept


# Punctuation closes a negation's scope: in "No, the patient died" nothing is denied.
_SCOPE_BREAK = re.compile(r"[.,;:!?()]")
NEGATION_WINDOW = 3  # tokens


def _negator_before(scan: _Scan, match: _Match, negators: Sequence[_Match]) -> _Match | None:
    for negator in negators:
        if match.first - NEGATION_WINDOW <= negator.last < match.first:
            between = scan.text[scan.words.end(negator.last) : scan.words.start(match.first)]
            if not _SCOPE_BREAK.search(between):
                return negator
    return None


_MENTION = {
    "adverse_event": "the text mentions '{0}'",
    "patient_affected": "the text mentions '{0}': a patient may have been affected",
    "off_label": "the text mentions '{0}': a use outside the label",
    "negations": "the text mentions '{0}'",
    "pediatric": "the text mentions '{0}'",
    "elderly": "the text mentions '{0}'",
    "conditions": "the text mentions '{0}'",
}


def _phrase_hits(scan: _Scan, source: str, hit_list: str) -> list[_Located]:
    negators = scan.of("negations")
    located = []
    for match in scan.of(source):
        matched = scan.raw(match.first, match.last)
        negator = _negator_before(scan, match, negators)
        if negator is None:
            reason = _MENTION[source].format(matched)
        else:
            said = scan.raw(negator.first, match.last)
            reason = f"the text says '{said}': a negation, flagged for review anyway"
        hit = Hit(
            list=hit_list,
            phrase=match.phrase.written,
            matched=matched,
            lang=match.phrase.lang,
            negated=negator is not None,
            reason=reason,
        )
        located.append(_Located(match.first, match.last, hit))
    return located


def find_phrases(text: str, list_name: str) -> tuple[Hit, ...]:
    """Every phrase of one data list found in ``text``, overlapping ones included, in text order.

    ``list_name`` is a :data:`PHRASE_FILES` name or ``"conditions"`` (hits then carry the
    synonym as written in ``phrase``); ``Hit.list`` is that name. For tests and for tools that
    show a safety officer what a phrase catches; the detectors below are what routing uses.
    """
    if list_name not in (*PHRASE_FILES, CONDITIONS_FILE):
        raise ValueError(f"unknown phrase list '{list_name}'")
    located = _phrase_hits(_scan(text), list_name, list_name)
    return tuple(x.hit for x in sorted(located, key=lambda x: (x.first, -x.last)))


# --- the detectors --------------------------------------------------------------------------------
def detect_adverse_event(text: str) -> Finding:
    """Phrases of ``adverse_event.txt`` in ``text``: anything that may describe a patient harmed
    by, or reacting to, a product (side effect, overdose, pregnancy exposure, death,
    hospitalisation, lack of effect, medication error...). Negated mentions are hits too, with
    ``negated=True``: PV reviews them rather than the detector deciding."""
    scan = _scan(text)
    located = _outermost(_phrase_hits(scan, "adverse_event", HitList.ADVERSE_EVENT))
    return Finding(tuple(x.hit for x in located))


def detect_patient_affected(text: str) -> Finding:
    """Whether a product quality complaint involved a patient: phrases of
    ``patient_affected.txt`` ("the patient took", "injured") plus every adverse-event hit (those
    keep ``list="adverse_event"``), in text order."""
    scan = _scan(text)
    affected = _outermost(_phrase_hits(scan, "patient_affected", HitList.PATIENT_AFFECTED))
    events = _outermost(_phrase_hits(scan, "adverse_event", HitList.ADVERSE_EVENT))
    both = sorted(affected + events, key=lambda x: (x.first, -x.last))
    return Finding(tuple(x.hit for x in both))


def detect_off_label(text: str, label: LabelFacts | None) -> Finding:
    """Off-label intent in ``text``.

    The generic phrases of ``off_label.txt`` ("off-label", "hors AMM") always count. With the
    product's ``label``, so do: a condition of ``conditions.txt`` that is not an approved
    indication; a stated age, age bound ("under 12") or population word (children, elderly)
    outside the approved ages; a dose in mg, g or µg outside the approved single-dose range.
    """
    scan = _scan(text)
    located = _phrase_hits(scan, "off_label", HitList.OFF_LABEL)
    if label is not None:
        located += _condition_hits(scan, label)
        located += _age_hits(scan, label)
        located += _dose_hits(scan, label)
    return Finding(tuple(x.hit for x in _outermost(located)))


def _name(label: LabelFacts) -> str:
    return label.product_name or label.product


def _condition_hits(scan: _Scan, label: LabelFacts) -> list[_Located]:
    # Longest mention wins, so "pulmonary hypertension" is not also read as "hypertension".
    located = []
    for mention in _outermost(scan.of(CONDITIONS_FILE)):
        key = mention.phrase.key
        if key in label.indications:
            continue
        matched = scan.raw(mention.first, mention.last)
        reason = (
            f"the text asks about '{matched}', which is not an approved indication of "
            f"{_name(label)}"
        )
        hit = Hit(HitList.OFF_LABEL, key, matched, "", reason=reason)
        located.append(_Located(mention.first, mention.last, hit))
    return located


# Ages are read on the normalized text, so one pattern covers "8-year-old", "8 yo", "8 y/o".
# Each pattern reads its number (NUM) as an age in years, or in months when it says so, or as a
# bound; the first that matches wins, so bounds come first: in "menores de 12 años" the bound is
# meant, not an age of 12.
_AGE_SPECS: tuple[tuple[str, str], ...] = (
    # bounds
    (r"(?:under|below|younger than) (?:the age of )?NUM years?", "under"),
    (
        r"(?:patients?|children|kids|people|adults|those|persons) (?:under|below|younger than)"
        r" (?:the age of )?NUM",
        "under",
    ),
    (r"(?:older than|(?:over|above) the age of) NUM", "over"),
    (r"(?:over|above) NUM years? (?:old|of age)", "over"),
    (r"(?:patients?|people|adults|those|persons) (?:over|above) NUM", "over"),
    (r"menores de NUM", "under"),
    (r"mayores de NUM", "over"),
    (r"moins de NUM ans", "under"),
    (r"(?:patients?|personnes?|sujets?|adultes?|ages?) de plus de NUM ans", "over"),
    (r"unter NUM jahren?", "under"),
    (r"(?:patienten|personen|menschen|erwachsene) uber NUM", "over"),
    # babies, in months or weeks
    (r"NUM (?:months?|weeks?|days?) old", "month"),
    (r"(?:bebe|lactante|nino|nina|paciente) de NUM (?:mes|meses|semanas|dias)", "month"),
    (r"NUM (?:meses|semanas|dias) de edad", "month"),
    (r"(?:bebe|nourrisson|enfant|patient|patiente) de NUM (?:mois|semaines|jours)", "month"),
    (r"NUM (?:monate|wochen|tage) alt", "month"),
    (r"NUM (?:monatig|wochig)\w*", "month"),
    # exact ages, in years
    (r"NUM years? old", "year"),
    (r"NUM years? of age", "year"),
    (r"(?:aged?|age of|at age) NUM", "year"),
    (r"(?:de|tiene|tenia|cumplio) NUM anos", "year"),
    (r"NUM anos de edad", "year"),
    (r"edad de NUM", "year"),
    (r"(?:de|a|ai|as|avait|ont) NUM ans", "year"),
    (r"NUM jahrig\w*", "year"),
    (r"NUM jahre alt", "year"),
    (r"alter von NUM", "year"),
)


def _alternative(k: int, spec: str) -> str:
    number = f"(?P<n{k}>" + r"\d{1,3})"
    return f"(?P<p{k}>{spec.replace('NUM', number)})" + r"\b"


# One regular expression, the patterns as alternatives in order, each in a group of its own.
_AGE_RE = re.compile("|".join(_alternative(k, spec) for k, (spec, _) in enumerate(_AGE_SPECS)))
PEDIATRIC_AGES = (0, 17)  # what "children", "pediatric" and the like mean: under 18
ELDERLY_AGES = (65, None)


def _approved_ages(label: LabelFacts) -> str:
    if label.min_age is not None and label.max_age is not None:
        return f"{label.min_age}\N{EN DASH}{label.max_age} years"
    if label.min_age is not None:
        return f"{label.min_age} years and older"
    return f"up to {label.max_age} years"


def _outside_ages(label: LabelFacts, low: int, high: int | None) -> bool:
    """True unless every age in [low, high] is approved (high None: no upper end)."""
    if label.min_age is not None and low < label.min_age:
        return True
    return label.max_age is not None and (high is None or high > label.max_age)


# An age pattern spans at most this many words before and after its number.
_AGE_WINDOW = (6, 4)
# Every age pattern has one of these right after its number, or one of the second set at most
# three words before it: numbers without either (doses, lab values, dates) skip the patterns.
_AGE_UNITS = frozenset(
    "year years month months week weeks day days ano anos mes meses semanas dias ans mois "
    "semaines jours jahre jahren monate wochen tage".split()
)
_AGE_UNIT_STEMS = ("jahrig", "monatig", "wochig")
_AGE_CUES = frozenset(
    "under below younger older over above aged age menores mayores edad moins plus unter uber "
    "alter".split()
)


def _age_mentions(words: Sequence[str]) -> Iterator[tuple[int, int, str, int]]:
    """(first word, last word, relation, number) of each stated age or age bound: the first
    pattern that reads a number as an age wins.

    The patterns only run on a few words around each number, since numbers are rare in text and
    three dozen regular expressions over a whole chat transcript are not.
    """
    before, after = _AGE_WINDOW
    for i, word in enumerate(words):
        if not word.isdigit() or len(word) > 3:
            continue
        following = words[i + 1] if i + 1 < len(words) else ""
        if not (
            following in _AGE_UNITS
            or following.startswith(_AGE_UNIT_STEMS)
            or _AGE_CUES.intersection(words[max(0, i - 3) : i])
        ):
            continue
        low = max(0, i - before)
        window = words[low : i + after + 1]
        starts = list(itertools.accumulate((len(w) + 1 for w in window[:-1]), initial=0))
        number_at = starts[i - low]
        text = " ".join(window)
        # Try the patterns from each word up to the number, the widest context first.
        for start in starts[: i - low + 1]:
            m = _AGE_RE.match(text, start)
            if m is None or m.lastgroup is None:
                continue
            k = int(m.lastgroup[1:])
            if m.start(f"n{k}") != number_at:
                continue
            first = low + bisect.bisect_right(starts, m.start()) - 1
            last = low + bisect.bisect_right(starts, m.end() - 1) - 1
            yield first, last, _AGE_SPECS[k][1], int(m.group(f"n{k}"))
            break


def _age_hits(scan: _Scan, label: LabelFacts) -> list[_Located]:
    if label.min_age is None and label.max_age is None:
        return []
    located = []

    def add(first: int, last: int, phrase: str, lang: str, ages: str) -> None:
        matched = scan.raw(first, last)
        reason = (
            f"the text mentions '{matched}' ({ages}), outside the approved ages of "
            f"{_name(label)} ({_approved_ages(label)})"
        )
        located.append(
            _Located(first, last, Hit(HitList.OFF_LABEL, phrase, matched, lang, reason=reason))
        )

    for first, last, relation, n in _age_mentions(scan.words.words):
        if relation == "year":
            low, high, ages = n, n, f"age {n}"
        elif relation == "month":
            low, high, ages = 0, 0, "under 1 year"
        elif relation == "under":
            low, high, ages = 0, max(n - 1, 0), f"under {n}"
        else:
            low, high, ages = n + 1, None, f"over {n}"
        if _outside_ages(label, low, high):
            add(first, last, "age outside the label", "", ages)
    for source, (low, high), ages in (
        ("pediatric", PEDIATRIC_AGES, "under 18"),
        ("elderly", ELDERLY_AGES, "65 and older"),
    ):
        if _outside_ages(label, low, high):
            for match in scan.of(source):
                add(match.first, match.last, match.phrase.written, match.phrase.lang, ages)
    return located


# Doses are read on the original text, where "0,5" and "1.000" still have their separators.
_UNITS = {
    **dict.fromkeys(
        "mg milligram milligrams milligramme milligrammes miligramo miligramos milligramm".split(),
        1.0,
    ),
    **dict.fromkeys("g gram grams gramme grammes gramo gramos gramm".split(), 1000.0),
    **dict.fromkeys(
        "mcg µg μg ug microgram micrograms microgramme microgrammes microgramo microgramos "
        "mikrogramm".split(),
        0.001,
    ),
}
# A number, then a unit spelt as a tree of literal prefixes: starting with a digit lets the regex
# engine skip quickly to the few places a dose may start. Not a longer word, and not a
# concentration or a weight-based dose ("mg/kg", "mg/dL").
_DOSE_RE = re.compile(
    r"(?P<number>\d[\d.,]*)[ \t\u00a0]*"
    r"(?P<unit>m(?:g|cg|illigram(?:me)?s?|iligramos?|illigramm|icrogram(?:me)?s?|icrogramos?"
    r"|ikrogramm)|[µμu]g|g(?:ram(?:me)?s?|ramos?|ramm)?)"
    r"(?![^\W_])(?!\s*/\s*(?:kg|m2|m²|ml|dl|l)(?![^\W_]))",
    re.IGNORECASE,
)
_NUMBER = r"\d{1,3}(?:[.,]\d{3})+(?:[.,]\d+)?|\d+(?:[.,]\d+)?"
_NUMBER_RE = re.compile(_NUMBER)
# "10-20 mg", "10 to 20 mg", "10 a 20 mg", "10 bis 20 mg": the first number of a range.
_RANGE_START_RE = re.compile(
    rf"(?<![\w.,])({_NUMBER})\s*(?:[-\u2013\u2014]|to|a|à|bis|y|et|and|or|o|ou|oder)\s*$",
    re.IGNORECASE,
)


def _doses(text: str) -> Iterator[tuple[int, int, list[str], str]]:
    """(start, end, numbers as written, unit) of each dose in ``text``."""
    for m in _DOSE_RE.finditer(text):
        start, unit = m.start(), m.group("unit")
        if unit == "G":  # "5G" is a network, not five grams
            continue
        if start and (text[start - 1].isalnum() or text[start - 1] in "_.,"):
            continue  # part of a longer token ("HbA1c 7", "v2.5mg")
        written = m.group("number").rstrip(".,")
        if not _NUMBER_RE.fullmatch(written):
            continue
        numbers = [written]
        range_start = _RANGE_START_RE.search(text, max(0, start - 30), start)
        if range_start is not None:
            numbers.insert(0, range_start.group(1))
            start = range_start.start()
        yield start, m.end(), numbers, unit


def _parse_number(written: str) -> float:
    # "1,000" and "1.000" are a thousand; "0,5" and "2.5" are decimals.
    if re.fullmatch(r"[1-9]\d{0,2}(?:,\d{3})+|[1-9]\d{0,2}(?:\.\d{3})+", written):
        return float(written.replace(",", "").replace(".", ""))
    if "," in written and "." in written:
        decimal = max(written.rfind(","), written.rfind("."))
        whole = written[:decimal].replace(",", "").replace(".", "")
        return float(f"{whole}.{written[decimal + 1 :]}")
    return float(written.replace(",", "."))


def _dose_hits(scan: _Scan, label: LabelFacts) -> list[_Located]:
    low, high = label.dose_min_mg, label.dose_max_mg
    if low is None and high is None:
        return []
    located = []
    indexes = range(len(scan.words.words))
    for start, end, numbers, unit in _doses(scan.text):
        factor = _UNITS[unit.lower()]
        for written in numbers:
            mg = _parse_number(written) * factor
            if (low is None or mg >= low) and (high is None or mg <= high):
                continue
            said = f"{_parse_number(written):g} {unit}"
            if factor != 1.0:
                said += f" ({mg:g} mg)"
            if low is not None and high is not None:
                approved = f"the approved {low:g}\N{EN DASH}{high:g} mg range"
            elif high is not None:
                approved = f"the approved maximum of {high:g} mg"
            else:
                approved = f"the approved minimum of {low:g} mg"
            reason = f"the text mentions {said}, outside {approved} of {_name(label)}"
            first = bisect.bisect_right(indexes, start, key=scan.words.end)
            last = max(first, bisect.bisect_left(indexes, end, key=scan.words.end))
            matched = scan.text[start:end]
            hit = Hit(HitList.OFF_LABEL, "dose outside the label", matched, "", reason=reason)
            located.append(_Located(first, min(last, len(indexes) - 1), hit))
            break  # one hit per dose mention, even for a range with both ends outside
    return located


# --- administrators' keywords ---------------------------------------------------------------------
@lru_cache(maxsize=256)
def _keyword_matcher(keywords: tuple[str, ...]) -> _Matcher:
    abbreviations = _vocabulary().abbreviations
    phrases = []
    for keyword in keywords:
        try:
            # No slips: an administrator's keyword means exactly what it says.
            phrases.append(
                _parse_phrase(keyword, abbreviations, source="keyword", fuzzy=False, strict=False)
            )
        except ValueError:
            continue  # a keyword without words cannot match anything
    return _Matcher(phrases)


def keyword_hit(text: str, keywords: Sequence[str]) -> Hit | None:
    """The first of an administrator's ``keywords`` found in ``text`` (earliest in the text; on a
    tie, the one listed first), or ``None``.

    Keywords use the phrase syntax of the data files (whole words in sequence, ``*`` ending a word
    for a prefix, case and accents ignored, abbreviations expanded), without typing slips.
    """
    scan = _scan(text)
    matches = _keyword_matcher(tuple(keywords)).find(scan.words.words)
    if not matches:
        return None
    order = {k: i for i, k in reversed(list(enumerate(keywords)))}
    best = min(matches, key=lambda m: (m.first, order.get(m.phrase.written, 0)))
    matched = scan.raw(best.first, best.last)
    return Hit(
        list=HitList.KEYWORD,
        phrase=best.phrase.written,
        matched=matched,
        lang="",
        reason=f"the text mentions '{matched}' (keyword '{best.phrase.written}')",
    )
