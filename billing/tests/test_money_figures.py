"""The money figures (billing.money, README "Money figures") against values computed by hand,
on a fixture built the way production builds it: Stripe events posted to the webhook, the
seats bought and assigned through the services, energy spent through the wallet.

Every expected value is a literal with its arithmetic beside it: a change of definition
must show up here as a changed number."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from billing.dashboard import money_panel, money_range
from billing.models import Payment
from billing.money import money_figures
from billing.tests import factories as f
from billing.tests.conftest import make_buyer
from billing.tests.helpers import (
    completed_event,
    grouped_invoice,
    invoice_event,
    premium_user,
    pro_with_assigned_seats,
    seats_metadata,
    sub_event,
    ts,
)
from licenses import services as license_services
from licenses.models import ProAccountStatus
from phoenix.accounts.tests.factories import UserFactory
from subscriptions.models import Access, AccessType
from wallet import services as wallet_services
from wallet.models import EnergyLot, EnergyPack, LotCategory

pytestmark = pytest.mark.django_db

FLOW_FIGURES = ("gross_cents", "refunds_cents", "disputed_cents", "disputes_won_cents", "disputes_lost_cents",
                "net_cents")


@dataclass
class Fixture:
    start: datetime  # before everything the fixture does
    payments: dict[str, Payment]
    suspended_account: object


def _post(client, event):
    response = f.post_event(client, event)
    assert response.status_code == 200, response.content
    return event


def _pack(client, user, code, amount, currency="eur") -> Payment:
    event = _post(client, completed_event(user, code=code, amount=amount, currency=currency))
    return Payment.objects.get(stripe_checkout_session_id=event["data"]["object"]["id"])


def _refund(client, payment, amount_refunded):
    charge = f.charge(payment_intent_id=payment.stripe_payment_intent_id, amount=payment.amount_cents,
                      amount_refunded=amount_refunded)
    _post(client, f.event("charge.refunded", charge))


def _dispute(client, payment, *, outcome=None, closed_at=None):
    dispute = f.dispute(payment_intent_id=payment.stripe_payment_intent_id, amount=payment.amount_cents)
    _post(client, f.event("charge.dispute.created", dispute))
    if outcome is not None:  # Stripe's verdict: stored, no handler acts on it
        _post(client, f.event("charge.dispute.closed", {**dispute, "status": outcome}, created=closed_at))


def _suspended_pro(client, *, monthly_seats, start):
    """A pro whose first 3 monthly seats were bought by checkout, then the grouped renewal failed."""
    owner = make_buyer()
    account = license_services.pro_account_open(owner=owner)
    session = f.subscription_checkout_session(subscription_id="sub_test_money_suspended", amount=monthly_seats * 2999,
                                              metadata=seats_metadata(owner, quantity=monthly_seats))
    _post(client, f.event("checkout.session.completed", session, created=start))
    invoice = f.invoice(subscription_id="sub_test_money_suspended", quantity=monthly_seats, status="open",
                        metadata=seats_metadata(owner, quantity=monthly_seats), billing_reason="subscription_cycle",
                        period_start=start + 5, invoice_id="in_test_money_failed")
    _post(client, f.event("invoice.payment_failed", invoice, created=start + 5))
    account.refresh_from_db()
    assert account.status == ProAccountStatus.SUSPENDED
    return account


@pytest.fixture
def money_fixture(client, webhook_secret, packs, plans) -> Fixture:
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=1)
    t0 = ts(start) + 1  # Stripe event times (whole seconds), inside the range
    p = {}
    # Packs (first purchases: only cafe_luna gives a bonus, 10 %, in a lot of its own).
    p["kept"] = _pack(client, make_buyer(), "cafe_luna", 299)
    p["partly_refunded"] = _pack(client, make_buyer(), "repas_luna", 999)
    p["refunded"] = _pack(client, make_buyer(), "petit_dej_luna", 599)
    p["dispute_lost"] = _pack(client, make_buyer(), "repas_luna", 999)
    p["dispute_won"] = _pack(client, make_buyer(), "petit_dej_luna", 599)
    _refund(client, p["partly_refunded"], 300)
    _refund(client, p["refunded"], 599)
    _dispute(client, p["dispute_lost"], outcome="lost", closed_at=t0 + 20)
    _dispute(client, p["dispute_won"], outcome="won", closed_at=t0 + 20)
    # Paid energy partly consumed: 85 welcome + 10 bonus go first (free before paid), then 25 paid.
    wallet_services.wallet_debit(user=p["kept"].user, amount=120, source="api", reason="test: spend")

    # Individual monthly subscriptions (each checkout is a 29.99 EUR payment).
    active, canceling, churned, failed = make_buyer(), make_buyer(), make_buyer(), make_buyer()
    premium_user(client, active, sub_id="sub_test_money_active", start=t0)
    premium_user(client, canceling, sub_id="sub_test_money_canceling", start=t0)
    _post(client, sub_event("customer.subscription.updated", user=canceling, sub_id="sub_test_money_canceling",
                            created=t0 + 10, previous={"cancel_at_period_end": False}, cancel_at_period_end=True))
    premium_user(client, churned, sub_id="sub_test_money_churned", start=t0)
    _post(client, sub_event("customer.subscription.deleted", user=churned, sub_id="sub_test_money_churned",
                            created=t0 + 10, status="canceled"))
    premium_user(client, failed, sub_id="sub_test_money_failed", start=t0)
    _post(client, invoice_event("invoice.payment_failed", user=failed, sub_id="sub_test_money_failed",
                                period_start=t0 + 10, created=t0 + 10, status="open",
                                invoice_id="in_test_money_individual_failed"))
    assert [Access.objects.get(user=u).type for u in (active, canceling, churned, failed)] == [
        AccessType.PREMIUM, AccessType.PREMIUM, AccessType.TRIAL, AccessType.TRIAL]

    # The active subscription's next month is paid: a renewal invoice, 29.99 EUR.
    _post(client, invoice_event("invoice.paid", user=active, sub_id="sub_test_money_active", period_start=t0 + 15,
                                created=t0 + 15, invoice_id="in_test_money_renewal"))

    # Pro seats: 2 monthly (59.98 EUR) and 1 lifetime (299.00 EUR) bought by checkout, both assigned,
    # and the grouped renewal of the 2 monthly seats paid (59.98 EUR)...
    pro_owner = pro_with_assigned_seats(client)[0]
    _post(client, grouped_invoice("invoice.paid", pro_owner, created=t0 + 15, invoice_id="in_test_money_grouped"))
    # ... and a pro whose grouped renewal failed: 3 monthly seats (89.97 EUR at checkout) suspended.
    suspended = _suspended_pro(client, monthly_seats=3, start=t0)
    return Fixture(start=start, payments=p, suspended_account=suspended)


def _end():
    return timezone.now() + timedelta(minutes=1)


def test_every_figure_matches_the_hand_computed_value(money_fixture, django_assert_max_num_queries):
    end = _end()
    with django_assert_max_num_queries(12):
        figures = money_figures(start=money_fixture.start, end=end)

    assert figures["currencies"] == ["eur"]
    eur = figures["by_currency"]["eur"]
    # Gross: packs 299 + 999 + 599 + 999 + 599 = 3495; 4 monthly checkouts 4 x 2999 = 11996;
    # seats 2 x 2999 = 5998 and 29900 lifetime; the suspended pro's 3 x 2999 = 8997;
    # renewals: the individual 2999 + the grouped 2 x 2999 = 5998, 8997.
    # 3495 + 11996 + 5998 + 29900 + 8997 + 8997 = 69383
    assert (eur["gross_cents"], eur["renewals_cents"]) == (69383, 8997)
    assert (figures["payments_sold"], figures["renewals_paid"]) == (5 + 4 + 2 + 1, 2)
    # Refunds: 300 (partial) + 599 (full) = 899
    assert (eur["refunds_cents"], figures["refunds"]) == (899, 2)
    # Disputes: opened 999 + 599 = 1598, won 599, lost 1598 - 599 = 999
    assert (eur["disputed_cents"], eur["disputes_won_cents"], eur["disputes_lost_cents"]) == (1598, 599, 999)
    assert (figures["disputes_opened"], figures["disputes_won"]) == (2, 1)
    # Net: 69383 - 899 - 999 = 67485
    assert eur["net_cents"] == 67485
    assert eur["refunds_undated_cents"] == 0

    # MRR: 2 PREMIUM (one canceling at period end still pays) 2 x 2999 = 5998; 2 monthly seats of
    # the active pro 2 x 2999 = 5998 (lifetime seats do not recur, suspended ones are not paid);
    # 5998 + 5998 = 11996
    assert (eur["mrr_individual_cents"], eur["mrr_seats_cents"], eur["mrr_cents"]) == (5998, 5998, 11996)
    assert figures["subscriptions"] == {"active": 2, "canceling": 1, "unpriced": 0, "new": 4,
                                        "churned": 2}  # churned: deleted 1 + payment failed 1
    assert figures["monthly_seats_billed"] == 2
    # Failed renewals: the individual invoice 1 + the pro's grouped invoice 1 = 2
    assert figures["failed_renewals"] == {"individual": 1, "pro": 1, "total": 2}
    # Suspended: 1 account, 3 monthly seats x 2999 = 8997 due
    assert eur["suspended_due_cents"] == 8997
    account = money_fixture.suspended_account
    assert figures["suspended"] == {"count": 1, "seats": 3, "rows": [
        {"pro_account_id": account.pk, "owner_email": account.owner.email, "suspended_seats": 3,
         "due_cents": 8997, "currency": "eur"}]}

    # Paid energy: cafe_luna 100 - 25 spent = 75 (value 299 x 75 / 100 = 224.25 -> 224);
    # repas_luna partly refunded 300 / 999 of 100 points, rounded up: 31 clawed, 69 left
    # (999 x 69 / 100 = 689.31 -> 689); the refunded and disputed packs were clawed back to 0.
    # 75 + 69 = 144 points, 224 + 689 = 913 cents
    assert (eur["paid_energy_points"], eur["paid_energy_value_cents"]) == (144, 913)
    assert figures["paid_energy_points"] == 144


def test_the_range_is_start_inclusive_end_exclusive(money_fixture):
    kept = money_fixture.payments["kept"]
    kept.refresh_from_db()
    at = kept.fulfilled_at
    # Only the first pack succeeded at that instant or before it within [at, at + 1 µs).
    just_it = money_figures(start=at, end=at + timedelta(microseconds=1))
    assert just_it["by_currency"]["eur"]["gross_cents"] == 299
    ending_there = money_figures(start=money_fixture.start, end=at)
    assert ending_there["by_currency"]["eur"]["gross_cents"] == 0 and ending_there["payments_sold"] == 0


def test_an_empty_range_has_no_flows_but_the_stocks_of_now(money_fixture):
    long_ago = money_fixture.start - timedelta(days=400)
    figures = money_figures(start=long_ago, end=long_ago + timedelta(days=30))
    eur = figures["by_currency"]["eur"]
    assert {name: eur[name] for name in FLOW_FIGURES} == dict.fromkeys(FLOW_FIGURES, 0)
    assert figures["subscriptions"]["new"] == figures["subscriptions"]["churned"] == 0
    assert figures["failed_renewals"]["total"] == 0 and figures["payments_sold"] == 0
    # MRR, amounts due and paid energy describe now, whatever the range.
    assert (eur["mrr_cents"], eur["suspended_due_cents"], eur["paid_energy_points"]) == (11996, 8997, 144)


def test_nothing_at_all(db):
    figures = money_figures(start=timezone.now() - timedelta(days=30), end=timezone.now())
    assert figures["currencies"] == [] and figures["by_currency"] == {}
    assert figures["suspended"] == {"count": 0, "seats": 0, "rows": []}


def test_two_currencies_are_never_added(client, webhook_secret, packs, plans):
    start = timezone.now() - timedelta(seconds=1)
    EnergyPack.objects.create(code="cafe_usd", label="Café (USD)", price_cents=350, currency="USD", energy_points=100)
    eur = _pack(client, make_buyer(), "cafe_luna", 299)
    usd = _pack(client, make_buyer(), "cafe_usd", 350, currency="usd")
    _refund(client, usd, 100)
    _dispute(client, eur)
    figures = money_figures(start=start, end=_end())
    assert figures["currencies"] == ["eur", "usd"]
    by = figures["by_currency"]
    # EUR: 299 gross, disputed (lost until won) 299, net 299 - 299 = 0
    assert (by["eur"]["gross_cents"], by["eur"]["disputes_lost_cents"], by["eur"]["net_cents"]) == (299, 299, 0)
    # USD: 350 gross, 100 refunded, net 350 - 100 = 250; its paid lot: 100 - ceil(100 x 100 / 350) = 100 - 29
    # = 71 points left, worth 350 x 71 / 100 = 248.5 -> 248
    assert (by["usd"]["gross_cents"], by["usd"]["refunds_cents"], by["usd"]["net_cents"]) == (350, 100, 250)
    assert (by["usd"]["paid_energy_points"], by["usd"]["paid_energy_value_cents"]) == (71, 248)
    assert EnergyLot.objects.get(reference=f"payment:{usd.pk}", category=LotCategory.PAID).remaining == 71


def test_a_dispute_counts_as_lost_until_won_in_the_range_it_is_won(client, webhook_secret, packs):
    start = timezone.now() - timedelta(seconds=1)
    payment = _pack(client, make_buyer(), "repas_luna", 999)
    won_at = ts(timezone.now()) + 3600  # Stripe decides an hour later
    _dispute(client, payment, outcome="won", closed_at=won_at)
    opened = money_figures(start=start, end=_end())["by_currency"]["eur"]
    assert (opened["disputes_lost_cents"], opened["net_cents"]) == (999, 0)  # 999 - 999
    won_range = money_figures(start=datetime.fromtimestamp(won_at, tz=UTC),
                              end=datetime.fromtimestamp(won_at + 1, tz=UTC))["by_currency"]["eur"]
    # The range holding only the verdict: 0 opened - 999 won = -999 lost, net 0 - 0 - (-999) = 999
    assert (won_range["disputes_won_cents"], won_range["disputes_lost_cents"], won_range["net_cents"]) == (
        999, -999, 999)
    both = money_figures(start=start, end=datetime.fromtimestamp(won_at + 1, tz=UTC))["by_currency"]["eur"]
    assert (both["disputes_lost_cents"], both["net_cents"]) == (0, 999)  # 999 - 999 won; 999 - 0 - 0


def test_the_query_count_does_not_grow_with_the_data(money_fixture, client, django_assert_max_num_queries):
    for n in range(3):
        payment = _pack(client, make_buyer(), "repas_luna", 999)
        _refund(client, payment, 100)
        _dispute(client, payment, outcome="won")
        premium_user(client, make_buyer(), sub_id=f"sub_test_money_more_{n}", start=ts(money_fixture.start) + 1)
    with django_assert_max_num_queries(12):
        money_figures(start=money_fixture.start, end=_end())


def test_the_dashboard_panel_shows_net_beside_gross_as_money(money_fixture):
    now = timezone.now() + timedelta(minutes=1)
    data = money_panel(now, {"money_from": money_fixture.start.date().isoformat()})
    assert data["range"].days is None and data["range"].error == ""
    (eur,) = data["by_currency"]
    assert (eur["currency"], eur["gross"], eur["net"], eur["mrr"]) == ("EUR", "693.83 EUR", "674.85 EUR", "119.96 EUR")
    assert eur["suspended_due"] == "89.97 EUR" and eur["paid_energy_value"] == "9.13 EUR"
    (row,) = data["suspended_rows"]
    assert row["url"] == reverse("admin:licenses_proaccount_change", args=[money_fixture.suspended_account.pk])
    assert row["due"] == "89.97 EUR"


def test_the_range_comes_from_the_query():
    now = datetime(2026, 3, 15, 12, 0, tzinfo=UTC)
    assert (money_range(now, {}).start, money_range(now, {}).days) == (now - timedelta(days=30), 30)
    seven = money_range(now, {"money_days": "7"})
    assert (seven.start, seven.end, seven.label) == (now - timedelta(days=7), now, "last 7 days")
    chosen = money_range(now, {"money_from": "2026-02-01", "money_to": "2026-02-28"})
    # Whole days, both included: the end is the midnight after the last day.
    assert (chosen.start, chosen.end) == (datetime(2026, 2, 1, tzinfo=UTC), datetime(2026, 3, 1, tzinfo=UTC))
    assert chosen.label == "2026-02-01 to 2026-02-28"
    bad_queries = ({"money_days": "12"}, {"money_from": "yesterday"},
                   {"money_from": "2026-03-02", "money_to": "2026-03-01"})
    for bad in bad_queries:
        wrong = money_range(now, bad)
        assert wrong.error and (wrong.start, wrong.days) == (now - timedelta(days=30), 30), bad


def test_every_refunded_cent_is_dated_even_when_it_claws_back_no_more_energy(client, webhook_secret, packs):
    """A refund step whose share of the points rounds to what is already clawed back takes
    nothing more, but payment_reverse still writes its reversal row (0 points): its money has a
    date and counts in the range's refunds; nothing is flagged undated."""
    start = timezone.now() - timedelta(seconds=1)
    payment = _pack(client, make_buyer(), "repas_luna", 999)  # 100 points
    _refund(client, payment, 10)  # ceil(100 x 10 / 999) = 2 points clawed: recorded, 10 cents
    _refund(client, payment, 15)  # cumulative: ceil(100 x 15 / 999) = 2, nothing more: 5 cents, 0 points
    payment.refresh_from_db()
    assert payment.amount_refunded_cents == 15
    assert sorted((r.amount_cents, r.requested) for r in payment.reversals.all()) == [(5, 0), (10, 2)]
    eur = money_figures(start=start, end=_end())["by_currency"]["eur"]
    assert (eur["refunds_cents"], eur["refunds_undated_cents"]) == (15, 0)
    assert money_panel(timezone.now(), {})["refunds_undated"] == []


def test_the_admin_index_renders_the_money_panel_for_the_range_asked(money_fixture, client):
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    # Whole days: the fixture's Stripe events are stamped a few seconds ahead of now.
    first, last = money_fixture.start.date(), money_fixture.start.date() + timedelta(days=1)
    html = client.get("/admin/", {"money_from": first.isoformat(), "money_to": last.isoformat()}).content.decode()
    assert f'data-money-range="{first.isoformat()} to {last.isoformat()}"' in html
    assert '<td data-figure="net"><strong>674.85 EUR</strong></td>' in html
    assert '<td data-figure="gross">693.83 EUR</td>' in html
    change_url = reverse("admin:licenses_proaccount_change", args=[money_fixture.suspended_account.pk])
    assert f'<a href="{change_url}">{money_fixture.suspended_account.owner.email}</a>' in html
    wrong = client.get("/admin/", {"money_from": "someday"}).content.decode()
    assert "data-money-error" in wrong and 'data-money-range="last 30 days"' in wrong
