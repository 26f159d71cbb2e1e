"""Real threads, real transactions: concurrent assignments cannot produce two owners."""


import pytest

from licenses import services
from licenses.models import License, ProAccount
from licenses.tests.factories import T0, linked_collaborator, trial_user
from phoenix.core.errors import PhoenixError
from subscriptions.models import Access

pytestmark = pytest.mark.django_db(transaction=True)



def _active_account():
    # Built directly (no plan lookup): transactional tests run on flushed tables.
    return ProAccount.objects.create(owner=trial_user(now=T0), status="active", trial_ends_at=T0)


def _outcome(result) -> tuple[str, object]:
    """A race result as (kind, detail): the service's return, a domain error's code, or a crash."""
    if isinstance(result, PhoenixError):
        return ("error", result.code)
    if isinstance(result, Exception):  # surfaced in the assertion message
        return ("crash", repr(result))
    return ("ok", result)


def _race(race, *calls):
    """Run the calls at the same moment, each in its own thread and connection."""
    return [_outcome(result) for result in race(len(calls), lambda i: calls[i]())]


@pytest.mark.parametrize("attempt", range(3))
def test_two_simultaneous_assignments_of_one_license(race, attempt):
    account = _active_account()
    lic = License.objects.create(pro_account=account, kind="monthly")
    alice, bob = linked_collaborator(account, now=T0), linked_collaborator(account, now=T0)

    outcomes = _race(
        race,
        lambda: services.license_assign(license=lic, collaborator=alice, now=T0),
        lambda: services.license_assign(license=lic, collaborator=bob, now=T0),
    )
    assert sorted(kind for kind, _ in outcomes) == ["error", "ok"], outcomes
    assert [code for kind, code in outcomes if kind == "error"] == ["license_not_available"]
    lic.refresh_from_db()
    assert lic.status == "active" and lic.assignee in (alice, bob)
    licensed = Access.objects.filter(user__in=[alice, bob], type="LICENSED")
    assert [a.user_id for a in licensed] == [lic.assignee_id]


@pytest.mark.parametrize("same_account", [True, False])
def test_two_simultaneous_licenses_to_one_collaborator(race, same_account):
    first = _active_account()
    second = first if same_account else _active_account()
    lic1 = License.objects.create(pro_account=first, kind="monthly")
    lic2 = License.objects.create(pro_account=second, kind="lifetime")
    carol = linked_collaborator(first, now=T0)
    if not same_account:
        services.collaborator_link(pro_account=second, collaborator=carol, now=T0)

    outcomes = _race(
        race,
        lambda: services.license_assign(license=lic1, collaborator=carol, now=T0),
        lambda: services.license_assign(license=lic2, collaborator=carol, now=T0),
    )
    assert sorted(kind for kind, _ in outcomes) == ["error", "ok"], outcomes
    assert [code for kind, code in outcomes if kind == "error"] == ["already_licensed"]
    assert License.objects.filter(assignee=carol).count() == 1
    assert License.objects.filter(status="available").count() == 1
    access = Access.objects.get(user=carol)
    assert (access.type, access.license_status) == ("LICENSED", "active")
