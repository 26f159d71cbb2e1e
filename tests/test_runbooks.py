"""Runbooks: every incident code the code can raise has one (codes collected from the source
constants, and every place that opens an incident checked to use one of them), each says what
the runbook must say, its by-hand commands exist, the README lists them all, and the admin shows
them (rendered, escaped) beside the pretty-printed detail."""

import ast
import re
import shlex
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import get_commands, load_command_class
from django.urls import reverse
from django.utils import timezone

from billing.models import ReconciliationIncident, WebhookEvent
from billing.selectors import RECONCILIATION_CODES, SHORTFALL_CODE, ReconciliationFinding
from billing.services import pro_seats
from phoenix.core.admin import json_pretty
from phoenix.core.runbooks import RUNBOOK_DIR, runbook_codes, runbook_html
from wallet.selectors.health import CRITICAL_CODES, WARNING_CODES, _add_finding
from wallet.services import velocity

ROOT = Path(settings.BASE_DIR)
APPS = ("wallet", "billing", "licenses", "subscriptions", "phoenix")
INCIDENT_MODELS = ("Incident", "ReconciliationIncident")
SECTIONS = ("## What it means", "## How money or energy is affected", "## Investigate", "## Repair",
            "## When to resolve")
BY_HAND = re.compile(r"`(\.venv/bin/python manage\.py [^`]+)`")


def source_files():
    for app in APPS:
        for path in (ROOT / app).rglob("*.py"):
            if "tests" not in path.parts and "migrations" not in path.parts:
                yield path


def module_constants(tree: ast.Module) -> dict[str, str]:
    return {target.id: node.value.value for node in tree.body if isinstance(node, ast.Assign)
            for target in node.targets if isinstance(target, ast.Name)
            and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)}


def incident_create_codes() -> tuple[set[str], list[str]]:
    """The `code=` of every `<Incident model>.objects.create(...)` in the source: literal or
    module-constant codes, and the places whose code comes from a finding (`finding.code`)."""
    codes, from_findings = set(), []
    for path in source_files():
        tree = ast.parse(path.read_text())
        constants = module_constants(tree)
        for node in ast.walk(tree):
            func = getattr(node, "func", None)
            if not (isinstance(node, ast.Call) and isinstance(func, ast.Attribute) and func.attr == "create"
                    and isinstance(func.value, ast.Attribute) and func.value.attr == "objects"
                    and isinstance(func.value.value, ast.Name) and func.value.value.id in INCIDENT_MODELS):
                continue
            code = next(k.value for k in node.keywords if k.arg == "code")
            where = f"{path.relative_to(ROOT)}:{node.lineno}"
            if isinstance(code, ast.Constant):
                codes.add(code.value)
            elif isinstance(code, ast.Name) and code.id in constants:
                codes.add(constants[code.id])
            elif isinstance(code, ast.Attribute) and code.attr == "code":
                from_findings.append(where)
            else:
                raise AssertionError(f"{where}: an incident code that is neither a literal, a module constant "
                                     "nor a finding's code")
    return codes, from_findings


def raised_codes() -> set[str]:
    """Every incident code the code can raise: the findings' code lists (each finding refuses a
    code outside them), the codes the incident-opening calls name, and the shortfall kind."""
    create_codes, _ = incident_create_codes()
    return {*CRITICAL_CODES, *WARNING_CODES, *RECONCILIATION_CODES, SHORTFALL_CODE, *create_codes}


def test_the_collection_finds_the_incident_sources_it_should():
    create_codes, from_findings = incident_create_codes()
    assert {velocity.INCIDENT_CODE, pro_seats.SYNC_FAILED} <= create_codes
    assert len(from_findings) == 2  # the health run's and the reconciliation's: both from findings


def test_findings_refuse_a_code_outside_their_lists():
    with pytest.raises(ValueError, match="unknown reconciliation code"):
        ReconciliationFinding("made_up_code", "payment:1")
    with pytest.raises(ValueError, match="unknown critical health code"):
        _add_finding([], 1, 1, "critical", "held_pending_mismatch")  # a WARNING's code as a CRITICAL


