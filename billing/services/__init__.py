"""Billing's writes, by topic: ``payments`` (checkout, intents, the payment state machine,
reversals), ``webhooks`` (the Stripe event pipeline), ``subscriptions`` (individual
subscriptions at Stripe), ``pro_seats`` (all pro-seat work at Stripe), ``reconciliation``
(the daily job). Operator actions: ``billing.operator``."""
