import pytest

pytestmark = pytest.mark.django_db


def test_register_returns_token(api_client):
    response = api_client.post(
        "/auth/register", {"email": "New@Example.com", "password": "a-Long-passphrase-1"}, format="json"
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["email"] == "new@example.com"
    assert len(body["token"]) == 40
