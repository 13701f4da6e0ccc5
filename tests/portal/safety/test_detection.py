"""The text detectors: adverse events, affected patients, off-label intent, admin keywords.

Pure functions, no app: every phrase of the data files is checked against its own example, then
tables of real-life phrasings in English, Spanish, French and German that must (or must not) be
flagged.
"""

from __future__ import annotations

import shutil
import unicodedata
from pathlib import Path

import pytest

from portal.safety import detection, matching
from portal.safety.detection import (
    Finding,
    Hit,
    LabelFacts,
    detect_adverse_event,
    detect_off_label,
    detect_patient_affected,
    find_phrases,
    keyword_hit,
    normalize,
    phrase_lists,
)

ENTRIES = [entry for entries in phrase_lists().values() for entry in entries]

CARDIOZEN = LabelFacts(
    product="CARDIOZEN",
    product_name="Cardiozen",
    indications=("hypertension", "heart_failure"),
    min_age=18,
    dose_min_mg=5,
    dose_max_mg=20,
    populations="Adults; not in pregnancy.",
)
RESPIRA = LabelFacts(
    product="RSP",
    product_name="Respira",
    indications=("asthma", "copd"),
    min_age=12,
    max_age=75,
    dose_min_mg=1,
    dose_max_mg=4,
)


# --- the data files -------------------------------------------------------------------------------
@pytest.mark.parametrize("entry", ENTRIES, ids=[f"{e.file}:{e.lang}:{e.phrase}" for e in ENTRIES])
def test_every_phrase_is_found_in_its_own_example(entry):
    found = find_phrases(entry.example, entry.list)
    assert entry.phrase in {hit.phrase for hit in found}, normalize(entry.example)


@pytest.mark.parametrize(
    "entry",
    [e for e in ENTRIES if e.list in ("adverse_event", "patient_affected", "off_label")],
    ids=lambda e: f"{e.file}:{e.lang}:{e.phrase}",
)
def test_every_phrase_example_is_flagged_by_its_detector(entry):
    detector = {
        "adverse_event": detect_adverse_event,
        "patient_affected": detect_patient_affected,
        "off_label": lambda text: detect_off_label(text, None),
    }[entry.list]
    assert detector(entry.example).flagged


@pytest.mark.parametrize(
    "entry",
    [e for e in ENTRIES if e.list == "negations"],
    ids=lambda e: f"{e.file}:{e.lang}:{e.phrase}",
)
def test_every_negation_example_negates_an_adverse_event(entry):
    finding = detect_adverse_event(entry.example)
    assert finding.flagged
    assert any(hit.negated for hit in finding.hits)


def test_every_language_has_phrases_in_every_list():
    for name, entries in phrase_lists().items():
        assert {e.lang for e in entries} == set(detection.LANGUAGES), name


def test_condition_synonyms_are_each_recognised():
    label = LabelFacts(product="X", product_name="Nothing", indications=())
    for key, synonyms in detection.conditions().items():
        for synonym in synonyms:
            text = f"Any data in {synonym.replace('*', '')}?"
            found = detect_off_label(text, label)
            assert key in {hit.phrase for hit in found.hits}, (key, synonym)


def test_the_issue_floor_of_conditions_is_there():
    keys = set(detection.conditions())
    assert len(keys) >= 30
    assert {"hypertension", "heart_failure", "psoriasis", "breast_cancer", "asthma"} <= keys


