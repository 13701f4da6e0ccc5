from tests.conftest import login
from tests.factories import make_hcp


def test_verified_hcp_signs_in_and_lands_on_home(client):
    hcp = make_hcp(name="Dr. Smoke")
    response = login(client, hcp.email, follow_redirects=True)
    assert response.status_code == 200
    assert b"Welcome, Dr. Smoke" in response.data
