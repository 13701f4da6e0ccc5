from content import services
from content.services import Filters
from content.search import index_for, parse_query
from portal.extensions import db
from portal.models import Role
from tests.content.factories import make_material
from tests.factories import make_hcp, make_user


def show(actor, q):
    page = services.search(actor, q, Filters())
    print(repr(q), [(i.material.title, i.title_html, i.snippet_html) for i in page.items])


def test_probe(app):
    msl = make_user(Role.MSL)
    make_material(title="Étude clinique", body_markdown="Une étude sur les doses.")
    make_material(title="Dose guide", body_markdown="How many doses <script>alert(1)</script> per day")
    make_material(title="Heart", body_markdown="the heart of the matter is warfarin", summary="Warfarin summary only")
    for q in ["etude", "ÉTUDE", "dosing", "dose", "doses", "the", "of the", "script", "warfarin", "summary", "heart", 'NEAR(', '"', "a OR b", "-x", "x:y", "*"]:
        show(msl, q)