# --- adverse events -------------------------------------------------------------------------------
POSITIVES = [
    # English, with abbreviations, misspellings and capitals
    ("Pt had a rxn, went to the ER.", "ER"),
    ("pt had rxn after the 2nd dose", "rxn"),
    ("My patient was hospitalised yesterday.", "hospitalised"),
    ("He was HOSPITALIZED for 3 days", "HOSPITALIZED"),
    ("The patient was hospitilized last week", "hospitilized"),
    ("patient was hosptialised overnight", "hosptialised"),
    ("Patient developed a rash on day 2", "rash"),
    ("Any s/e reported with the new formulation? one pt had some", "s/e"),
    ("I want to report an AE", "AE"),
    ("She had bad side affects", "side affects"),
    ("The patient died a week after the first dose.", "died"),
    ("Patient passed away on Sunday", "passed away"),
    ("Patient OD on the tablets", "OD"),
    ("The patient took an overdose", "overdose"),
    ("Patient overdosed on it", "overdosed"),
    ("Pregnant patient exposed in the first trimester.", "Pregnant"),
    ("She is pregnent, can she continue?", "pregnent"),
    ("The drug didn't work for my patient", "didn't work"),
    ("It didnt work at all", "didnt work"),
    ("Suspected lack of effect after 3 months", "lack of effect"),
    ("The pharmacy dispensed the wrong dose", "wrong dose"),
    ("Report of a medication error at the clinic", "medication error"),
    ("Patient had diarhea for days", "diarhea"),
    ("Anaphylactic shock after injection", "Anaphylactic"),
    ("Her lips were swollen after the first dose", "swollen"),
    ("He had a seizure during the night", "seizure"),
    ("She fainted in the waiting room", "fainted"),
    ("Patient reports suicidal thoughts", "suicidal"),
    ("Drug-induced liver injury suspected", "liver injury"),
    ("She is breastfeeding, the baby got a rash", "breastfeeding"),
    ("The nurse gave an expired product to the patient", "expired product"),
    ("rash after dose", "rash"),
    # Spanish, with and without accents
    ("La paciente está embarazada", "embarazada"),
    ("El paciente fue hospitalizado, ¿cubre el seguro?", "hospitalizado"),
    ("El paciente tuvo una reaccion alergica", "reaccion alergica"),
    ("Tuvo efectos secundarios graves", "efectos secundarios"),
    ("El paciente fallecio ayer", "fallecio"),
    ("Tomó una sobredosis", "sobredosis"),
    ("El medicamento no funcionó", "no funcionó"),
    ("Le dieron la dosis equivocada", "dosis equivocada"),
    ("Le salió una erupción", "erupción"),
    # French
    ("Le patient a été hospitalisé", "hospitalisé"),
    ("La patiente est enceinte", "enceinte"),
    ("Effet indésirable grave après la dose", "Effet indésirable"),
    ("Le patient est décédé", "décédé"),
    ("Surdosage accidentel chez un enfant", "Surdosage"),
    ("Le traitement n'a pas marché", "n'a pas marché"),
    ("Une erreur de dose à l'hôpital", "erreur de dose"),
    ("Une eruption cutanee est apparue", "eruption"),
    # German
    ("Patient ist verstorben", "verstorben"),
    ("Patient ist nach der Einnahme verstorben.", "verstorben"),
    ("Starke Nebenwirkungen nach der zweiten Dosis", "Nebenwirkungen"),
    ("Er wurde ins Krankenhaus eingeliefert", "Krankenhaus eingeliefert"),
    ("Die Patientin ist SCHWANGER", "SCHWANGER"),
    ("Er hat eine Überdosis genommen", "Überdosis"),
    ("Er hat eine Ueberdosis genommen", "Ueberdosis"),
    ("Das Medikament hat nicht gewirkt", "hat nicht gewirkt"),
    ("Sie bekam die falsche Dosis", "falsche Dosis"),
    ("Ein Patient hatte nach der zweiten Dosis einen Ausschlag.", "Ausschlag"),
    ("Allergische Reaktion nach der Spritze", "Allergische Reaktion"),
]


@pytest.mark.parametrize(("text", "matched"), POSITIVES, ids=[p[0][:40] for p in POSITIVES])
def test_adverse_event_phrasings_are_flagged(text, matched):
    finding = detect_adverse_event(text)
    assert finding.flagged
    assert matched in {hit.matched for hit in finding.hits}, finding.hits
    assert all(hit.list == "adverse_event" for hit in finding.hits)
    assert all(hit.matched in text for hit in finding.hits), "matched is the writer's own words"


