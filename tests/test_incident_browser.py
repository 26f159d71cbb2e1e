"""Headless Chromium on a CRITICAL's repair path: the incident page with its runbook and pretty
detail, "Re-run checks" before the repair (still open, told what is wrong) and after it (resolved).
Screenshots in artifacts/screenshots/."""

import pytest
from django.contrib.auth.models import Group
from django.db import connection
from django.urls import reverse
from selenium.webdriver.common.by import By

from phoenix.accounts.services import user_register
from phoenix.accounts.tests.factories import DEFAULT_PASSWORD, UserFactory
from phoenix.core import roles
from tests.test_admin_browser import _login, _screenshot, browser, click_through, needs_chromium  # noqa: F401
from wallet import services
from wallet.models import Incident
from wallet.tests.factories import wallet_balance_drift
from wallet.tests.test_incident_operator import runbook_repair_sql


def _rerun(driver, reason: str) -> None:
    click_through(driver, driver.find_element(By.CSS_SELECTOR, "a.phoenix-operator[href$='/operator/rerun-checks/']"))
    driver.find_element(By.NAME, "reason").send_keys(reason)
    click_through(driver, driver.find_element(By.CSS_SELECTOR, "#content-main form [type=submit]"))


@pytest.mark.slow
@needs_chromium
@pytest.mark.django_db(transaction=True)
def test_rerun_checks_before_and_after_the_runbook_repair(request, live_server, browser):  # noqa: F811
    member, _token = user_register(email="critical-member@example.com", password=DEFAULT_PASSWORD)
    wallet_balance_drift(member.wallet, delta=7)
    services.wallet_health_run()
    incident = Incident.objects.get(code="ledger_balance_mismatch")
    operator = UserFactory(email="finance-operator@example.com", is_staff=True)
    operator.groups.add(Group.objects.get(name=roles.FINANCE))
    _login(browser, live_server, operator)

    browser.get(f"{live_server.url}{reverse('admin:wallet_incident_change', args=[incident.pk])}")
    detail = browser.find_element(By.CSS_SELECTOR, "pre.phoenix-json")
    assert detail.text == '{\n  "balance": 92,\n  "replay_balance": 85\n}'
    runbook = browser.find_element(By.CSS_SELECTOR, ".phoenix-runbook")
    assert runbook.is_displayed() and "When to resolve" in runbook.text
    _screenshot(request, browser, "incident-critical.png")

    _rerun(browser, "checking before the repair")
    warning = browser.find_element(By.CSS_SELECTOR, ".messagelist .warning")
    assert "still wrong" in warning.text and "balance=92" in warning.text
    _screenshot(request, browser, "incident-rerun-still-wrong.png")

    with connection.cursor() as cursor:
        cursor.execute(runbook_repair_sql("ledger_balance_mismatch", member.wallet.pk))
    _rerun(browser, "restored the row from the ledger (runbook), ticket 41")
    success = browser.find_element(By.CSS_SELECTOR, ".messagelist .success")
    assert "finding is gone" in success.text
    assert browser.find_elements(By.CSS_SELECTOR, "a[href$='/operator/rerun-checks/']") == []  # resolved
    _screenshot(request, browser, "incident-rerun-resolved.png")

    click_through(browser, browser.find_element(By.ID, "runbook"))
    assert browser.current_url.endswith(reverse("admin:runbook", args=["ledger_balance_mismatch"]))
    assert browser.find_element(By.ID, "phoenix-runbook").is_displayed()
    incident.refresh_from_db()
    assert incident.status == "resolved"
