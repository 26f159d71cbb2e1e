from phoenix.accounts.models import User
from phoenix.accounts.services import user_register
from phoenix.core.demo import DEMO_EMAILS, random_password, remember_credentials


def seed(out) -> None:
    for email in DEMO_EMAILS:
        if User.objects.filter(email=email).exists():
            continue
        password = random_password()
        user_register(email=email, password=password)
        remember_credentials(email, password)
        out.write(f"demo user {email} / {password}")