NEGATIVES = [
    # English
    "What is the recommended dose for renal impairment?",
    "What is the usual starting dose in renal impairment?",
    "Where can I order samples?",
    "Could I get starter samples for my clinic?",
    "Is it more effective than placebo?",
    "Please process the reactivation of my account.",
    "Is there an ER formulation available?",
    "Which co-pay programme covers this product?",
    "How do I change my portal e-mail address?",
    "Can the tablets be crushed or split?",
    "What is the half-life of the active substance?",
    "Is it safe with beta blockers in general?",
    "Are there data at 12 weeks versus placebo?",
    "The carton arrived damaged and the seal was broken.",
    "The blister pack was empty.",
    "How should the injection be administered?",
    "Please send the SmPC and the patient information leaflet.",
    "What is the mechanism of action?",
    "Can it be taken with food?",
    "Should the dose be adjusted in hepatic impairment?",
    "I would like to attend the webinar on spelling out dosing tables.",
    "Was decreased renal function an exclusion criterion?",
    "Please send the redacted protocol.",
    "Our hospital pharmacy wants to order 20 packs.",
    "Which hospitals took part in the trial?",
    "I accidentally deleted my saved materials.",
    "Does food have no effect on absorption?",
    "The website login is not working.",
    # Spanish
    "¿Cuál es la dosis recomendada?",
    "¿El medicamento está cubierto por el seguro?",
    "Necesito muestras para mi consulta.",
    "Yo tengo una pregunta sobre el precio.",
    "¿Cómo solicito el reembolso de Cardiovex en Cataluña?",
    "¿Se puede tomar entre 20 y 40 mg al día?",
    # French
    "Quelle est la posologie chez l'insuffisant rénal ?",
    "Je voudrais commander des échantillons.",
    "Le médicament est-il remboursé ?",
    "Quel est le périmètre de l'étude ?",
    # German
    "Er hat eine Frage zur Dosierung.",
    "Können Sie mir Muster schicken?",
    "Wie wird das Medikament gelagert?",
    "Bitte senden Sie mir Unterlagen zur Studie.",
    "Mein Passwort ist abgelaufen.",
    "Darf die Tablette geteilt werden?",
]


@pytest.mark.parametrize("text", NEGATIVES)
def test_ordinary_questions_are_not_flagged(text):
    assert not detect_adverse_event(text).flagged, detect_adverse_event(text).hits
    assert not detect_patient_affected(text).flagged, detect_patient_affected(text).hits
    assert not detect_off_label(text, None).flagged, detect_off_label(text, None).hits


def test_german_er_is_not_the_emergency_room_but_capital_er_is():
    assert "emergency" not in normalize("Er hat eine Frage, er wartet.")
    assert normalize("went to the ER") == "went to the emergency room"


@pytest.mark.parametrize(
    ("text", "matched"),
    [
        ("The patient was hospitalzed overnight", "hospitalzed"),
        ("Swellling of the lips", "Swellling"),
        ("The patient is now decesed", "decesed"),
        ("Signs of hypersensitivty", "hypersensitivty"),
    ],
)
def test_one_typing_slip_in_a_long_word_is_forgiven(text, matched):
    assert matched in {hit.matched for hit in detect_adverse_event(text).hits}


@pytest.mark.parametrize(
    ("word", "other"),
    [
        ("deceased", "decreased"),
        ("reacted", "redacted"),
        ("infection", "injection"),
        ("swelling", "spelling"),
        ("fainted", "painted"),
        ("received", "receive"),
    ],
)
def test_a_different_real_word_is_not_a_slip(word, other):
    assert not matching._one_slip(word, other)


def test_decomposed_accents_are_read_like_composed_ones():
    decomposed = unicodedata.normalize("NFD", "Le patient a été hospitalisé")
    (hit,) = detect_adverse_event(decomposed).hits
    assert hit.matched == unicodedata.normalize("NFD", "hospitalisé")


def test_reason_quotes_the_writers_words():
    finding = detect_adverse_event("My patient was hospitalised yesterday.")
    assert finding.reasons == ["the text mentions 'hospitalised'"]


def test_a_longer_phrase_hides_the_shorter_one_inside_it():
    finding = detect_adverse_event("She had an allergic reaction.")
    assert [hit.matched for hit in finding.hits] == ["allergic reaction"]


def test_hits_and_reasons_come_in_text_order_without_duplicates():
    finding = detect_adverse_event("A rash, then a rash again, then she was hospitalised.")
    assert [hit.matched for hit in finding.hits] == ["rash", "rash", "hospitalised"]
    assert finding.reasons == [
        "the text mentions 'rash'",
        "the text mentions 'hospitalised'",
    ]


def test_an_empty_text_flags_nothing():
    assert detect_adverse_event("") == Finding()
    assert not Finding().flagged
    assert Finding().reasons == []


# --- negation -------------------------------------------------------------------------------------
NEGATED = [
    ("No side effects so far, what dose next?", "No side effects"),
    ("The patient did not have any rash.", "not have any rash"),
    ("Sin efectos secundarios hasta ahora.", "Sin efectos secundarios"),
    ("Pas d'effet indésirable signalé.", "Pas d'effet indésirable"),
    ("Aucune réaction après la dose.", "Aucune réaction"),
    ("Keine Nebenwirkungen bisher.", "Keine Nebenwirkungen"),
    ("Ohne Ausschlag.", "Ohne Ausschlag"),
    ("No evidence of liver injury.", "No evidence of liver injury"),
    ("Ningún efecto adverso.", "Ningún efecto adverso"),
]


