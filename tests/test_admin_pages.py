"""Every admin page: loads for staff, refused to others; roles (support, finance) enforced."""

import pytest
from django.apps import apps
from django.apps import apps as django_apps
from django.contrib import admin
from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.test import RequestFactory
from django.urls import reverse
from django_celery_beat.models import PeriodicTask

from phoenix.accounts.tests.factories import UserFactory
from phoenix.core import roles
from wallet.models import EnergyAction

pytestmark = pytest.mark.django_db

PHOENIX_APPS = set(roles.PHOENIX_APPS)


def registered_models():
    return sorted(admin.site._registry.items(), key=lambda item: item[0]._meta.label)


def url(model, view, *args):
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


def staff_in(role: str):
    user = UserFactory(is_staff=True)
    user.groups.add(Group.objects.get(name=role))
    return user


def may_add(model_admin, user) -> bool:
    request = RequestFactory().get("/")
    request.user = user
    return model_admin.has_add_permission(request)


def test_every_model_of_every_phoenix_app_has_an_admin():

    missing = [model._meta.label for model in apps.get_models()
               if model._meta.app_label in PHOENIX_APPS and model not in admin.site._registry]
    assert missing == []


def test_every_admin_page_loads_for_a_superuser(client, dashboard_data):
    superuser = UserFactory(is_staff=True, is_superuser=True)
    client.force_login(superuser)
    checked = 0
    for model, model_admin in registered_models():
        assert client.get(url(model, "changelist")).status_code == 200, model._meta.label
        obj = model._default_manager.order_by("pk").first()
        if obj is not None:
            response = client.get(url(model, "change", obj.pk))
            assert response.status_code == 200, model._meta.label
            checked += 1
        expected_add = 200 if may_add(model_admin, superuser) else 403
        assert client.get(url(model, "add")).status_code == expected_add, model._meta.label
    assert checked >= 20  # the fixture fills most tables: this is not a run over empty lists


def test_search_and_date_filters_of_audit_tables_work(client, dashboard_data):
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    email = dashboard_data.users[0].email
    for path in ("/admin/wallet/balanceoperation/", "/admin/subscriptions/accessevent/",
                 "/admin/licenses/licenseevent/", "/admin/billing/webhookevent/", "/admin/wallet/incident/",
                 "/admin/core/adminaction/"):
        assert client.get(path, {"q": email}).status_code == 200, path
    response = client.get("/admin/wallet/balanceoperation/", {"q": email, "type__exact": "debit"})
    assert response.status_code == 200
    assert response.context["cl"].result_count == 1  # the lettre_motivation debit (its refund is a credit)
    response = client.get("/admin/wallet/balanceoperation/", {"created_at__gte": "2000-01-01", "q": email})
    assert response.context["cl"].result_count >= 4


def test_admin_refused_to_non_staff(client, dashboard_data):
    client.force_login(UserFactory())  # active, not staff
    for model, _ in registered_models():
        response = client.get(url(model, "changelist"))
        assert response.status_code == 302 and "/admin/login/" in response["Location"], model._meta.label


def test_support_sees_everything_and_changes_nothing(client, dashboard_data):
    client.force_login(staff_in(roles.SUPPORT))
    for model, _ in registered_models():
        if model._meta.app_label not in roles.VIEW_APPS:
            continue
        assert client.get(url(model, "changelist")).status_code == 200, model._meta.label
        obj = model._default_manager.order_by("pk").first()
        assert client.get(url(model, "add")).status_code == 403, model._meta.label
        if obj is not None:
            assert client.get(url(model, "change", obj.pk)).status_code == 200, model._meta.label
            assert client.post(url(model, "change", obj.pk), {}).status_code == 403, model._meta.label
            assert client.post(url(model, "delete", obj.pk), {"post": "yes"}).status_code == 403, model._meta.label


def test_support_cannot_edit_even_the_editable_catalogues(client, dashboard_data):

    action = EnergyAction.objects.get(code="lettre_motivation")
    client.force_login(staff_in(roles.SUPPORT))
    response = client.post(url(EnergyAction, "change", action.pk),
                           {"code": action.code, "label": action.label, "category": action.category, "cost": 1,
                            "source_app": action.source_app, "is_active": "on"})
    assert response.status_code == 403
    action.refresh_from_db()
    assert action.cost == 15


def test_roles_are_synced_from_code():
    support, finance = Group.objects.get(name=roles.SUPPORT), Group.objects.get(name=roles.FINANCE)
    support_perms = set(support.permissions.values_list("content_type__app_label", "codename"))
    finance_perms = set(finance.permissions.values_list("content_type__app_label", "codename"))
    assert ("wallet", "view_balanceoperation") in support_perms
    assert ("djstripe", "view_customer") in support_perms
    assert ("django_celery_beat", "view_periodictask") in support_perms
    assert all(codename.startswith("view_") for _, codename in support_perms)
    assert ("wallet", "adjust_wallet") in finance_perms and ("wallet", "adjust_wallet") not in support_perms
    assert support_perms < finance_perms
    assert not any(codename.startswith(("change_", "delete_", "add_")) for _, codename in finance_perms)


def test_roles_sync_covers_models_added_later():
    """A permission created after the roles migration (as post_migrate does for a new model)
    joins the role at the next sync."""

    latecomer_ct, _ = ContentType.objects.get_or_create(app_label="wallet", model="latecomer")
    Permission.objects.create(content_type=latecomer_ct, codename="view_latecomer", name="Can view latecomer")
    assert not Group.objects.get(name=roles.SUPPORT).permissions.filter(codename="view_latecomer").exists()
    roles.sync_roles_after_migrate(sender=None, app_config=django_apps.get_app_config("wallet"))
    assert Group.objects.get(name=roles.SUPPORT).permissions.filter(codename="view_latecomer").exists()


def test_beat_schedules_are_visible_and_editable_on_our_admin(client):

    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    response = client.get("/admin/django_celery_beat/periodictask/")
    assert response.status_code == 200
    assert "wallet.health_check" in response.content.decode()
    task = PeriodicTask.objects.get(task="wallet.health_check")
    response = client.get(f"/admin/django_celery_beat/periodictask/{task.pk}/change/")
    assert response.status_code == 200 and b'name="enabled"' in response.content


def test_stripe_mirror_is_on_our_admin(client):
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    assert client.get("/admin/djstripe/customer/").status_code == 200
    assert client.get("/admin/djstripe/").status_code == 200
