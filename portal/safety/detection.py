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
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from enum import StrEnum
from functools import cache, lru_cache
from pathlib import Path
from typing import Protocol, TypeVar

from portal.safety import learned, shape
from portal.safety.matching import (
    _Abbreviations,
    _content_lines,
    _error,
    _load_abbreviations,
    _Match,
    _Matcher,
    _parse_phrase,
    _Phrase,
    _plain_words,
    _Words,
)

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


# --- the data files -------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Vocabulary:
    abbreviations: _Abbreviations
    entries: dict[str, tuple[PhraseEntry, ...]]
    conditions: dict[str, tuple[str, ...]]
    matcher: _Matcher


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
    phrases.extend(shape.phrases(abbreviations))
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
    words = vocabulary.abbreviations.expand(shape.clean(text))
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
def detect_adverse_event(
    text: str,
    *,
    products: Sequence[str] = (),
    second_reader: bool = True,
    reader: learned.Model | None = None,
) -> Finding:
    """Anything in ``text`` that may describe a patient harmed by, or reacting to, a product.

    Two readings, both flagging: the safety officer's phrases of ``adverse_event.txt`` (side
    effect, overdose, hospitalised...; negated mentions are hits too, with ``negated=True``, PV
    reviews them rather than the detector deciding), and the shape of a report
    (:mod:`portal.safety.shape`): a clinical event, an abnormal value or a special situation
    told as something that happened to someone exposed. ``products`` are the company's product
    names (a misspelt one counts too): a named product is an exposure.

    The second reader (:mod:`portal.safety.learned`, a model learned from labelled texts) flags
    what neither reading does when its score reaches the model's threshold, and takes back a
    flag that rests on the shape alone when its score is below the model's ``veto`` (a dosing
    question that names a condition, a storage question that says "sat at 14C for 6h"): on
    writers it had never seen that cost no report (``bench/ae_train.py``). The safety
    officer's phrases are never taken back, and a text of fewer than four words is the rules'
    alone (too little for the model to weigh: "Good morning"). ``second_reader=False`` measures
    the rules alone; ``reader`` replaces the shipped model (``bench/ae_train.py`` measures models
    in training)."""
    scan = _scan(text)
    product_at = product_mentions(scan.words.words, products)
    reading = shape.Reading(scan.words, scan.matches, product_at)
    # The safety officer's phrases flag wherever they are, except in a sentence that only asks
    # about a possibility or a rate, or names the patient's past ("history of stroke").
    located = [
        x
        for x in _phrase_hits(scan, "adverse_event", HitList.ADVERSE_EVENT)
        if x.hit.negated or not (reading.is_topic(x.first) or reading.is_history(x.first, x.last))
    ]
    # The safety officer's phrase keeps its own words where the shape reads the same place.
    taken = {i for x in located for i in range(x.first, x.last + 1)}
    shaped = [x for x in _shape_hits(scan, reading) if taken.isdisjoint(range(x.first, x.last + 1))]
    if second_reader and not located:
        reader = reader or learned.model()
        score = reader.weigh(text)
        if score is not None and not shaped:
            return Finding(_learned_hits(reader, text, score))
        if score is not None and score < reader.veto:
            return Finding()
    return Finding(tuple(x.hit for x in _outermost(located + shaped)))


def _learned_hits(reader: learned.Model, text: str, score: float) -> tuple[Hit, ...]:
    if score < reader.threshold:
        return ()
    reason = (
        f"the wording reads like an adverse-event report to a model learned from "
        f"{reader.texts} labelled texts (score {score:.2f})"
    )
    words = reader.strongest_words(text)
    return (Hit(HitList.ADVERSE_EVENT, "learned model", words, "", reason=reason),)


def _shape_hits(scan: _Scan, reading: shape.Reading) -> list[_Located]:
    negators = scan.of("negations")
    # Only a negation of absence ("no rash", "sin fiebre") takes an event back; "hasn't been
    # sleeping" or "nicht mehr laufen" still tell one.
    negated = [
        m.phrase.source == shape.EVENT
        and (negator := _negator_before(scan, m, negators)) is not None
        and negator.phrase.written.rstrip("*").casefold() in shape.ABSENCE_NEGATIONS
        for m in scan.matches
    ]
    located = []
    for part in reading.parts(negated):
        matched = scan.raw(part.first, part.last)
        reason = f"the text mentions '{matched}': {part.why}, told as something that happened"
        hit = Hit(HitList.ADVERSE_EVENT, part.phrase, matched, part.lang, reason=reason)
        located.append(_Located(part.first, part.last, hit))
    return located


def product_mentions(words: Sequence[str], products: Sequence[str]) -> list[int]:
    """Indexes of the words that name one of ``products`` (folded words of a scan), allowing
    one typing slip anywhere but the first letter in names of five letters or more: writers
    misspell brand names ("cardiovax", "Oncorra", "respirra") more than any other word."""
    names = _product_names(tuple(products))
    if not names:
        return []
    return [i for i, word in enumerate(words) if _names_product(word, names)]


@lru_cache(maxsize=64)
def _product_names(products: tuple[str, ...]) -> frozenset[str]:
    return frozenset(w for name in products for w in _plain_words(name) if len(w) >= 4)


@lru_cache(maxsize=65536)
def _names_product(word: str, names: frozenset[str]) -> bool:
    if word in names:
        return True
    return len(word) >= 5 and any(_within_one_edit(word, name) for name in names)


def _within_one_edit(word: str, name: str) -> bool:
    """Damerau-Levenshtein distance 1, the first letter kept."""
    if word[0] != name[0] or abs(len(word) - len(name)) > 1 or len(name) < 5:
        return False
    i = 0
    while i < min(len(word), len(name)) and word[i] == name[i]:
        i += 1
    if len(word) == len(name):
        if i == len(word) - 1:
            return False  # the last letter is where words inflect ("respire", "Respira")
        return word[i + 1 :] == name[i + 1 :] or (
            word[i + 2 :] == name[i + 2 :] and word[i : i + 2] == name[i : i + 2][::-1]
        )
    longer, shorter = (word, name) if len(word) > len(name) else (name, word)
    return longer[i + 1 :] == shorter[i:]


def detect_patient_affected(text: str) -> Finding:
    """Whether a product quality complaint involved a patient: phrases of
    ``patient_affected.txt`` ("the patient took", "injured") plus every adverse-event hit (those
    keep ``list="adverse_event"``), in text order."""
    scan = _scan(text)
    affected = _outermost(_phrase_hits(scan, "patient_affected", HitList.PATIENT_AFFECTED))
    events = _outermost(
        _phrase_hits(scan, "adverse_event", HitList.ADVERSE_EVENT)
        + _shape_hits(scan, shape.Reading(scan.words, scan.matches))
    )
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


def tokens(text: str) -> tuple[str, ...]:
    """The words of ``text`` as every detector reads them (folded, abbreviations expanded),
    without looking anything up: the bare cost of reading a text."""
    return _vocabulary().abbreviations.expand(text).words


def clear_scan_cache() -> None:
    """Forget cached scans (benchmarks time a full scan of every text)."""
    _scan.cache_clear()