@pytest.mark.parametrize(("text", "said"), NEGATED, ids=[n[0][:40] for n in NEGATED])
def test_negated_mentions_are_still_flagged_and_say_so(text, said):
    finding = detect_adverse_event(text)
    assert finding.flagged
    negated = [hit for hit in finding.hits if hit.negated]
    assert [hit.reason for hit in negated] == [
        f"the text says '{said}': a negation, flagged for review anyway"
    ]


def test_a_negation_reaches_three_words_only():
    assert detect_adverse_event("no reaction").hits[0].negated
    assert detect_adverse_event("no idea why, but a rash").hits[0].negated is False
    far = detect_adverse_event("No one could explain the sudden rash")
    assert far.flagged and not far.hits[0].negated


def test_punctuation_ends_a_negation():
    finding = detect_adverse_event("No, the patient died.")
    assert finding.flagged and not finding.hits[0].negated


# --- patient affected -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "text",
    [
        "The tablets were discoloured and the patient took two of them.",
        "Cracked vial; my patient developed a rash after using it.",
        "The Respira inhaler counter jumped and my patient received no dose.",
        "The nurse was injured by the faulty safety needle.",
        "La paciente tomó comprimidos del lote defectuoso.",
        "Le patient a pris un comprimé cassé.",
        "Der Patient nahm zwei Tabletten aus der fehlerhaften Charge.",
        "Das Kind hat sich an der Kapsel verschluckt.",
        "Pt took a chipped tablet.",
    ],
)
def test_a_patient_affected_by_a_quality_problem_is_flagged(text):
    assert detect_patient_affected(text).flagged


def test_patient_affected_includes_every_adverse_event_hit():
    finding = detect_patient_affected("The vial was cracked; he got a rash after injecting it.")
    lists = {hit.list for hit in finding.hits}
    assert lists == {"adverse_event", "patient_affected"}
    # The cracked vial that hurt someone is itself a reason (a defect with an injury).
    assert [h.matched for h in finding.hits] == ["cracked", "rash", "after injecting"]


@pytest.mark.parametrize(
    "text",
    [
        "The carton arrived damaged and the seal was broken.",
        "The blister pack was empty.",
        "The label on the box is smudged.",
        "La caja llegó abierta.",
        "Le flacon est arrivé fissuré.",
        "Die Verpackung war beschädigt.",
    ],
)
def test_a_quality_problem_without_a_patient_is_not_flagged(text):
    assert not detect_patient_affected(text).flagged


# --- off-label ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "text",
    [
        "Can I use it off-label for migraine?",
        "Samples for off-label use please",
        "Is it licensed? I know it is not approved for this.",
        "¿Se puede usar fuera de indicación?",
        "Peut-on le prescrire hors AMM ?",
        "Gibt es Daten zum Off-Label-Einsatz?",
        "Einsatz außerhalb der Zulassung?",
    ],
)
def test_generic_off_label_phrases_count_without_a_label(text):
    finding = detect_off_label(text, None)
    assert finding.flagged
    assert all(hit.list == "off_label" for hit in finding.hits)


@pytest.mark.parametrize(
    "text",
    [
        "Does it help with psoriasis?",
        "Can I give it to an 8-year-old?",
        "Samples for an 8 year old please",
        "My patient is 8 yo",
        "niño de 8 años con hipertensión",
        "un enfant de 8 ans",
        "Ein 8-jähriger Patient",
        "Der Junge ist 8 Jahre alt",
        "Is it approved in children?",
        "¿Está aprobado en niños?",
        "Ist es für Kinder zugelassen?",
        "Dose for a 6 month old baby?",
        "Is it reimbursed for a 40 mg dose?",
        "Could I prescribe 40mg?",
        "Would 1 g be too much?",
        "Can I go down to 0,5 mg?",
        "Dose between 10 and 30 mg?",
        "Use in patients under 12 years?",
    ],
)
def test_label_checks_find_off_label_uses(text):
    assert not detect_off_label(text, None).flagged, "only the label makes these off-label"
    assert detect_off_label(text, CARDIOZEN).flagged


