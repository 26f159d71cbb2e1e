"""A CRITICAL's repair path in the admin: detect a real inconsistency, read its runbook and its
pretty detail on the incident page, re-run the checks (still wrong: stays open, bumped; repaired
with the runbook's own SQL: resolved), each re-run audited; refused to a role without the
permission and while a health run holds the lock."""

import re
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.messages import get_messages
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from phoenix.accounts.services import user_register
from phoenix.accounts.tests.factories import DEFAULT_PASSWORD
from phoenix.core.jobs import advisory_lock
from phoenix.core.models import AdminAction
from phoenix.core.tests.operator import op_url
from wallet import services
from wallet.models import Incident
from wallet.services.velocity import INCIDENT_CODE as VELOCITY_INCIDENT_CODE
from wallet.tests.factories import hold_create, hold_vanish, wallet_balance_drift

pytestmark = pytest.mark.django_db

RUNBOOKS = Path(settings.BASE_DIR) / "docs" / "runbooks"


@pytest.fixture
def member():
    user, _token = user_register(email="incident-member@example.com", password=DEFAULT_PASSWORD)
    return user  # a wallet with the 85-point welcome grant


def change_url(incident: Incident) -> str:
    return reverse("admin:wallet_incident_change", args=[incident.pk])


def rerun(client, incident: Incident, reason: str = "restored the row from the ledger, ticket 41"):
    return client.post(op_url("wallet_incident", "rerun-checks", incident.pk), {"reason": reason})


def told(response) -> tuple[str, str]:
    """The message the last action left (the redirect is not followed: earlier ones queue up)."""
    return [(m.level_tag, m.message) for m in get_messages(response.wsgi_request)][-1]


def runbook_repair_sql(code: str, wallet_id: int) -> str:
    """The repair the runbook gives (its ```sql block under "Repair"), for this wallet."""
    text = (RUNBOOKS / f"{code}.md").read_text()
    repair = text.split("## Repair", 1)[1].split("## ", 1)[0]
    block = re.search(r"```sql\n(.*?)```", repair, re.S).group(1)
    body = "\n".join(line for line in block.splitlines() if line.strip() not in ("BEGIN;", "COMMIT;"))
    return body.replace("<wallet-id>", str(int(wallet_id)))


def test_a_critical_is_rerun_still_open_then_repaired_with_its_runbook_and_resolved(finance_client, member,
                                                                                      settings):
    settings.ADMINS = [("Ops", "ops@example.com")]
    wallet = member.wallet
    wallet_balance_drift(wallet, delta=7)  # the row says 92, the ledger 85
    services.wallet_health_run()
    incident = Incident.objects.get(wallet=wallet, code="ledger_balance_mismatch", status="open")
    [alert] = mail.outbox
    assert f"(incident {incident.pk}; runbook: docs/runbooks/ledger_balance_mismatch.md)" in alert.body
    lots_incident = Incident.objects.get(wallet=wallet, code="lots_balance_mismatch", status="open")

    page = finance_client.get(change_url(incident)).content.decode()
    assert op_url("wallet_incident", "rerun-checks", incident.pk) in page  # the button
    assert f'<a id="runbook" href="{reverse("admin:runbook", args=["ledger_balance_mismatch"])}">runbook</a>' in page
    assert "<h2>Repair</h2>" in page  # the runbook, rendered
    assert '<pre class="phoenix-json">{\n  &quot;balance&quot;: 92,\n  &quot;replay_balance&quot;: 85\n}</pre>' in page

    # Nothing repaired yet: the re-run says what is still wrong, the incident stays open, bumped.
    seen_before = incident.last_seen_at
    response = rerun(finance_client, incident, reason="checking before the repair")
    assert response.status_code == 302 and response["Location"] == change_url(incident)
    level, message = told(response)
    assert level == "warning" and "still wrong" in message
    assert ("ledger_balance_mismatch (balance differs from the replay of its operations): balance=92, "
            "replay_balance=85") in message
    assert "lots_balance_mismatch" in message  # the wallet's other finding, too
    incident.refresh_from_db()
    assert (incident.status, incident.times_seen) == ("open", 2) and incident.last_seen_at > seen_before
    audit = AdminAction.objects.get(action="incident_checks_rerun")
    assert (audit.target_id, audit.reason) == (str(incident.pk), "checking before the repair")
    assert audit.after["finding_gone"] is False and audit.after["status"] == "open"
    assert audit.after["wallet_findings"] == ["ledger_balance_mismatch", "lots_balance_mismatch"]

    # The runbook's repair, as written there, then the re-run resolves it.
    with connection.cursor() as cursor:
        cursor.execute(runbook_repair_sql("ledger_balance_mismatch", wallet.pk))
    wallet.refresh_from_db()
    assert wallet.balance == 85
    response = rerun(finance_client, incident)
    level, message = told(response)
    assert level == "success" and "finding is gone" in message and "The wallet is healthy." in message
    incident.refresh_from_db()
    assert incident.status == "resolved" and incident.resolved_at is not None
    assert incident.resolution_note == f"checks re-run by {response.wsgi_request.user.email}: finding gone"
    audit = AdminAction.objects.filter(action="incident_checks_rerun").latest("pk")
    assert audit.after == {"status": "resolved", "times_seen": 2, "finding_gone": True, "wallet_findings": []}
    assert audit.before["status"] == "open"

    # Back + resubmit: the incident is resolved, so the re-post is refused and writes nothing.
    audits = AdminAction.objects.count()
    response = rerun(finance_client, incident)
    assert response.status_code == 200 and "incident_not_open" in response.content.decode()
    assert AdminAction.objects.count() == audits
    # The button is gone from the resolved incident; the other finding resolves on its re-run.
    assert op_url("wallet_incident", "rerun-checks", incident.pk) not in \
        finance_client.get(change_url(incident)).content.decode()
    rerun(finance_client, lots_incident)
    lots_incident.refresh_from_db()
    assert lots_incident.status == "resolved"


