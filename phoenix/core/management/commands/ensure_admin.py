from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from phoenix.core.demo import random_password, remember_credentials

DEFAULT_ADMIN_EMAIL = "admin@phoenix.local"


class Command(BaseCommand):
    help = (
        "Create the administrator with a random password and print it (never a fixed "
        "password). Existing admin: nothing changes unless --reset-password."
    )

    def add_arguments(self, parser):
        parser.add_argument("--email", default=DEFAULT_ADMIN_EMAIL)
        parser.add_argument("--reset-password", action="store_true")

    def handle(self, *args, email, reset_password, **options):
        user_model = get_user_model()
        user = user_model.objects.filter(email=email).first()
        if user is not None and not reset_password:
            self.stdout.write(
                f"admin {email} exists; its password was printed when it was created "
                f"(kept in .devdata/credentials.txt in development). "
                f"New one: manage.py ensure_admin --reset-password"
            )
            return
        password = random_password()
        if user is None:
            user_model.objects.create_superuser(email=email, password=password)
        else:
            user.set_password(password)
            user.save(update_fields=["password"])
        remember_credentials(email, password)
        self.stdout.write(self.style.SUCCESS(f"admin login: {email} / {password}"))