def test_every_code_the_code_can_raise_has_a_runbook_and_no_runbook_is_orphaned():
    codes = raised_codes()
    assert len(codes) >= 20
    assert sorted(codes - set(runbook_codes())) == []
    assert sorted(set(runbook_codes()) - codes) == []


@pytest.mark.parametrize("code", sorted(raised_codes()))
def test_each_runbook_says_what_a_runbook_must(code):
    text = (RUNBOOK_DIR / f"{code}.md").read_text()
    assert text.startswith(f"# {code}: ")
    positions = [text.find(section) for section in SECTIONS]
    assert -1 not in positions and positions == sorted(positions), f"{code}: sections {SECTIONS} in order"


def test_every_by_hand_command_of_the_runbooks_exists_and_parses():
    commands = get_commands()
    found = 0
    for path in sorted(RUNBOOK_DIR.glob("*.md")):
        for command in BY_HAND.findall(path.read_text()):
            name, *args = shlex.split(command)[2:]
            assert name in commands, f"{path.name}: no command {name!r}"
            parser = load_command_class(commands[name], name).create_parser("manage.py", name)
            parser.parse_args(args)  # exits (SystemExit) on an unknown option
            found += 1
    assert found >= 20


def test_the_readme_lists_every_runbook_one_line_each():
    readme = (ROOT / "README.md").read_text()
    for code in runbook_codes():
        lines = [line for line in readme.splitlines() if f"(docs/runbooks/{code}.md)" in line]
        assert len(lines) == 1, code
        assert f"`{code}`" in lines[0]


def test_runbooks_render_with_html_escaped():
    html = runbook_html("hash_chain_broken")
    assert "<h2>Repair</h2>" in html and "<code>" in html
    assert runbook_html("../README") is None and runbook_html("no_such_code") is None
    assert json_pretty({"b": "<script>", "a": 1}) == (
        '<pre class="phoenix-json">{\n  &quot;a&quot;: 1,\n  &quot;b&quot;: &quot;&lt;script&gt;&quot;\n}</pre>')


@pytest.mark.django_db
def test_the_runbook_pages_for_staff(support_client, client):
    index = support_client.get(reverse("admin:runbooks"))
    assert index.status_code == 200
    for code in runbook_codes():
        assert reverse("admin:runbook", args=[code]) in index.content.decode()
    page = support_client.get(reverse("admin:runbook", args=["payment_without_credit"]))
    assert page.status_code == 200 and "<h2>When to resolve</h2>" in page.content.decode()
    assert support_client.get(reverse("admin:runbook", args=["no_such_code"])).status_code == 404
    client.logout()
    assert client.get(reverse("admin:runbook", args=["payment_without_credit"])).status_code == 302  # to login


@pytest.mark.django_db
def test_billing_incident_shortfall_and_webhook_pages_pretty_print_and_link_the_runbook(support_client):
    now = timezone.now()
    incident = ReconciliationIncident.objects.create(
        code="credit_amount_mismatch", subject="payment:9", detected_at=now, last_seen_at=now,
        detail={"operation_id": 4, "credited": 90, "expected": 100, "same_user": True})
    page = support_client.get(reverse("admin:billing_reconciliationincident_change", args=[incident.pk]))
    body = page.content.decode()
    assert page.status_code == 200
    assert "{\n  &quot;credited&quot;: 90,\n  &quot;expected&quot;: 100," in body
    assert f'href="{reverse("admin:runbook", args=["credit_amount_mismatch"])}">runbook</a>' in body
    event = WebhookEvent.objects.create(stripe_id="evt_pretty", type="charge.refunded",
                                        payload={"type": "charge.refunded", "data": {"object": {"id": "ch_1"}}})
    body = support_client.get(reverse("admin:billing_webhookevent_change", args=[event.pk])).content.decode()
    assert ('<pre class="phoenix-json">{\n  &quot;data&quot;: {\n    &quot;object&quot;: {\n'
            '      &quot;id&quot;: &quot;ch_1&quot;\n    }\n  },') in body
