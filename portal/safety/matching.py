"""Reading text the way the detectors do: normalization, abbreviations, phrases and the matcher.

Text and phrases go through the same normalization, so matching is on whole words, in English,
Spanish, French and German alike, whatever the case and accents (see ``detection`` for the
rules as a safety officer reads them). Pure functions, no database and no Flask.
"""

from __future__ import annotations

import itertools
import re
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from pathlib import Path

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
        phrases = tuple(phrases)
        self._all = phrases
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

    def _phrases(self) -> tuple[_Phrase, ...]:
        """Every phrase, in the order given (for tests and tools)."""
        return self._all

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
