"""Full-text search over the library: ranking, highlighted and escaped snippets, folding and
stemming, hostile queries, the index kept in step with the workflow, filters and pages. Every test
runs on both engines (SQLite FTS5, PostgreSQL tsvector)."""

from __future__ import annotations

import re

import pytest

from content import search as search_module
from content import services
from content.models import Material, MaterialKind
from content.services import Filters, LibraryPage
from portal.extensions import db
from portal.models import Role, User, utcnow
from tests.content.factories import (
    DAY,
    indexed_ids,
    make_author,
    make_material,
    make_reviewer,
    material_input,
)
from tests.factories import make_hcp, make_product, make_user


def reader() -> User:
    return make_hcp()


def found(actor: User, query: str, filters: Filters | None = None) -> list[int]:
    page = services.search(actor, query, filters or Filters())
    return [item.material.id for item in page.items]


def hit(actor: User, query: str, material: Material) -> services.LibraryItem:
    page = services.search(actor, query, Filters())
    [item] = [i for i in page.items if i.material.id == material.id]
    return item


def without_marks(fragment: str) -> str:
    return re.sub(r"</?mark>", "", fragment)


# --- ranking ------------------------------------------------------------------------------------


def test_term_in_the_title_ranks_above_the_same_term_only_in_the_body(app):
    # Made first, so a tie broken by "newest first" would put it last.
    in_title = make_material(
        title="Warfarin in practice", body_markdown="Anticoagulation with some drug today."
    )
    in_body = make_material(
        title="Anticoagulation guide", body_markdown="Anticoagulation with warfarin today."
    )

    assert found(reader(), "warfarin") == [in_title.id, in_body.id]


def test_term_in_the_summary_ranks_above_the_same_term_only_in_the_body(app):
    in_summary = make_material(
        title="Guide one", summary="Heparin at a glance.", body_markdown="Dosing for adults."
    )
    in_body = make_material(
        title="Guide two", summary="At a glance.", body_markdown="Heparin dosing for adults."
    )

    assert found(reader(), "heparin") == [in_summary.id, in_body.id]


def test_more_occurrences_rank_higher(app):
    thrice = make_material(
        title="Guide D", body_markdown="heparin alpha heparin beta heparin gamma delta epsilon"
    )
    once = make_material(
        title="Guide C", body_markdown="heparin alpha beta gamma delta epsilon zeta eta theta"
    )

    assert found(reader(), "heparin") == [thrice.id, once.id]


def test_every_term_of_the_query_must_match(app):
    both = make_material(body_markdown="Warfarin and heparin compared.")
    make_material(body_markdown="Warfarin alone.")
    make_material(body_markdown="Heparin alone.")

    assert found(reader(), "warfarin heparin") == [both.id]


def test_last_word_matches_as_a_prefix_while_typing(app):
    material = make_material(body_markdown="Anticoagulation with warfarin.")

    assert found(reader(), "warf") == [material.id]
    assert found(reader(), "anticoagulation warf") == [material.id]
    assert found(reader(), "anticoag warfarin") == []  # only the last word is being typed


# --- snippets -----------------------------------------------------------------------------------


def test_snippet_and_title_mark_the_matched_term(app):
    material = make_material(
        title="Heparin handbook", body_markdown="Start heparin at the lowest dose."
    )

    item = hit(reader(), "heparin", material)

    assert "<mark>Heparin</mark>" in item.title_html
    assert "<mark>heparin</mark>" in item.snippet_html
    assert "lowest dose" in item.snippet_html


def test_snippet_shows_why_a_summary_only_match_matched(app):
    material = make_material(
        title="Guide", summary="Rivaroxaban in short.", body_markdown="Nothing here at all."
    )

    item = hit(reader(), "rivaroxaban", material)

    assert "<mark>Rivaroxaban</mark>" in item.snippet_html


def test_snippets_never_carry_markup_from_the_material(app):
    material = make_material(
        title='<img src=x onerror="alert(1)"> Heparin <b>now</b>',
        summary="<script>alert('summary')</script> heparin",
        body_markdown="Heparin <script>alert(1)</script> and <img src=x onerror=alert(2)>.",
    )

    item = hit(reader(), "heparin", material)

    for fragment in (item.title_html, item.snippet_html):
        assert "<mark>" in fragment
        assert "<" not in without_marks(fragment)
        assert ">" not in without_marks(fragment)


