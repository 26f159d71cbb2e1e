import pytest
from django.db import IntegrityError, connection, transaction

from phoenix.accounts.errors import EmailTaken
from phoenix.accounts.models import User
from phoenix.accounts.services import user_register
from phoenix.accounts.signals import user_registered

STRONG = "a-Long-passphrase-1"


@pytest.mark.django_db
def test_registration_rolls_back_when_a_receiver_fails():
    def failing_receiver(sender, user, **kwargs):
        raise RuntimeError("wallet could not be opened")

    user_registered.connect(failing_receiver)
    try:
        with pytest.raises(RuntimeError):
            user_register(email="x@example.com", password=STRONG)
    finally:
        user_registered.disconnect(failing_receiver)
    assert not User.objects.filter(email="x@example.com").exists()


@pytest.mark.django_db
def test_database_refuses_mixed_case_email():
    with pytest.raises(IntegrityError), transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO accounts_user (public_id, email, password, is_active, is_staff, "
                "is_superuser, date_joined) VALUES (gen_random_uuid(), 'Mixed@Example.com', '', "
                "true, false, false, now())"
            )


@pytest.mark.django_db(transaction=True)
def test_concurrent_registrations_of_one_email_create_one_user(race):
    def attempt(_index):
        try:
            user_register(email="race@example.com", password=STRONG)
        except EmailTaken:
            return "taken"
        return "created"

    results = race(8, attempt)
    assert sorted(results) == ["created"] + ["taken"] * 7
    assert User.objects.filter(email="race@example.com").count() == 1
