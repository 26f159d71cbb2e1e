"""A database guard for the payment state machine (DESIGN.md §6).

The services already refuse illegal transitions (``IllegalPaymentTransition``); this
trigger makes a raw UPDATE refuse them too, so no code path can move a payment backwards.
The allowed pairs mirror ``billing.models.PAYMENT_TRANSITIONS``, and a new payment must
start ``pending``.
"""

from django.db import migrations

FORWARD = r"""
CREATE OR REPLACE FUNCTION billing_payment_status_guard() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        IF NEW.status <> 'pending' THEN
            RAISE EXCEPTION 'illegal payment status on insert: %', NEW.status
                USING ERRCODE = 'check_violation';
        END IF;
        RETURN NEW;
    END IF;
    IF NEW.status IS DISTINCT FROM OLD.status AND NOT (
        (OLD.status = 'pending' AND NEW.status IN ('succeeded', 'failed', 'canceled'))
        OR (OLD.status = 'succeeded' AND NEW.status = 'refunded')
    ) THEN
        RAISE EXCEPTION 'illegal payment transition: % -> %', OLD.status, NEW.status
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER billing_payment_status_guard
    BEFORE INSERT OR UPDATE OF status ON billing_payment
    FOR EACH ROW EXECUTE FUNCTION billing_payment_status_guard();
"""

REVERSE = r"""
DROP TRIGGER IF EXISTS billing_payment_status_guard ON billing_payment;
DROP FUNCTION IF EXISTS billing_payment_status_guard();
"""


class Migration(migrations.Migration):
    dependencies = [("billing", "0001_initial")]

    operations = [migrations.RunSQL(FORWARD, REVERSE)]