def test_snippet_shows_markup_written_in_the_text_escaped(app):
    # The author wrote about a tag; readers see it as text, escaped, like the page itself shows it.
    material = make_material(
        title="Heparin <b>bold</b> claims",
        body_markdown="Heparin pages must not run <script>alert(1)</script> ever.",
    )

    item = hit(reader(), "heparin", material)

    assert "&lt;script&gt;" in item.snippet_html
    assert "&lt;b&gt;" in item.title_html
    assert "<script" not in item.snippet_html and "<b>" not in item.title_html


def test_snippet_escapes_ampersands_and_quotes(app):
    material = make_material(body_markdown='Heparin "high" & low doses.')

    item = hit(reader(), "heparin", material)

    assert "&amp;" in item.snippet_html
    assert "&quot;high&quot;" in item.snippet_html


# --- folding and stemming -----------------------------------------------------------------------


@pytest.mark.parametrize("query", ["etude", "ETUDE", "Étude", "étude", "éTuDe"])
def test_accents_and_case_are_folded(app, query):
    material = make_material(title="Étude clinique", body_markdown="Une étude sur les doses.")

    assert found(reader(), query) == [material.id]


def test_accented_query_finds_unaccented_text(app):
    material = make_material(title="Etude summary", body_markdown="An etude.")

    assert found(reader(), "Étude") == [material.id]


def test_accent_folded_match_is_highlighted(app):
    material = make_material(title="Étude clinique", body_markdown="Une étude sur les doses.")

    item = hit(reader(), "etude", material)

    assert "<mark>Étude</mark>" in item.title_html
    assert "<mark>étude</mark>" in item.snippet_html


@pytest.mark.parametrize("query", ["dosing", "dose", "doses", "dosed"])
def test_english_stemming_matches_forms_of_a_word(app, query):
    # Porter (SQLite) and the English Snowball stemmer (PostgreSQL) both reduce these to "dose".
    doses = make_material(title="Guide", body_markdown="Split the doses evenly.")
    dosing = make_material(title="Other", body_markdown="Dosing in renal impairment.")
    make_material(title="Unrelated", body_markdown="Storage below 25 degrees.")

    assert sorted(found(reader(), query)) == sorted([doses.id, dosing.id])


def test_stop_words_are_dropped_from_a_query_with_other_words(app):
    material = make_material(body_markdown="Dosing of apixaban.")

    assert found(reader(), "what is the dose of apixaban") == [material.id]


@pytest.mark.parametrize("query", ["ALL", "all"])
def test_query_of_stop_words_only_still_searches_them(app, query):
    # "ALL" is acute lymphoblastic leukaemia to an oncologist, and a stop word to an engine.
    material = make_material(title="Treating ALL in children", body_markdown="Induction for ALL.")
    make_material(title="Heart failure", body_markdown="Diuretics first.")

    page = services.search(reader(), query, Filters())

    assert page.query == query
    assert [i.material.id for i in page.items] == [material.id]


# --- hostile queries ----------------------------------------------------------------------------

HOSTILE = [
    '"', '""', "'", "*", "^", "(", ")", "-", ":", "NEAR(", "NEAR(a b, 2)", "a OR b",
    "a AND NOT b", "-a", "a:b", "title:x", "body:*", "{title summary}: x", "x' OR '1'='1",
    "'; DROP TABLE materials; --", "%", "_", "a & b | !c", "<->", "a <-> b", ":*", "!!",
    "\x00", "\\", "a\\", "\u200b", "🙂", "x" * 1000, " ".join(["word"] * 200),
    "\u0301", "\uff46\uff55\uff4c\uff4c", "\U0001d41b\U0001d428\U0001d425\U0001d41d",
]  # fmt: skip


@pytest.mark.parametrize("query", HOSTILE)
def test_query_syntax_from_users_never_reaches_the_engine(app, query):
    make_material(body_markdown="Warfarin dosing.")

    page = services.search(reader(), query, Filters())

    assert isinstance(page, LibraryPage)


@pytest.mark.parametrize(
    "query",
    [
        '"warfarin"', "warfarin*", "-warfarin", "(warfarin)", "warfarin:*", "^warfarin",
        "'warfarin'", "warfarin & !", "warfarin |", 'warfarin"', "{warfarin}", "WARFARIN:",
    ],
)  # fmt: skip
def test_operators_around_a_word_are_ignored(app, query):
    material = make_material(body_markdown="Warfarin dosing.")
    make_material(body_markdown="Heparin dosing.")

    assert found(reader(), query) == [material.id]


