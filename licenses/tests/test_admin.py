"""Licenses operator actions in the admin: suspend / reactivate a pro account."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils import timezone

from licenses import services
from licenses.tests.factories import pro_account
from phoenix.core import roles
from phoenix.core.models import AdminAction
from phoenix.core.tests.operator import op_url, spy, staff
from subscriptions.selectors import check_premium_access

pytestmark = pytest.mark.django_db



def test_suspend_and_reactivate_a_pro_account(finance_client, support_client, monkeypatch):

    now = timezone.now()
    account = pro_account(now=now)
    seats = services.license_purchase(pro_account=account, kind="monthly", quantity=2, event_time=now).licenses
    services.license_assign(license=seats[0], collaborator=account.owner, now=now)
    suspend = op_url("licenses_proaccount", "suspend", account.pk)
    reactivate = op_url("licenses_proaccount", "reactivate", account.pk)
    assert support_client.post(suspend, {"reason": "fraud"}).status_code == 403

    finance_client.force_login(staff(roles.FINANCE))
    calls = spy(monkeypatch, services, "pro_account_suspend")
    page = finance_client.get(reverse("admin:licenses_proaccount_change", args=[account.pk])).content.decode()
    assert suspend in page and reactivate not in page
    assert finance_client.post(suspend, {"reason": "chargeback on the seats invoice"}).status_code == 302
    assert len(calls) == 1
    account.refresh_from_db()
    assert account.status == "suspended"
    assert set(account.licenses.values_list("status", flat=True)) == {"suspended"}
    assert not check_premium_access(account.owner)
    action = AdminAction.objects.get()
    assert action.before == {"status": "active", "licenses": {"active": 1, "available": 1}}
    assert action.after == {"status": "suspended", "licenses": {"suspended": 2}}

    page = finance_client.get(reverse("admin:licenses_proaccount_change", args=[account.pk])).content.decode()
    assert reactivate in page and suspend not in page
    assert finance_client.post(reactivate, {"reason": "paid by transfer"}).status_code == 302
    account.refresh_from_db()
    assert account.status == "active" and check_premium_access(account.owner)
    assert AdminAction.objects.filter(action="pro_account_reactivate").count() == 1
