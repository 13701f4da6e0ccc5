"""The library page: how many materials and pages there are, a page past the end, filters that
can be cleared, "For you" never repeated in the list below it, and recommendations led by the
HCP's specialty."""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlalchemy import event

from content import services
from content.models import Material
from content.services import Filters
from portal.extensions import db
from portal.models import Profession, Role, User, utcnow
from tests.conftest import login
from tests.content.factories import DAY, make_author, make_material
from tests.factories import make_hcp, make_product, make_user


@pytest.fixture
def small_pages(monkeypatch: pytest.MonkeyPatch) -> int:
    monkeypatch.setattr(services, "PAGE_SIZE", 2)
    return 2


def cardiologist() -> User:
    return make_hcp(specialty="Cardiology", country="US", profession=Profession.PHYSICIAN)


def many(count: int, **overrides: Any) -> list[Material]:
    author = make_author()
    product = make_product()
    return [make_material(author, direct=True, product=product, **overrides) for _ in range(count)]


def shown_ids(html: str) -> list[int]:
    return [int(n) for n in re.findall(r'data-material-id="(\d+)"', html)]


# --- counts and pages (services) ----------------------------------------------------------------


def test_browse_counts_every_material_and_page(app, small_pages):
    many(5)
    staff = make_user(Role.MEDICAL_INFORMATION)

    second = services.browse(staff, Filters(), page=2)
    last = services.browse(staff, Filters(), page=3)

    assert (second.total, second.pages, len(second.items), second.has_more) == (5, 3, 2, True)
    assert (len(last.items), last.has_more, last.past_end) == (1, False, False)


def test_browse_counts_in_sql_and_loads_no_row_past_the_end(app, small_pages):
    many(3)
    staff = make_user(Role.MEDICAL_INFORMATION)
    statements: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement.lower())

    engine = db.engine
    event.listen(engine, "before_cursor_execute", seen)
    try:
        page = services.browse(staff, Filters(), page=99)
    finally:
        event.remove(engine, "before_cursor_execute", seen)

    assert (page.total, page.pages, page.items, page.past_end) == (3, 2, [], True)
    assert [s for s in statements if "from materials" in s] == [
        s for s in statements if "from materials" in s and "count(" in s
    ]
    assert any("count(" in s for s in statements)


def test_an_empty_library_has_one_page_and_no_page_past_its_end(app):
    page = services.browse(make_user(Role.MEDICAL_INFORMATION), Filters(), page=5)

    assert (page.total, page.pages, page.past_end) == (0, 1, False)


def test_search_counts_every_match_and_page(app):
    many(5, body_markdown="Heparin bridging note.")
    many(2, body_markdown="Nothing to see.")
    staff = make_user(Role.MEDICAL_INFORMATION)

    page = services.search(staff, "heparin", Filters(), page=2, limit=2)
    beyond = services.search(staff, "heparin", Filters(), page=9, limit=2)

    assert (page.total, page.pages, len(page.items)) == (5, 3, 2)
    assert beyond.past_end and beyond.items == []


# --- counts and pages (the page) ----------------------------------------------------------------


def test_library_says_how_many_materials_and_pages(client, small_pages):
    many(5)
    login(client, make_user(Role.MEDICAL_INFORMATION).email)

    html = client.get("/library/?page=2").get_data(as_text=True)

    assert "5 materials · page 2 of 3" in html
    assert "2 of 3</span>" in html


def test_search_results_say_how_many_matches_and_pages(client, small_pages):
    many(3, body_markdown="Heparin bridging note.")
    login(client, make_user(Role.MEDICAL_INFORMATION).email)

    html = client.get("/library/?q=heparin").get_data(as_text=True)

    assert "3 materials · page 1 of 2" in html


def test_a_page_past_the_end_names_the_last_page(client, small_pages):
    many(5)
    login(client, make_user(Role.MEDICAL_INFORMATION).email)

    response = client.get("/library/?page=99")
    html = response.get_data(as_text=True)

    assert response.status_code == 200
    assert "There is no page 99: the last page is 3" in html
    assert re.search(r'href="/library/\?[^"]*page=3"', html)
    assert "Try fewer words" not in html


def test_no_match_still_suggests_fewer_words(client):
    many(1)
    login(client, make_user(Role.MEDICAL_INFORMATION).email)

    html = client.get("/library/?q=zzzzunknown").get_data(as_text=True)

    assert "Try fewer words" in html
    assert "There is no page" not in html
    assert 'data-testid="library-count"' not in html