@pytest.mark.parametrize("query", ["", "   ", "!!!", '"" **', "\x00"])
def test_query_without_words_browses(app, query):
    older = make_material(effective_at=utcnow() - 3 * DAY)
    newer = make_material(effective_at=utcnow() - DAY)

    page = services.search(reader(), query, Filters())

    assert [i.material.id for i in page.items] == [newer.id, older.id]
    assert all(i.snippet_html == "" for i in page.items)


# --- the index follows the workflow -------------------------------------------------------------


def test_draft_and_version_in_review_are_not_indexed(app):
    draft = make_material(status="draft", body_markdown="Apixaban draft.")
    in_review = make_material(status="in_review", body_markdown="Apixaban in review.")

    assert {draft.id, in_review.id}.isdisjoint(indexed_ids())
    assert found(make_user(Role.CONTENT_MANAGER), "apixaban") == []


def test_approval_adds_the_version_to_search(app):
    material = make_material(status="in_review", body_markdown="Apixaban in practice.")
    assert found(reader(), "apixaban") == []

    services.approve_material(make_reviewer(), material)

    assert material.id in indexed_ids()
    assert found(reader(), "apixaban") == [material.id]


def test_rejection_does_not_index(app):
    material = make_material(status="in_review", body_markdown="Apixaban in practice.")

    services.reject_material(make_reviewer(), material, comments="Add the references.")

    assert material.id not in indexed_ids()
    assert found(reader(), "apixaban") == []


def test_withdrawal_removes_the_version_from_search(app):
    material = make_material(body_markdown="Apixaban in practice.")
    assert found(reader(), "apixaban") == [material.id]

    services.withdraw_material(make_author(), material, reason="Safety update pending.")

    assert material.id not in indexed_ids()
    assert found(reader(), "apixaban") == []
    assert found(make_user(Role.COMPLIANCE), "apixaban") == []


def test_approved_new_version_replaces_the_old_one_in_results(app):
    author = make_author()
    v1 = make_material(author, title="Anticoagulant guide", body_markdown="Warfarin first.")
    v2 = services.new_version(author, v1)
    services.update_material(
        author,
        v2,
        material_input(
            title="Anticoagulant guide",
            body_markdown="Apixaban first.",
            approval_code=v1.approval_code,
        ),
    )
    services.submit_for_review(author, v2)
    assert found(reader(), "anticoagulant") == [v1.id]
    assert found(reader(), "apixaban") == []

    services.approve_material(make_reviewer(), v2)

    assert found(reader(), "anticoagulant") == [v2.id]
    assert found(reader(), "apixaban") == [v2.id]
    assert found(reader(), "warfarin") == []
    assert v1.id not in indexed_ids()


def test_reindex_rebuilds_the_index_from_approved_versions(app):
    live = make_material(body_markdown="Apixaban live.")
    make_material(status="draft", body_markdown="Apixaban draft.")
    gone = make_material(status="withdrawn", body_markdown="Apixaban withdrawn.")
    index = search_module.index_for(db.session)
    for material_id in indexed_ids():
        index.remove(db.session, material_id)
    db.session.commit()
    assert found(reader(), "apixaban") == []

    assert services.reindex_all() == 1

    assert indexed_ids() == {live.id}
    assert gone.id not in indexed_ids()
    assert found(reader(), "apixaban") == [live.id]


def test_expired_material_stays_indexed_but_is_not_found(app):
    material = make_material(status="expired", body_markdown="Apixaban expired.")

    assert material.id in indexed_ids()
    assert found(reader(), "apixaban") == []


# --- filters and pages --------------------------------------------------------------------------


