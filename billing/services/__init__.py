"""Billing's writes, by topic: payments, webhooks, reconciliation."""
