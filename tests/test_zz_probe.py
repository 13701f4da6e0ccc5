from flask import g
from portal.models import Role
from portal.services.users import suspend_user
from tests.conftest import login
from tests.factories import make_hcp, make_user


def test_probe(app, client):
    hcp = make_hcp(name="Dr. Smoke")
    admin = make_user(Role.ADMIN)
    r = login(client, hcp.email)
    print("login", r.status_code, r.headers.get("Location"))
    print("g has _login_user", "_login_user" in g, g.get("_login_user"))
    suspend_user(admin, hcp, reason="testing suspension")
    r = client.get("/")
    print("after suspend", r.status_code, r.headers.get("Location"))
    r = client.post("/logout")
    print("logout", r.status_code, r.headers.get("Location"))
    r = client.get("/")
    print("after logout", r.status_code, r.headers.get("Location"))