# --- filters --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "shown"),
    [
        pytest.param("", False, id="bare"),
        pytest.param("?page=1", False, id="only-a-page"),
        pytest.param("?q=heparin", True, id="query"),
        pytest.param("?kind=article", True, id="kind"),
        pytest.param("?area=Cardiology", True, id="area"),
    ],
)
def test_clear_filters_link_appears_only_with_a_filter_or_query(client, query, shown):
    many(1)
    login(client, make_user(Role.MEDICAL_INFORMATION).email)

    html = client.get(f"/library/{query}").get_data(as_text=True)

    assert ('data-testid="clear-filters"' in html) is shown
    if shown:
        assert re.search(r'<a href="/library/" data-testid="clear-filters"', html)


def test_product_filter_shows_the_clear_filters_link(client):
    [material] = many(1)
    login(client, make_user(Role.MEDICAL_INFORMATION).email)

    html = client.get(f"/library/?product={material.product_id}").get_data(as_text=True)

    assert 'data-testid="clear-filters"' in html


def test_library_loads_its_script_from_static_files(client):
    login(client, make_user(Role.MEDICAL_INFORMATION).email)

    html = client.get("/library/").get_data(as_text=True)

    assert '<script src="/static/js/library.js"></script>' in html
    assert "data-auto-submit" in html
    assert client.get("/static/js/library.js").status_code == 200


# --- "For you" is not repeated ------------------------------------------------------------------


def test_for_you_materials_are_not_repeated_in_the_list(client):
    materials = many(5)
    hcp = cardiologist()
    login(client, hcp.email)

    html = client.get("/library/").get_data(as_text=True)

    ids = shown_ids(html)
    assert sorted(ids) == sorted(m.id for m in materials)  # each once, none missing
    assert "2 materials besides the 3 for you · page 1 of 1" in html


def test_for_you_materials_stay_out_of_later_pages(client, small_pages):
    materials = many(6)
    hcp = cardiologist()
    login(client, hcp.email)

    pages = [client.get(f"/library/?page={n}").get_data(as_text=True) for n in (1, 2)]

    ids = shown_ids(pages[0]) + shown_ids(pages[1])
    assert sorted(ids) == sorted(m.id for m in materials)
    assert 'data-testid="recommendations"' not in pages[1]
    assert "3 materials besides the 3 for you on the first page · page 2 of 2" in pages[1]


def test_a_filter_lists_everything_it_matches_without_for_you(client):
    materials = many(4)
    login(client, cardiologist().email)

    html = client.get("/library/?kind=article").get_data(as_text=True)

    assert 'data-testid="recommendations"' not in html
    assert sorted(shown_ids(html)) == sorted(m.id for m in materials)
    assert "4 materials · page 1 of 1" in html


# --- recommendations led by the specialty -------------------------------------------------------


def test_cardiologist_gets_cardiology_before_oncology_that_peers_opened(app):
    now = utcnow()
    cardiology = make_material(therapeutic_area="Cardiology", effective_at=now - 90 * DAY)
    oncology = make_material(therapeutic_area="Oncology", effective_at=now - DAY)
    for _ in range(8):
        services.record_view(cardiologist(), oncology)

    result = [m.id for m in services.recommendations(cardiologist(), limit=2)]

    assert result == [cardiology.id, oncology.id]


def test_material_for_the_specialty_comes_before_its_area_and_the_rest(app):
    now = utcnow()
    other = make_material(therapeutic_area="Oncology", effective_at=now - DAY)
    in_area = make_material(therapeutic_area="Cardiology", effective_at=now - 20 * DAY)
    for_specialty = make_material(
        therapeutic_area="Nephrology", specialties=["Cardiology"], effective_at=now - 200 * DAY
    )
    for _ in range(5):
        services.record_view(cardiologist(), other)
        services.record_view(cardiologist(), in_area)

    result = [m.id for m in services.recommendations(cardiologist(), limit=3)]

    assert result == [for_specialty.id, in_area.id, other.id]


def test_newer_material_of_other_areas_cannot_crowd_out_the_specialty(app, monkeypatch):
    monkeypatch.setattr(services, "RECOMMENDATION_POOL", 2)
    now = utcnow()
    cardiology = make_material(therapeutic_area="Cardiology", effective_at=now - 300 * DAY)
    many(3, therapeutic_area="Oncology")

    result = [m.id for m in services.recommendations(cardiologist(), limit=1)]

    assert result == [cardiology.id]


def test_for_you_on_the_page_ranks_cardiology_first(client):
    now = utcnow()
    make_material(therapeutic_area="Oncology", effective_at=now - DAY)
    cardiology = make_material(therapeutic_area="Cardiology", effective_at=now - 60 * DAY)
    hcp = cardiologist()
    login(client, hcp.email)

    html = client.get("/library/").get_data(as_text=True)

    for_you = html[html.index('data-testid="recommendations"') : html.index("All materials")]
    assert shown_ids(for_you)[0] == cardiology.id
