import pytest
from django.db import IntegrityError, connection, transaction

from phoenix.core.models import AdminAction
from phoenix.core.services import ReasonRequired, operator_action
from phoenix.core.tests.operator import new_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client):
    admin_user = new_user(is_staff=True, is_superuser=True)
    client.force_login(admin_user)
    client.admin_user = admin_user
    return client


def test_dashboard_shows_platform_health_to_staff(staff_client):
    response = staff_client.get("/admin/")
    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="panel-platform"' in html
    assert "vendor/chartjs/4.6.1/chart.umd.min.js" in html
    assert "https://" not in html.split("<body")[0]  # no CDN in the head


def test_dashboard_refused_to_non_staff(client):
    client.force_login(new_user())
    response = client.get("/admin/")
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


def test_admin_action_needs_a_reason(staff_client):
    target = new_user()
    with pytest.raises(ReasonRequired):
        operator_action(actor=staff_client.admin_user, action="user_touch", target=target, reason="  ")
    assert not AdminAction.objects.exists()


def test_admin_actions_are_append_only(staff_client):
    target = new_user()
    row = operator_action(actor=staff_client.admin_user, action="user_touch", target=target,
                              reason="ticket 42", before={"a": 1}, after={"a": 2})
    assert (row.target_type, row.target_id) == ("accounts.user", str(target.pk))
    for statement in ("UPDATE core_adminaction SET reason = 'x'", "DELETE FROM core_adminaction"):
        with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(statement)
    assert AdminAction.objects.get().reason == "ticket 42"


def test_admin_action_pages_are_read_only(staff_client):
    row = operator_action(actor=staff_client.admin_user, action="user_touch",
                              target=new_user(), reason="ticket 42")
    assert staff_client.get("/admin/core/adminaction/").status_code == 200
    assert staff_client.get(f"/admin/core/adminaction/{row.pk}/change/").status_code == 200
    assert staff_client.get("/admin/core/adminaction/add/").status_code == 403
    assert staff_client.post(f"/admin/core/adminaction/{row.pk}/delete/", {"post": "yes"}).status_code == 403
