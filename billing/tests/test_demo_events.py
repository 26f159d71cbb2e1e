"""`stripe_demo_events` posts signed events a real server accepts (a live test server here)."""

from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command

from billing.models import Payment, PaymentStatus, WebhookEvent
from billing.tests.conftest import make_buyer
from billing.tests.helpers import balance


@pytest.mark.django_db(transaction=True)
def test_demo_events_drive_the_whole_flow(live_server, webhook_secret, packs, capsys):
    user = make_buyer()

    call_command("stripe_demo_events", "--url", f"{live_server.url}/stripe/webhook/",
                 "--email", user.email)

    out = capsys.readouterr().out
    assert " 400 " not in out and "500" not in out.split("==")[0]
    statuses = dict(Payment.objects.values_list("stripe_checkout_session_id", "status"))
    assert sorted(statuses.values()) == [PaymentStatus.REFUNDED, PaymentStatus.SUCCEEDED,
                                         PaymentStatus.SUCCEEDED]
    assert balance(user) == 85 + 110  # bought three (bonus once), refunded one, disputed one
    assert WebhookEvent.objects.filter(status="ignored").count() == 1
    assert WebhookEvent.objects.filter(status="failed").count() == 0


def test_demo_events_need_a_secret(settings, db):
    settings.STRIPE_WEBHOOK_SECRET = ""
    with pytest.raises(CommandError, match="STRIPE_WEBHOOK_SECRET"):
        call_command("stripe_demo_events")
