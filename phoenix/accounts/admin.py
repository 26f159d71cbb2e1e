from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import AdminUserCreationForm, UserChangeForm

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
    readonly_fields = ("public_id", "date_joined", "last_login", "erased_at")
    fieldsets = (
        (None, {"fields": ("email", "password", "public_id")}),
        ("Permissions", {"fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")}),
        ("Dates", {"fields": ("date_joined", "last_login", "erased_at")}),
    )
    add_fieldsets = ((None, {"classes": ("wide",), "fields": ("email", "usable_password", "password1", "password2")}),)
