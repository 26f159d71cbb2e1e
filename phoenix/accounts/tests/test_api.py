"""The /auth API through the real URL routing, on real PostgreSQL and Redis."""

import uuid

import pytest
from django.test import override_settings
from rest_framework.authtoken.models import Token
from rest_framework_api_key.models import APIKey

from conftest import token_client_for
from phoenix.accounts.models import User
from phoenix.accounts.tests.factories import DEFAULT_PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

STRONG = "a-Long-passphrase-1"


def register(client, email="new@example.com", password=STRONG):
    return client.post("/auth/register", {"email": email, "password": password}, format="json")


def login(client, email, password):
    return client.post("/auth/login", {"email": email, "password": password}, format="json")


# --- register ----------------------------------------------------------------------


def test_register_creates_user_and_token(api_client):
    response = register(api_client, email="New@Example.com")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["email"] == "new@example.com"
    user = User.objects.get(email="new@example.com")
    assert body["id"] == str(user.public_id)
    assert Token.objects.get(user=user).key == body["token"]
    assert user.check_password(STRONG)


def test_register_duplicate_email_is_409_case_insensitive(api_client):
    assert register(api_client, email="dup@example.com").status_code == 201
    response = register(api_client, email="DUP@example.com")
    assert response.status_code == 409
    assert response.json()["error"] == "email_taken"
    assert User.objects.filter(email="dup@example.com").count() == 1


@pytest.mark.parametrize(
    "payload, field",
    [
        ({"email": "not-an-email", "password": STRONG}, "email"),
        ({"email": "a@example.com"}, "password"),
        ({"password": STRONG}, "email"),
    ],
)
def test_register_invalid_fields(api_client, payload, field):
    response = api_client.post("/auth/register", payload, format="json")
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "validation_error"
    assert field in body["fields"]
    assert not User.objects.exists()


@pytest.mark.parametrize("weak", ["short1", "12345678901", "password"])
def test_register_weak_password_refused(api_client, weak):
    response = register(api_client, password=weak)
    assert response.status_code == 400
    assert response.json()["error"] == "validation_error"
    assert response.json()["fields"]["password"]
    assert not User.objects.exists()


# --- login / logout ----------------------------------------------------------------


def test_login_returns_token_and_user(api_client):
    user = UserFactory(email="ada@example.com")
    response = login(api_client, "ADA@example.com", DEFAULT_PASSWORD)
    assert response.status_code == 200
    body = response.json()
    assert body["user"] == {"id": str(user.public_id), "email": "ada@example.com"}
    assert Token.objects.get(user=user).key == body["token"]
    user.refresh_from_db()
    assert user.last_login is not None


@pytest.mark.parametrize("email, password", [
    ("ada@example.com", "wrong-password"),
    ("nobody@example.com", DEFAULT_PASSWORD),
])
def test_login_bad_credentials_is_401(api_client, email, password):
    UserFactory(email="ada@example.com")
    response = login(api_client, email, password)
    assert response.status_code == 401
    assert response.json() == {"error": "invalid_credentials", "detail": "E-mail or password is incorrect."}


@override_settings(LOGIN_THROTTLE_RATE="5/min")
def test_login_throttled_per_ip_after_five_attempts(api_client):
    UserFactory(email="ada@example.com")
    for attempt in range(5):
        assert login(api_client, f"someone{attempt}@example.com", "wrong").status_code == 401
    response = login(api_client, "ada@example.com", DEFAULT_PASSWORD)
    assert response.status_code == 429
    body = response.json()
    assert body["error"] == "throttled"
    assert 0 < body["retry_after"] <= 60
    assert response["Retry-After"] == str(body["retry_after"])


def test_login_throttled_per_ip_and_account(api_client):
    UserFactory(email="ada@example.com")
    for _ in range(5):
        assert login(api_client, "ada@example.com", "wrong").status_code == 401
    again = login(api_client, "ADA@example.com", DEFAULT_PASSWORD)
    assert (again.status_code, again.json()["error"]) == (429, "throttled")
    # The same IP may still try other accounts (up to the per-IP rate).
    assert login(api_client, "bob@example.com", "wrong").status_code == 401


@override_settings(LOGIN_IP_EMAIL_THROTTLE_RATE="100/min", LOGIN_IP_EMAIL_HOURLY_RATE="3/hour")
def test_login_backs_off_for_the_hour(api_client):
    UserFactory(email="ada@example.com")
    for _ in range(3):
        assert login(api_client, "ada@example.com", "wrong").status_code == 401
    response = login(api_client, "ada@example.com", DEFAULT_PASSWORD)
    assert response.status_code == 429 and response.json()["retry_after"] > 60


def test_another_ip_cannot_lock_a_user_out(api_client):
    """The attack of issue 14: wrong passwords for ada from many IPs, then ada logs in."""
    UserFactory(email="ada@example.com")
    for attacker in range(3):
        for _ in range(8):
            api_client.post("/auth/login", {"email": "ada@example.com", "password": "wrong"},
                            format="json", REMOTE_ADDR=f"10.0.0.{attacker + 1}")
    response = api_client.post("/auth/login", {"email": "ada@example.com", "password": DEFAULT_PASSWORD},
                               format="json", REMOTE_ADDR="10.0.0.99")
    assert response.status_code == 200, response.json()
    assert response.json()["token"]


