"""The admin: the ledger is read-only, the catalogues are editable."""

import pytest
from django.urls import reverse
from django.utils import timezone

from phoenix.core.models import AdminAction
from wallet.models import EnergyAction, Incident
from wallet.tests.factories import WalletFactory, hold_create

pytestmark = pytest.mark.django_db


def test_ledger_pages_render_and_are_read_only(admin_client):
    wallet = WalletFactory(balance=50)
    hold = hold_create(wallet=wallet, amount=10)
    operation = wallet.operations.first()
    for model, obj in (("wallet", wallet), ("hold", hold), ("balanceoperation", operation)):
        assert admin_client.get(reverse(f"admin:wallet_{model}_changelist")).status_code == 200
        assert admin_client.get(reverse(f"admin:wallet_{model}_change", args=[obj.pk])).status_code == 200
        assert admin_client.get(reverse(f"admin:wallet_{model}_add")).status_code == 403
        response = admin_client.post(reverse(f"admin:wallet_{model}_delete", args=[obj.pk]), {"post": "yes"})
        assert response.status_code == 403
    assert admin_client.get(reverse("admin:wallet_incident_changelist")).status_code == 200


def test_energy_catalogue_is_editable(admin_client):
    action = EnergyAction.objects.create(code="test_action", label="Test", category="medium", cost=15,
                                         source_app="letters")
    url = reverse("admin:wallet_energyaction_change", args=[action.pk])
    response = admin_client.post(url, {"code": action.code, "label": action.label, "category": action.category,
                                       "cost": 17, "source_app": action.source_app, "is_active": "on"})
    assert response.status_code == 302
    action.refresh_from_db()
    assert action.cost == 17
    assert admin_client.get(reverse("admin:wallet_energypack_changelist")).status_code == 200


def test_incidents_are_resolved_through_the_operator_action(admin_client):
    wallet = WalletFactory()
    incident = Incident.objects.create(wallet=wallet, code="ledger_balance_mismatch", severity="critical",
                                       detected_at=timezone.now(), last_seen_at=timezone.now())
    url = reverse("admin:wallet_incident_operator_resolve", args=[incident.pk])
    assert admin_client.get(url).status_code == 200
    response = admin_client.post(url, {"reason": "replayed by hand, ledger fine"})
    assert response.status_code == 302
    incident.refresh_from_db()
    assert incident.status == "resolved" and incident.resolved_at is not None
    assert incident.resolution_note == "replayed by hand, ledger fine"
    assert AdminAction.objects.get(action="incident_resolve").target_id == str(incident.pk)