def test_a_warning_left_open_is_rerun_then_corrected_through_the_correction_path(finance_client, member):
    wallet = member.wallet
    hold_create(wallet=wallet, amount=20)
    hold_vanish(wallet)  # held 20, no pending hold: WARNING
    wallet_balance_drift(wallet, delta=7)  # and a CRITICAL, so the run does not auto-correct it
    services.wallet_health_run()
    warning = Incident.objects.get(wallet=wallet, code="held_pending_mismatch", status="open")
    assert warning.resolution_note == "not auto-corrected: the wallet has critical findings"
    with connection.cursor() as cursor:
        cursor.execute(runbook_repair_sql("ledger_balance_mismatch", wallet.pk))

    response = rerun(finance_client, warning)
    level, message = told(response)
    assert level == "warning" and "held_pending_mismatch" in message and "held=20, pending_holds=0" in message
    assert "Auto-correct WARNING on the wallet page" in message
    warning.refresh_from_db()
    assert warning.status == "open" and warning.times_seen == 2

    # The runbook's repair: the wallet page's "Auto-correct WARNING" (no CRITICAL left now).
    response = finance_client.post(op_url("wallet_wallet", "correct-warning", wallet.pk),
                                   {"reason": "critical repaired, correcting held"})
    assert response.status_code == 302
    warning.refresh_from_db()
    assert warning.status == "resolved"
    assert services.wallet_health_run().findings == []


def test_rerun_is_refused_while_a_health_run_holds_the_lock(finance_client, member):
    wallet_balance_drift(member.wallet, delta=3)
    services.wallet_health_run()
    incident = Incident.objects.get(code="ledger_balance_mismatch")
    with advisory_lock(services.HEALTH_LOCK) as acquired:
        assert acquired
        response = rerun(finance_client, incident)
    assert response.status_code == 200 and "job_already_running" in response.content.decode()
    incident.refresh_from_db()
    assert incident.times_seen == 1 and not AdminAction.objects.filter(action="incident_checks_rerun").exists()


def test_rerun_needs_the_resolve_permission(support_client, member):
    wallet_balance_drift(member.wallet, delta=3)
    services.wallet_health_run()
    incident = Incident.objects.get(code="ledger_balance_mismatch")
    page = support_client.get(change_url(incident))
    assert page.status_code == 200
    assert op_url("wallet_incident", "rerun-checks", incident.pk) not in page.content.decode()  # no button
    assert 'id="runbook"' in page.content.decode()  # support reads the runbook
    customer_page = support_client.get(reverse("admin:customer", args=[member.public_id])).content.decode()
    assert reverse("admin:runbook", args=["ledger_balance_mismatch"]) in customer_page  # its incidents section
    assert support_client.get(op_url("wallet_incident", "rerun-checks", incident.pk)).status_code == 403
    assert rerun(support_client, incident).status_code == 403
    incident.refresh_from_db()
    assert incident.times_seen == 1 and not AdminAction.objects.exists()


def test_a_velocity_incident_has_no_checks_to_rerun(finance_client, member):
    incident = Incident.objects.create(wallet=member.wallet, code=VELOCITY_INCIDENT_CODE, severity="warning",
                                       detail={"limit": "10 energy per 3600 s", "retry_after": 60},
                                       detected_at=member.date_joined, last_seen_at=member.date_joined)
    page = finance_client.get(change_url(incident)).content.decode()
    assert op_url("wallet_incident", "rerun-checks", incident.pk) not in page
    assert op_url("wallet_incident", "lift-breaker", incident.pk) in page
    assert reverse("admin:runbook", args=[VELOCITY_INCIDENT_CODE]) in page
    response = rerun(finance_client, incident)
    assert response.status_code == 200 and "incident_not_rerunnable" in response.content.decode()


def test_the_incident_page_query_count_does_not_grow_with_the_wallet(finance_client, member):
    wallet_balance_drift(member.wallet, delta=3)
    services.wallet_health_run()
    incident = Incident.objects.get(code="ledger_balance_mismatch")

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert finance_client.get(change_url(incident)).status_code == 200
        return len(captured)

    small = queries()
    for _ in range(15):
        services.wallet_debit(user=member, amount=1, source="api", reason="more history")
    services.wallet_health_run()  # bumps the incident (a bigger detail is still one row)
    assert queries() == small