@pytest.mark.parametrize(
    "text",
    [
        "Samples for my hypertension patients at 10 mg please",
        "What is the usual starting dose in heart failure?",
        "Is 5 mg enough for a 45-year-old with high blood pressure?",
        "Max dose 20 mg?",
        "Dose in elderly patients?",
        "¿Dosis en insuficiencia cardíaca?",
        "Posologie dans l'insuffisance cardiaque ?",
        "Dosierung bei Bluthochdruck: 10 mg?",
        "Could I get starter samples for my clinic?",
        "Which co-pay programme covers this product?",
        "Need samples; one patient got a rash last time.",
        "Creatinine 1.2 mg/dL, is 10 mg fine?",
        "Any data with 5 mg/kg?",
        "What kind of patients benefit most?",
        "Treated for more than 2 years, is 10 mg still right?",
        "Treated for over 2 years at 10 mg.",
        "It was launched in 2019.",
    ],
)
def test_uses_within_the_label_are_not_off_label(text):
    finding = detect_off_label(text, CARDIOZEN)
    assert not finding.flagged, finding.hits


def test_the_longest_condition_mention_wins():
    # Pulmonary hypertension is a condition of its own, not the approved "hypertension".
    for text in ("Dose in pulmonary arterial hypertension?", "¿Hipertensión arterial pulmonar?"):
        finding = detect_off_label(text, CARDIOZEN)
        assert [hit.phrase for hit in finding.hits] == ["pulmonary_hypertension"]
    assert not detect_off_label("Hipertensión arterial, ¿dosis?", CARDIOZEN).flagged


def test_an_age_bound_is_read_once():
    label = LabelFacts(product="R", product_name="Respira", indications=(), min_age=12)
    (hit,) = detect_off_label("¿Y en menores de 12 años?", label).hits
    assert hit.matched == "menores de 12"
    assert "(under 12)" in hit.reason


def test_condition_reason_names_the_product():
    finding = detect_off_label("Does it help with psoriasis?", CARDIOZEN)
    assert finding.hits == (
        Hit(
            list="off_label",
            phrase="psoriasis",
            matched="psoriasis",
            lang="",
            reason=(
                "the text asks about 'psoriasis', which is not an approved indication of Cardiozen"
            ),
        ),
    )


def test_dose_reason_gives_the_approved_range():
    (hit,) = detect_off_label("Is 40 mg OK?", CARDIOZEN).hits
    assert hit.matched == "40 mg"
    assert (
        hit.reason
        == "the text mentions 40 mg, outside the approved 5\N{EN DASH}20 mg range of Cardiozen"
    )
    (grams,) = detect_off_label("Would 1 g work?", CARDIOZEN).hits
    assert "1 g (1000 mg)" in grams.reason


@pytest.mark.parametrize(
    ("written", "mg"),
    [("40", 40), ("0,5", 0.5), ("2.5", 2.5), ("1,000", 1000), ("1.000", 1000), ("1.000,5", 1000.5)],
)
def test_dose_numbers_are_read_in_either_decimal_style(written, mg):
    assert detection._parse_number(written) == mg


def test_age_reason_gives_the_approved_ages():
    (hit,) = detect_off_label("Samples for an 8-year-old please", CARDIOZEN).hits
    assert hit.matched == "8-year-old"
    assert hit.reason == (
        "the text mentions '8-year-old' (age 8), outside the approved ages of Cardiozen "
        "(18 years and older)"
    )


def test_ages_within_an_upper_bound_and_elderly_words():
    assert not detect_off_label("A 14-year-old with asthma", RESPIRA).flagged
    assert detect_off_label("A 10-year-old with asthma", RESPIRA).flagged
    assert detect_off_label("A 80 year old with COPD", RESPIRA).flagged
    assert detect_off_label("Dose in elderly patients with COPD?", RESPIRA).flagged
    assert detect_off_label("Bei älteren Patienten mit COPD?", RESPIRA).flagged
    assert not detect_off_label("Dose in elderly patients?", CARDIOZEN).flagged


def test_a_label_without_bounds_checks_only_conditions():
    open_label = LabelFacts(product="X", product_name="Xeno", indications=("asthma",))
    assert not detect_off_label("An 8-year-old with asthma at 400 mg", open_label).flagged
    assert detect_off_label("An 8-year-old with psoriasis", open_label).flagged


# --- keywords -------------------------------------------------------------------------------------
def test_keyword_hit_uses_the_phrase_syntax():
    hit = keyword_hit("Sobre el USO COMPASIVO", ["compassionate use", "uso compasivo"])
    assert hit == Hit(
        list="keyword",
        phrase="uso compasivo",
        matched="USO COMPASIVO",
        lang="",
        reason="the text mentions 'USO COMPASIVO' (keyword 'uso compasivo')",
    )
    assert keyword_hit("Reimbursement questions", ["reimburs*"]).matched == "Reimbursement"
    assert keyword_hit("pt asked for a refund", ["patient"]).matched == "pt"


