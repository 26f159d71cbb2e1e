"""Demo access for `make run` (through the services; idempotent by reference).

ada is PREMIUM (a monthly subscription recorded as if Stripe had reported it; with no
Stripe subscription id, so cancel/resume answer 409 for her). The others keep the TRIAL
their registration opened; licenses/demo.py gives linus a pro seat.
"""

from datetime import timedelta

from django.utils import timezone

from phoenix.accounts.models import User
from phoenix.core.demo import DEMO_EMAILS
from subscriptions import services
from subscriptions.selectors import access_summary


def seed(out) -> None:
    ada = User.objects.filter(email=DEMO_EMAILS[0]).first()
    if ada is None:
        return
    now = timezone.now()
    services.access_activate_premium(user=ada, period_end=now + timedelta(days=30), event_time=now,
                                     reference="demo-premium")
    out.write(f"demo access {ada.email}: {access_summary(ada)['type']}")
