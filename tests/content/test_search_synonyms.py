"""Lay and clinical synonyms, and "did you mean" for misspelled queries. Every test runs on both
engines (SQLite FTS5, PostgreSQL tsvector)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from content import search as search_module
from content import services
from content.models import MaterialState
from content.services import Filters
from portal.extensions import db
from portal.models import User, utcnow
from tests.conftest import login
from tests.content.factories import make_material
from tests.factories import make_hcp


def reader() -> User:
    return make_hcp()


def found(actor: User, query: str) -> set[int]:
    return {item.material.id for item in services.search(actor, query, Filters()).items}


def suggestions(actor: User, query: str, filters: Filters | None = None) -> list[str]:
    filters = filters or Filters()
    return services.did_you_mean(actor, services.search(actor, query, filters), filters)


# --- synonyms ---------------------------------------------------------------------------------


def test_lay_phrase_finds_the_clinical_phrase(app):
    clinical = make_material(body_markdown="Adverse reactions were mild and transient.")
    make_material(body_markdown="Dosing in renal impairment.")

    assert found(reader(), "side effects") == {clinical.id}


def test_clinical_phrase_finds_the_lay_phrase(app):
    lay = make_material(body_markdown="Tell your patients about the side effects.")
    make_material(body_markdown="Dosing in renal impairment.")

    assert found(reader(), "adverse reactions") == {lay.id}


def test_a_synonym_phrase_matches_only_as_a_phrase(app):
    # "reaction" and "adverse" apart are not "adverse reaction".
    make_material(body_markdown="An adverse outcome; the reaction time was short.")

    assert found(reader(), "side effect") == set()


def test_the_query_words_still_match_apart(app):
    apart = make_material(body_markdown="On the left side, the effect was small.")

    assert found(reader(), "side effects") == {apart.id}


def test_german_synonyms_match_both_ways(app):
    lay = make_material(body_markdown="Mögliche Nebenwirkungen sind selten.")
    clinical = make_material(body_markdown="Unerwünschte Wirkungen wurden gemeldet.")
    hcp = reader()

    assert found(hcp, "unerwünschte Wirkungen") == {lay.id, clinical.id}
    assert found(hcp, "Nebenwirkungen") == {lay.id, clinical.id}


@pytest.mark.parametrize(
    ("query", "text"),
    [
        ("blood thinner", "Anticoagulant therapy after surgery."),
        ("heart attack", "After myocardial infarction, start early."),
        ("high blood pressure", "Hypertension in the elderly."),
        ("painkillers", "Analgesic use before the procedure."),
        ("efectos secundarios", "Las reacciones adversas fueron leves."),
        ("effets secondaires", "Les effets indésirables sont rares."),
    ],
)
def test_common_pairs_across_languages(app, query, text):
    material = make_material(body_markdown=text)

    assert found(reader(), query) == {material.id}


def test_synonym_match_is_highlighted(app):
    material = make_material(body_markdown="Adverse reactions were mild and transient.")

    [item] = services.search(reader(), "side effects", Filters()).items

    assert item.material.id == material.id
    assert "<mark>" in item.snippet_html


def test_every_group_of_the_vocabulary_names_its_source_and_two_terms():
    groups = json.loads(Path(search_module.SYNONYMS_FILE).read_text(encoding="utf-8"))["groups"]

    assert {g["lang"] for g in groups} == {"en", "de", "es", "fr"}
    assert all(g["source"] and len(g["terms"]) >= 2 for g in groups)


# --- did you mean -------------------------------------------------------------------------------


def test_misspelled_query_suggests_the_known_word(app):
    make_material(body_markdown="Dosing in renal impairment.")

    assert suggestions(reader(), "dosnig") == ["dosing"]


def test_misspelled_word_is_corrected_within_the_query(app):
    make_material(body_markdown="Dosing in renal impairment.")

    assert suggestions(reader(), "renal dosnig") == ["renal dosing"]


def test_no_suggestion_when_the_query_finds_enough(app):
    for _ in range(services.FEW_RESULTS):
        make_material(body_markdown="Dosing in renal impairment.")

    assert suggestions(reader(), "dosing") == []


def test_no_suggestion_for_a_known_form_of_a_word(app):
    make_material(body_markdown="Dosing in renal impairment.")

    where = services.library_clause(reader(), utcnow())

    assert search_module.suggest(db.session, ["doses"], where=where) == []


@pytest.mark.parametrize(
    "hidden",
    [
        {"status": MaterialState.DRAFT},
        {"status": MaterialState.WITHDRAWN},
        {"countries": ["DE"]},  # another audience's material
    ],
    ids=["draft", "withdrawn", "other-audience"],
)
def test_no_suggestion_reveals_a_word_of_a_material_the_reader_cannot_see(app, hidden):
    make_material(body_markdown="Zanubrutinib in practice.", **hidden)
    make_material(body_markdown="Dosing in renal impairment.")

    assert suggestions(reader(), "zanubrutinob") == []


def test_suggestion_respects_the_filters(app):
    make_material(body_markdown="Dosing in renal impairment.", kind="video")

    assert suggestions(reader(), "dosnig", Filters(kind="article")) == []
    assert suggestions(reader(), "dosnig", Filters(kind="video")) == ["dosing"]


def test_library_page_offers_the_corrected_search(client):
    make_material(body_markdown="Dosing in renal impairment.")
    hcp = make_hcp()
    login(client, hcp.email)

    html = client.get("/library/?q=dosnig").get_data(as_text=True)

    assert 'data-testid="did-you-mean"' in html
    assert ">dosing</a>?" in html
    assert "q=dosing" in html


def test_library_page_offers_nothing_when_the_search_finds_enough(client):
    for _ in range(services.FEW_RESULTS):
        make_material(body_markdown="Dosing in renal impairment.")
    hcp = make_hcp()
    login(client, hcp.email)

    html = client.get("/library/?q=dosing").get_data(as_text=True)

    assert 'data-testid="did-you-mean"' not in html


def test_vocabulary_offered_holds_only_words_of_materials_the_reader_can_see(app):
    make_material(body_markdown="Zanubrutinib in practice.", status=MaterialState.DRAFT)
    make_material(body_markdown="Ibrutinib in practice.", countries=["DE"])
    make_material(body_markdown="Dosing in renal impairment.")

    words = search_module.visible_vocabulary(
        db.session, where=services.library_clause(reader(), utcnow())
    )

    assert "dosing" in words
    assert "zanubrutinib" not in words
    assert "ibrutinib" not in words
