"""Demo pro account for `make run` (through the services; idempotent).

grace owns a pro account with 3 monthly seats (grouped billing day = today) and 1
lifetime seat, recorded as if Stripe had reported the purchases; linus is linked and
holds a monthly seat (LICENSED).
"""

from django.utils import timezone

from licenses import services
from licenses.models import License, LicenseKind, LicenseStatus, Membership, ProAccount
from licenses.selectors import license_pool
from phoenix.accounts.models import User
from phoenix.core.demo import DEMO_EMAILS


def seed(out) -> None:
    grace = User.objects.filter(email=DEMO_EMAILS[1]).first()
    linus = User.objects.filter(email=DEMO_EMAILS[2]).first()
    if grace is None or linus is None:
        return
    now = timezone.now()
    account = ProAccount.objects.filter(owner=grace).first() or services.pro_account_open(owner=grace, now=now)
    services.license_purchase(pro_account=account, kind=LicenseKind.MONTHLY, quantity=3, event_time=now,
                              reference="demo-seats-monthly")
    services.license_purchase(pro_account=account, kind=LicenseKind.LIFETIME, quantity=1, event_time=now,
                              reference="demo-seats-lifetime")
    if not Membership.objects.filter(pro_account=account, collaborator=linus).exists():
        services.collaborator_link(pro_account=account, collaborator=linus, actor=grace, now=now)
    if not License.objects.filter(assignee=linus).exists():
        seat = License.objects.filter(pro_account=account, kind=LicenseKind.MONTHLY,
                                      status=LicenseStatus.AVAILABLE).order_by("id").first()
        services.license_assign(license=seat, collaborator=linus, actor=grace, now=now)
    counts = license_pool(pro_account=account)["counts"]
    out.write(f"demo pro account {grace.email}: seats {counts}, {linus.email} licensed")
