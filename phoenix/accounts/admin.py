from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import AdminUserCreationForm, UserChangeForm
from django.urls import reverse
from django.utils.html import format_html

from phoenix.accounts.models import User
from phoenix.core.admin_scale import ScaleAdminMixin


class PhoenixUserCreationForm(AdminUserCreationForm):
    class Meta(AdminUserCreationForm.Meta):
        model = User
        fields = ("email",)


class PhoenixUserChangeForm(UserChangeForm):
    class Meta(UserChangeForm.Meta):
        model = User
        fields = "__all__"


@admin.register(User)
class UserAdmin(ScaleAdminMixin, DjangoUserAdmin):
    form = PhoenixUserChangeForm
    add_form = PhoenixUserCreationForm
    ordering = ("-id",)  # the join order, on the primary key's index
    sortable_by = ("email",)
    list_display = ("email", "public_id", "is_active", "is_staff", "date_joined", "erased_at")
    list_filter = ("is_active", "is_staff", ("date_joined", admin.DateFieldListFilter))
    search_fields = ("id", "email", "public_id")
    readonly_fields = ("public_id", "customer_page", "date_joined", "last_login", "erased_at")
    # Rights are given by role (the groups of phoenix/core/roles.py), not one permission at a
    # time: no 300-row permission picker (a superuser still has every right).
    fieldsets = (
        (None, {"fields": ("email", "password", "public_id", "customer_page")}),
        ("Roles", {"fields": ("is_active", "is_staff", "is_superuser", "groups"),
                   "description": "Back-office rights come from the roles (support: view everything; "
                                  "finance: support plus the operator actions)."}),
        ("Dates", {"fields": ("date_joined", "last_login", "erased_at")}),
    )
    filter_horizontal = ()
    @admin.display(description="Customer page")
    def customer_page(self, user: User) -> str:
        if not user.pk:
            return "-"
        url = reverse("admin:customer", args=[user.public_id])
        return format_html('<a href="{}">Wallet, access, payments, licenses, … of {}</a>', url, user.email)

    add_fieldsets = ((None, {"classes": ("wide",), "fields": ("email", "usable_password", "password1", "password2")}),)