def test_keyword_hit_returns_the_earliest_match_and_none_without_one():
    assert keyword_hit("samples and prices", ["price*", "samples"]).phrase == "samples"
    assert keyword_hit("Nothing relevant", ["refund", "samples"]) is None
    assert keyword_hit("Anything", []) is None
    assert keyword_hit("Anything", ["", "  ", "*"]) is None


def test_keywords_match_whole_words_without_slips():
    assert keyword_hit("The reactivation of my account", ["reaction"]) is None
    assert keyword_hit("compasionate use", ["compassionate use"]) is None


# --- normalization --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "normalized"),
    [
        ("Pt had a RXN in the ER", "patient had a reaction in the emergency room"),
        ("Straße, Œdème, ÉRUPTION", "strasse oedeme eruption"),
        ("didn't work", "didnt work"),
        ("8yo, 8 yo, 8 y/o", "8 year old 8 year old 8 year old"),
        ("Yo tengo una pregunta", "yo tengo una pregunta"),
        ("40mg OD", "40 mg once daily"),
        ("took an OD", "took an overdose"),
        ("s/e, S/E", "side effect side effect"),
    ],
)
def test_normalize(text, normalized):
    assert normalize(text) == normalized


# --- the data files' format -----------------------------------------------------------------------
def _copy_of_phrases(tmp_path: Path) -> Path:
    target = tmp_path / "phrases"
    shutil.copytree(detection.PHRASES_DIR, target)
    return target


def test_the_shipped_data_files_load():
    vocabulary = detection._load_vocabulary(detection.PHRASES_DIR)
    assert len(vocabulary.entries["adverse_event"]) > 100


@pytest.mark.parametrize(
    ("file", "line", "problem"),
    [
        ("adverse_event.txt", "rash without an example", "expected 'phrase | example sentence'"),
        ("adverse_event.txt", "rash | a | b", "expected 'phrase | example sentence'"),
        ("adverse_event.txt", "ra*sh | a rash", "'*' may only end a word"),
        ("adverse_event.txt", "ra* | a rash", "at least 3 letters"),
        ("adverse_event.txt", "[xx]", "a section is one of"),
        ("negations.txt", "| no example", "expected 'phrase | example sentence'"),
        ("conditions.txt", "Bad Key | psoriasis", "expected 'condition_key | synonym"),
        ("conditions.txt", "psoriasis | psoriasis", "already defined"),
        ("conditions.txt", "acne |  ; ", "expected 'condition_key | synonym"),
        ("abbreviations.txt", "pt = patient", "expected 'ABBREVIATION => expansion'"),
        ("abbreviations.txt", "[sometimes]", "sections are"),
    ],
)
def test_a_malformed_line_names_its_file_and_line(tmp_path, file, line, problem):
    directory = _copy_of_phrases(tmp_path)
    path = directory / file
    lines = path.read_text(encoding="utf-8").splitlines()
    path.write_text("\n".join([*lines, line]) + "\n", encoding="utf-8")
    with pytest.raises(ValueError, match=problem) as error:
        detection._load_vocabulary(directory)
    assert f"{file}, line {len(lines) + 1}" in str(error.value)


def test_a_phrase_before_any_language_header_is_refused(tmp_path):
    directory = _copy_of_phrases(tmp_path)
    path = directory / "off_label.txt"
    path.write_text("off label | off-label use\n" + path.read_text(encoding="utf-8"))
    with pytest.raises(ValueError, match=r"off_label.txt, line 1: a phrase before"):
        detection._load_vocabulary(directory)


def test_a_new_phrase_needs_no_code(tmp_path):
    directory = _copy_of_phrases(tmp_path)
    path = directory / "adverse_event.txt"
    path.write_text(path.read_text(encoding="utf-8") + "[en]\nzombified | He got zombified.\n")
    vocabulary = detection._load_vocabulary(directory)
    words = vocabulary.abbreviations.expand("Pt got zombified").words
    found = vocabulary.matcher.find(words)
    assert [m.phrase.written for m in found if m.phrase.source == "adverse_event"] == ["zombified"]


def test_find_phrases_refuses_an_unknown_list():
    with pytest.raises(ValueError, match="unknown phrase list"):
        find_phrases("text", "nonsense")
