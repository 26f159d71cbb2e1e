"""The demo seeds of subscriptions/ and licenses/ (run by `manage.py seed_demo`)."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command

from licenses.models import License, LicenseStatus, ProAccount, ProAccountStatus
from phoenix.accounts.models import User
from phoenix.core.demo import DEMO_EMAILS
from subscriptions.models import AccessEvent, AccessType
from subscriptions.selectors import access_for_user, check_premium_access

pytestmark = pytest.mark.django_db


def test_seed_demo_gives_a_premium_user_and_a_pro_account_and_is_idempotent(plans):
    for _ in range(2):
        call_command("seed_demo", stdout=StringIO())

    ada, grace, linus = (User.objects.get(email=email) for email in DEMO_EMAILS)
    assert access_for_user(ada).type == AccessType.PREMIUM
    assert AccessEvent.objects.filter(access__user=ada, kind="premium_activated").count() == 1
    account = ProAccount.objects.get(owner=grace)
    assert account.status == ProAccountStatus.ACTIVE and account.billing_anchor_day is not None
    assert License.objects.filter(pro_account=account).count() == 4
    assert License.objects.get(assignee=linus).status == LicenseStatus.ACTIVE
    assert access_for_user(linus).type == AccessType.LICENSED and check_premium_access(linus)
