"""Billing test fixtures: a local Stripe server, keys pointing at it, packs, buyers."""

from __future__ import annotations

import itertools

import pytest

from billing.tests import factories as f
from billing.tests.stripe_server import SECRET_KEY, LocalStripe
from phoenix.accounts.services import user_register
from phoenix.celery import app
from subscriptions.models import Plan
from wallet.models import EnergyPack

_emails = itertools.count(1)

# the seed values (the wallet's data migration seeds the same; transactional tests flush it).
PACKS = [
    ("cafe_luna", "Café Luna", 299, 100, 10, False),
    ("petit_dej_luna", "Petit-déj Luna", 599, 100, 0, False),
    ("repas_luna", "Repas Luna", 999, 100, 0, False),
    ("luna_unlimited", "Luna Unlimited", 2999, 0, 0, True),
]


@pytest.fixture
def stripe_server():
    server = LocalStripe().start()
    yield server
    server.stop()


@pytest.fixture
def stripe_keys(settings, stripe_server):
    settings.STRIPE_SECRET_KEY = SECRET_KEY
    settings.STRIPE_PUBLISHABLE_KEY = "pk_test_phoenix_local"
    settings.STRIPE_WEBHOOK_SECRET = f.WEBHOOK_SECRET
    settings.STRIPE_API_BASE = stripe_server.url
    return stripe_server


@pytest.fixture
def webhook_secret(settings):
    settings.STRIPE_WEBHOOK_SECRET = f.WEBHOOK_SECRET
    return f.WEBHOOK_SECRET


@pytest.fixture
def packs(db):
    for code, label, price, points, bonus, unlimited in PACKS:
        EnergyPack.objects.update_or_create(
            code=code,
            defaults={"label": label, "price_cents": price, "currency": "EUR", "energy_points": points,
                      "first_purchase_bonus_percent": bonus, "is_unlimited": unlimited,
                      "is_active": True},
        )


def make_buyer():
    """A user opened by registration: TRIAL access and a wallet with the welcome grant."""
    user, _token = user_register(email=f"buyer{next(_emails)}@example.com",
                                 password="a-Long-test-passphrase-42")
    return user


@pytest.fixture
def buyer(db, packs):
    return make_buyer()


# subscriptions' data migration seeds these; transactional tests flush it, so restate them.
PLANS = [
    ("luna_unlimited", "Luna Unlimited (monthly)", "individual", "monthly", 2999),
    ("luna_lifetime", "Luna Lifetime", "individual", "lifetime", 29900),
    ("pro_seat_monthly", "Pro seat license (monthly)", "pro", "monthly", 2999),
    ("pro_seat_lifetime", "Pro seat license (lifetime)", "pro", "lifetime", 29900),
]


@pytest.fixture
def plans(db):
    for code, label, audience, kind, price in PLANS:
        Plan.objects.update_or_create(code=code, defaults={
            "label": label, "audience": audience, "kind": kind, "price_cents": price,
            "currency": "EUR", "is_active": True,
        })


@pytest.fixture
def eager_celery():
    """Run tasks in-process when enqueued (delay_on_commit still waits for the commit)."""
    previous = app.conf.task_always_eager, app.conf.task_eager_propagates
    app.conf.task_always_eager, app.conf.task_eager_propagates = True, False
    yield app
    app.conf.task_always_eager, app.conf.task_eager_propagates = previous