def test_filters_combine_with_the_query(app):
    cardio = make_product(therapeutic_area="Cardiology")
    onco = make_product(therapeutic_area="Oncology")
    article = make_material(product=cardio, kind="article", body_markdown="Warfarin article.")
    video = make_material(product=cardio, kind="video", body_markdown="Warfarin video.")
    other_product = make_material(
        product=onco, kind="dosing_guide", body_markdown="Warfarin interactions."
    )
    make_material(product=cardio, kind="article", body_markdown="Heparin article.")
    hcp = reader()

    assert set(found(hcp, "warfarin", Filters(product_id=cardio.id))) == {article.id, video.id}
    assert found(hcp, "warfarin", Filters(product_id=cardio.id, kind="article")) == [article.id]
    assert found(hcp, "warfarin", Filters(therapeutic_area="Oncology")) == [other_product.id]
    assert found(hcp, "warfarin", Filters(product_id=onco.id, kind="video")) == []
    assert set(found(hcp, "warfarin", Filters(kind="brochure"))) == {
        article.id,
        video.id,
        other_product.id,
    }


def test_therapeutic_area_of_the_material_overrides_the_product(app):
    product = make_product(therapeutic_area="Cardiology")
    material = make_material(
        product=product, therapeutic_area="Nephrology", body_markdown="Warfarin in CKD."
    )

    assert found(reader(), "warfarin", Filters(therapeutic_area="Nephrology")) == [material.id]
    assert found(reader(), "warfarin", Filters(therapeutic_area="Cardiology")) == []


def test_browse_filters_without_a_query(app):
    product = make_product()
    video = make_material(product=product, kind=MaterialKind.VIDEO.value)
    make_material(product=product, kind=MaterialKind.ARTICLE.value)
    make_material(kind=MaterialKind.VIDEO.value)

    page = services.browse(reader(), Filters(product_id=product.id, kind="video"))

    assert [i.material.id for i in page.items] == [video.id]


def test_facets_list_what_the_reader_can_browse(app):
    cardio = make_product(name="Cardioguard", therapeutic_area="Cardiology")
    onco = make_product(name="Oncoshield", therapeutic_area="Oncology")
    make_material(product=cardio, kind="video")
    make_material(product=onco, kind="article", specialties=["Oncology"])
    make_material(product=onco, kind="slide_deck", status="draft")

    facets = services.facets(make_hcp(specialty="Cardiology"))

    assert facets == {
        "products": [cardio],
        "areas": ["Cardiology"],
        "kinds": [MaterialKind.VIDEO],
    }


def _many(count: int, word: str = "Heparin") -> list[int]:
    author = make_author()
    product = make_product()
    return [
        make_material(author, direct=True, product=product, body_markdown=f"{word} note {n}.").id
        for n in range(count)
    ]


def test_results_come_in_pages(app):
    ids = _many(25)
    hcp = reader()

    first = services.search(hcp, "heparin", Filters())
    second = services.search(hcp, "heparin", Filters(), page=2)
    third = services.search(hcp, "heparin", Filters(), page=3)

    assert (len(first.items), first.has_more) == (20, True)
    assert (len(second.items), second.has_more, second.page) == (5, False, 2)
    assert third.items == [] and not third.has_more
    seen = [i.material.id for i in first.items + second.items]
    assert sorted(seen) == sorted(ids)


def test_page_below_one_is_the_first_page(app):
    _many(3)

    page = services.search(reader(), "heparin", Filters(), page=0)

    assert page.page == 1 and len(page.items) == 3


def test_smaller_pages_on_request(app):
    ids = _many(7)
    hcp = reader()

    pages = [services.search(hcp, "heparin", Filters(), page=n, limit=3) for n in (1, 2, 3)]

    assert [len(p.items) for p in pages] == [3, 3, 1]
    assert [p.has_more for p in pages] == [True, True, False]
    assert sorted(i.material.id for p in pages for i in p.items) == sorted(ids)


def test_browse_comes_in_pages(app):
    ids = _many(21)
    hcp = reader()

    first = services.browse(hcp, Filters())
    second = services.browse(hcp, Filters(), page=2)

    assert (len(first.items), first.has_more) == (20, True)
    assert (len(second.items), second.has_more) == (1, False)
    assert sorted(i.material.id for i in first.items + second.items) == sorted(ids)


def test_very_common_word_is_ranked_among_its_newest_matches(app, monkeypatch):
    monkeypatch.setattr(search_module, "CANDIDATE_CAP", 4)
    monkeypatch.setattr(search_module, "PG_CANDIDATE_CAP", 4)
    ids = _many(6)

    page = services.search(reader(), "heparin", Filters(), limit=2)

    assert page.capped
    assert {i.material.id for i in page.items} <= set(ids[-4:])


def test_rare_word_is_not_capped(app):
    _many(3)

    assert not services.search(reader(), "heparin", Filters()).capped
