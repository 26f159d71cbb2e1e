"""outbound's section of the customer page: the webhook deliveries of the events about the user
(phoenix.core.customer). The latest events of the subject `user:<id>` come from the
`(subject, sequence)` unique index, their deliveries from the event foreign key: two queries."""

from __future__ import annotations

from phoenix.core.customer import CustomerSection, admin_change_url, admin_changelist_url, register_customer_section
from phoenix.outbound.models import Delivery, Event
from phoenix.outbound.outbox import user_subject


def customer_deliveries(*, user, limit: int, viewer) -> dict:
    subject = user_subject(user.pk)
    events = list(Event.objects.filter(subject=subject).order_by("-sequence")[:limit])
    deliveries: dict = {}
    for d in Delivery.objects.filter(event__in=events).select_related("endpoint").order_by("id"):
        deliveries.setdefault(d.event_id, []).append({"delivery": d, "url": admin_change_url(d)})
    rows = [{"event": e, "url": admin_change_url(e), "deliveries": deliveries.get(e.pk, [])} for e in events]
    return {"subject": subject, "rows": rows, "see_all_url": admin_changelist_url(Event, subject=subject)}


def register() -> None:
    register_customer_section(CustomerSection(
        key="webhooks", title="Outbound webhook deliveries", template="admin/customer/webhooks.html",
        build=customer_deliveries, permissions=("outbound.view_event", "outbound.view_delivery"), order=70))