@pytest.mark.parametrize("email", [r"\udfffada@example.com", r"ada\u0000@example.com"])
def test_login_refuses_unstorable_text_before_any_throttle_key(api_client, email):
    raw = '{"email": "' + email + '", "password": "x"}'  # JSON escapes: the text itself is not sendable
    response = api_client.post("/auth/login", raw, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_characters" and response.json()["field"] == "email"


@override_settings(LOGIN_THROTTLE_RATE="2/min")
def test_login_rate_comes_from_settings(api_client):
    UserFactory(email="ada@example.com")
    assert login(api_client, "ada@example.com", "wrong").status_code == 401
    assert login(api_client, "ada@example.com", "wrong").status_code == 401
    assert login(api_client, "ada@example.com", DEFAULT_PASSWORD).status_code == 429


def test_logout_revokes_token(user_client, registered_user):
    assert user_client.post("/auth/logout").status_code == 204
    assert not Token.objects.filter(user=registered_user).exists()
    response = user_client.get("/auth/profile")
    assert response.status_code == 401
    assert response.json()["error"] == "authentication_failed"


# --- profile -----------------------------------------------------------------------


def test_profile_of_the_token_owner(user_client, registered_user):
    response = user_client.get("/auth/profile")
    assert response.status_code == 200
    body = response.json()
    assert body["id"] == str(registered_user.public_id)
    assert body["email"] == registered_user.email


@pytest.mark.parametrize("method, path", [
    ("get", "/auth/profile"), ("delete", "/auth/profile"), ("post", "/auth/logout"),
])
def test_unauthenticated_is_401(api_client, method, path):
    response = getattr(api_client, method)(path)
    assert response.status_code == 401
    assert response.json()["error"] == "not_authenticated"
    assert response["WWW-Authenticate"] == "Token"


def test_bad_token_is_401(api_client):
    api_client.credentials(HTTP_AUTHORIZATION="Token " + "0" * 40)
    response = api_client.get("/auth/profile")
    assert response.status_code == 401
    assert response.json()["error"] == "authentication_failed"


# --- who may name whom -------------------------------------------------------------


def test_end_user_may_name_themselves(user_client, registered_user):
    response = user_client.get(f"/auth/users/{registered_user.public_id}")
    assert response.status_code == 200
    assert response.json()["id"] == str(registered_user.public_id)


@pytest.mark.parametrize("other", ["existing", "unknown", "not-a-uuid"])
def test_end_user_naming_anyone_else_is_404(user_client, other):
    target = {
        "existing": lambda: str(UserFactory().public_id),
        "unknown": lambda: str(uuid.uuid4()),
        "not-a-uuid": lambda: "42",
    }[other]()
    response = user_client.get(f"/auth/users/{target}")
    assert response.status_code == 404
    assert response.json()["error"] == "user_not_found"


def test_satellite_may_name_any_user(satellite_client):
    someone = UserFactory()
    response = satellite_client.get(f"/auth/users/{someone.public_id}")
    assert response.status_code == 200
    assert response.json()["email"] == someone.email
    assert satellite_client.get(f"/auth/users/{uuid.uuid4()}").status_code == 404


def test_revoked_api_key_is_refused(api_client):
    key_obj, key = APIKey.objects.create_key(name="old-satellite")
    key_obj.revoked = True
    key_obj.save()
    api_client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    response = api_client.get(f"/auth/users/{UserFactory().public_id}")
    assert response.status_code == 401


# --- GDPR erasure ------------------------------------------------------------------


def test_erasure_anonymizes_and_keeps_the_row(user_client, registered_user):
    public_id = registered_user.public_id
    response = user_client.delete("/auth/profile", {"password": DEFAULT_PASSWORD}, format="json")
    assert response.status_code == 204

    erased = User.objects.get(pk=registered_user.pk)  # the row stays for financial records
    assert erased.public_id == public_id
    assert erased.email == f"erased-{public_id}@erased.invalid"
    assert not erased.is_active
    assert not erased.has_usable_password()
    assert erased.erased_at is not None
    assert not Token.objects.filter(user=erased).exists()
    assert user_client.get("/auth/profile").status_code == 401
    assert login(user_client, "registered@example.com", DEFAULT_PASSWORD).status_code == 401
    # the e-mail address is free again
    assert register(user_client, email="registered@example.com").status_code == 201


def test_erasure_needs_the_password(user_client, registered_user):
    response = user_client.delete("/auth/profile", {"password": "wrong"}, format="json")
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_credentials"
    registered_user.refresh_from_db()
    assert registered_user.is_active and registered_user.erased_at is None
    assert user_client.delete("/auth/profile", {}, format="json").status_code == 400


def test_erased_user_is_not_found_by_satellites(satellite_client):
    user = UserFactory()
    token_client_for(user).delete("/auth/profile", {"password": DEFAULT_PASSWORD}, format="json")
    assert satellite_client.get(f"/auth/users/{user.public_id}").status_code == 404


def test_registration_opens_trial_access_and_wallet_shown_in_profile(api_client):
    """The profile: access (TRIAL, 7 days) and energy (85-point welcome grant)."""
    token = register(api_client, email="fresh@example.com").json()["token"]
    api_client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    body = api_client.get("/auth/profile").json()
    assert body["access"]["type"] == "TRIAL"
    assert body["access"]["premium"] is True
    assert body["access"]["unlimited"] is False
    assert body["access"]["trial_ends_at"]
    assert body["energy"].pop("next_expiry")["amount"] == 85  # the welcome lot's validity
    assert body["energy"] == {"balance": 85, "held": 0, "available": 85, "paid": 0, "free": 85}
