"""A tiny local Stripe-compatible HTTP server for tests (never the network).

It implements the endpoints billing's gateway calls and the GETs dj-stripe's sync makes
(account, customers, checkout sessions, payment intents, charges, refunds, disputes,
subscriptions, invoices, prices, products; billing portal sessions), answering in
Stripe's object shapes and error format, so the real ``stripe`` client is exercised end
to end (form encoding, auth header, error mapping). Like Stripe, a POST repeated with the
same ``Idempotency-Key`` replays the first answer (and a different body with the same key
is refused). ``down()`` makes it refuse connections until ``up()``. Point
``STRIPE_API_BASE`` at ``server.url``.

Like Stripe, a change it makes (a refund) queues the events Stripe would send
(``refund.created``, ``charge.refunded``); ``send_events(url, secret=...)`` delivers them
to a webhook endpoint, signed as Stripe signs them.
"""

from __future__ import annotations

import json
import re
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl
from urllib.request import Request, urlopen

from billing.stripe_objects import add_one_month, invoice_subscription_id, timestamp
from billing.stripe_payloads import charge as charge_payload
from billing.stripe_payloads import dispute as dispute_payload
from billing.stripe_payloads import encode, signature_header
from billing.stripe_payloads import event as event_payload
from billing.stripe_payloads import invoice as invoice_payload
from billing.stripe_payloads import subscription as subscription_payload

SECRET_KEY = "sk_test_PhoenixLocalStripeServer00000001"  # the shape dj-stripe checks


def _new_id(prefix: str) -> str:
    return f"{prefix}_test_{secrets.token_hex(12)}"


def parse_form(body: str) -> dict[str, Any]:
    """Stripe's form encoding (``a[b][0][c]=v``) back into nested dicts/lists."""
    root: dict[str, Any] = {}
    for key, value in parse_qsl(body, keep_blank_values=True):
        parts = re.findall(r"[^\[\]]+", key)
        node: Any = root
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            if last:
                node[part] = value
            else:
                node = node.setdefault(part, {})
    return _listify(root)


def _listify(node: Any) -> Any:
    if isinstance(node, dict):
        if node and all(k.isdigit() for k in node):
            return [_listify(node[k]) for k in sorted(node, key=int)]
        return {k: _listify(v) for k, v in node.items()}
    return node


class LocalStripe:
    def __init__(self) -> None:
        self.sessions: dict[str, dict[str, Any]] = {}
        self.intents: dict[str, dict[str, Any]] = {}
        self.subscriptions: dict[str, dict[str, Any]] = {}
        self.invoices: dict[str, dict[str, Any]] = {}
        self.customers: dict[str, dict[str, Any]] = {}
        self.charges: dict[str, dict[str, Any]] = {}
        self.refunds: dict[str, dict[str, Any]] = {}
        self.disputes: dict[str, dict[str, Any]] = {}
        self.products: dict[str, dict[str, Any]] = {}
        self.prices: dict[str, dict[str, Any]] = {}
        self.portal_sessions: dict[str, dict[str, Any]] = {}
        self.account = {
            "id": "acct_test_phoenix", "object": "account", "business_profile": {"name": "Phoenix (local)"},
            "business_type": "company", "charges_enabled": True, "country": "FR", "created": 1_700_000_000,
            "default_currency": "eur", "details_submitted": True, "email": "billing@phoenix.example.com",
            "metadata": {}, "payouts_enabled": True, "settings": {"dashboard": {"display_name": "Phoenix"}},
            "type": "standard",
        }
        self._replies: dict[str, tuple[str, tuple[int, dict[str, Any]]]] = {}  # Idempotency-Key -> answer
        self.prorations: list[dict[str, Any]] = []  # pending invoice items from quantity changes
        self.requests: list[tuple[str, str, dict[str, Any], str | None]] = []
        self.failures: list[int] = []  # HTTP statuses to answer the next requests with
        self.events: list[dict[str, Any]] = []  # events queued for delivery (send_events)
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._port = self._httpd.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._port}"

    def start(self) -> LocalStripe:
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def down(self) -> None:
        """Stripe is unreachable: the port refuses connections (the state is kept)."""
        self.stop()

    def up(self) -> None:
        """Stripe is back, on the same address, with the same objects."""
        self._httpd = ThreadingHTTPServer(("127.0.0.1", self._port), self._handler_class())
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()

    # --- what a customer does on Stripe's side ---------------------------------------

    def pay_intent(self, intent_id: str) -> dict[str, Any]:
        with self._lock:
            return dict(self._succeed_intent(self.intents[intent_id]))

    def _succeed_intent(self, intent: dict[str, Any]) -> dict[str, Any]:
        """The card was charged: the intent succeeds with its Charge."""
        intent["status"] = "succeeded"
        intent["amount_received"] = intent["amount"]
        if not intent.get("latest_charge"):
            charge = charge_payload(payment_intent_id=intent["id"], amount=intent["amount"],
                                    currency=intent["currency"], metadata=intent.get("metadata") or {})
            charge.update({"customer": intent.get("customer"), "balance_transaction": None,
                           "created": int(time.time())})
            self.charges[charge["id"]] = charge
            intent["latest_charge"] = charge["id"]
        return intent

    def refund_charge(self, charge_id: str, *, amount: int | None = None) -> dict[str, Any]:
        """An operator refunded (part of) a charge on Stripe's dashboard; returns the charge
        as ``charge.refunded`` carries it."""
        with self._lock:
            charge = self.charges[charge_id]
            self._refund(charge, amount=amount or charge["amount"] - charge["amount_refunded"])
            return json.loads(json.dumps(charge))

    def _refund(self, charge: dict[str, Any], *, amount: int, reason: str | None = None,
                metadata: dict[str, str] | None = None) -> dict[str, Any]:
        refund = {"id": _new_id("re"), "object": "refund", "amount": amount, "balance_transaction": None,
                  "charge": charge["id"], "created": int(time.time()), "currency": charge["currency"],
                  "destination_details": None, "metadata": metadata or {}, "payment_intent": charge["payment_intent"],
                  "reason": reason, "receipt_number": None, "source_transfer_reversal": None,
                  "status": "succeeded", "transfer_reversal": None}
        self.refunds[refund["id"]] = refund
        charge["amount_refunded"] += amount
        charge["refunded"] = charge["amount_refunded"] >= charge["amount"]
        charge["refunds"]["data"].insert(0, refund)
        charge["refunds"]["total_count"] += 1
        self._queue_event("refund.created", refund)
        self._queue_event("charge.refunded", charge)
        return refund

    def _create_refund(self, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """POST /v1/refunds: Stripe's checks, in its error shapes."""
        if intent_id := params.get("payment_intent"):
            intent = self.intents.get(intent_id)
            if intent is None:
                return _missing("payment_intent", intent_id)
            charge = self.charges.get(intent.get("latest_charge") or "")
            if charge is None:
                return 400, _error("invalid_request_error", f"This PaymentIntent ({intent_id}) does not have a "
                                   "successful charge to refund.", code="charge_not_refundable")
        elif charge_id := params.get("charge"):
            if (charge := self.charges.get(charge_id)) is None:
                return _missing("charge", charge_id)
        else:
            return 400, _error("invalid_request_error", "One of the following params should be provided for this "
                               "request: payment_intent or charge.", code="parameter_missing")
        left = charge["amount"] - charge["amount_refunded"]
        if charge.get("disputed"):
            return 400, _error("invalid_request_error", f"Charge {charge['id']} has been charged back; cannot issue "
                               "a refund.", code="charge_disputed")
        if left == 0:
            return 400, _error("invalid_request_error", f"Charge {charge['id']} has already been refunded.",
                               code="charge_already_refunded")
        amount = int(params.get("amount") or left)
        if not 0 < amount <= left:
            return 400, _error("invalid_request_error", f"Refund amount ({amount}) is greater than unrefunded amount "
                               f"on charge ({left})", code="amount_too_large")
        return 200, self._refund(charge, amount=amount, reason=params.get("reason"), metadata=params.get("metadata"))

    def _queue_event(self, event_type: str, obj: dict[str, Any]) -> None:
        self.events.append(event_payload(event_type, json.loads(json.dumps(obj))))

    def send_events(self, webhook_url: str, *, secret: str) -> list[tuple[str, int]]:
        """Deliver the queued events to a webhook endpoint, each signed with ``secret``
        (``Stripe-Signature``), as Stripe does; returns (event type, HTTP status) of each."""
        with self._lock:
            events, self.events = self.events, []
        delivered = []
        for event in events:
            body = encode(event)
            request = Request(webhook_url, data=body, method="POST", headers={
                "Content-Type": "application/json", "Stripe-Signature": signature_header(body, secret=secret)})
            with urlopen(request, timeout=30) as response:
                delivered.append((event["type"], response.status))
        return delivered

    def dispute_charge(self, charge_id: str) -> dict[str, Any]:
        with self._lock:
            charge = self.charges[charge_id]
            dispute = dispute_payload(payment_intent_id=charge["payment_intent"], charge_id=charge_id,
                                      amount=charge["amount"], currency=charge["currency"])
            self.disputes[dispute["id"]] = dispute
            charge["disputed"] = True
            return dict(dispute)

    def cancel_intent(self, intent_id: str) -> dict[str, Any]:
        with self._lock:
            self.intents[intent_id]["status"] = "canceled"
            return dict(self.intents[intent_id])

    # --- endpoints ---------------------------------------------------------------------

    def complete_session(self, session_id: str, *, now: int | None = None) -> dict[str, Any]:
        """The customer paid: the session completes; in subscription mode Stripe creates
        the subscription (metadata from ``subscription_data``), one month long."""
        with self._lock:
            session = self.sessions[session_id]
            session.update({"status": "complete", "payment_status": "paid"})
            if session["mode"] == "subscription":
                start = now or int(time.time())
                item = session["_line_item"]
                sub = subscription_payload(
                    metadata=session["_subscription_metadata"], period_start=start,
                    period_end=int(add_one_month(timestamp(start)).timestamp()),
                    quantity=int(item.get("quantity", 1)),
                    unit_amount=int(item["price_data"]["unit_amount"]),
                    currency=item["price_data"]["currency"],
                )
                sub["customer"] = session["customer"]
                self._register_price(sub["items"]["data"][0]["price"], item["price_data"])
                self.subscriptions[sub["id"]] = sub
                first = invoice_payload(
                    subscription_id=sub["id"], metadata=sub.get("metadata") or {},
                    billing_reason="subscription_create", status="paid", period_start=start,
                    period_end=sub["items"]["data"][0]["current_period_end"],
                    quantity=int(item.get("quantity", 1)), unit_amount=int(item["price_data"]["unit_amount"]),
                    currency=item["price_data"]["currency"], customer=session["customer"],
                    item_id=sub["items"]["data"][0]["id"],
                )
                self.invoices[first["id"]] = first
                sub["latest_invoice"] = first["id"]
                session.update({"subscription": sub["id"], "invoice": first["id"]})
            else:
                intent = self._create_intent({
                    "amount": session["amount_total"], "currency": session["currency"],
                    "metadata": session["_intent_metadata"], "customer": session["customer"],
                })
                self._succeed_intent(intent)
                session["payment_intent"] = intent["id"]
            return self.public(session)

    def _register_price(self, price: dict[str, Any], price_data: dict[str, Any]) -> None:
        """A price created inline (``price_data``) exists at Stripe with its product."""
        product_id = price["product"]
        self.products[product_id] = {
            "id": product_id, "object": "product", "active": True, "created": int(time.time()),
            "description": None, "images": [], "livemode": False, "metadata": {},
            "name": (price_data.get("product_data") or {}).get("name") or "Phoenix",
            "type": "service", "updated": int(time.time()), "url": None,
        }
        self.prices[price["id"]] = {
            **price, "billing_scheme": "per_unit", "created": int(time.time()), "livemode": False,
            "lookup_key": None, "metadata": {}, "nickname": None, "tax_behavior": "unspecified",
            "unit_amount_decimal": str(price["unit_amount"]),
        }

    @staticmethod
    def public(session: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in session.items() if not k.startswith("_")}

    def add_subscription(self, subscription: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            self.subscriptions[subscription["id"]] = subscription
            return subscription

    def open_invoice(self, subscription_id: str, *, created: int | None = None,
                     billing_reason: str = "subscription_cycle") -> dict[str, Any]:
        """The grouped renewal's invoice Stripe could not collect: finalized, ``open``,
        payable on its hosted page. Quantity and price from the subscription's item."""
        with self._lock:
            sub = self.subscriptions[subscription_id]
            item = sub["items"]["data"][0]
            inv = invoice_payload(
                subscription_id=subscription_id, metadata=sub.get("metadata") or {},
                billing_reason=billing_reason, status="open", period_start=created or int(time.time()),
                quantity=int(item["quantity"]), unit_amount=int(item["price"]["unit_amount"]),
                currency=item["price"]["currency"], customer=sub.get("customer"), item_id=item["id"],
            )
            self.invoices[inv["id"]] = inv
            return dict(inv)

    def pay_invoice(self, invoice_id: str, *, now: int | None = None) -> dict[str, Any]:
        """The customer paid on the hosted invoice page (Stripe then sends invoice.paid)."""
        with self._lock:
            inv = self.invoices[invoice_id]
            now = now or int(time.time())
            inv.update({"status": "paid", "amount_paid": inv["amount_due"], "amount_remaining": 0,
                        "next_payment_attempt": None})
            inv["status_transitions"] = {**inv["status_transitions"], "paid_at": now}
            return dict(inv)

    def _list_invoices(self, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        rows = [inv for inv in self.invoices.values()
                if (not params.get("subscription") or invoice_subscription_id(inv) == params["subscription"])
                and (not params.get("status") or inv["status"] == params["status"])]
        rows.sort(key=lambda inv: inv["created"], reverse=True)  # Stripe lists newest first
        limit = int(params.get("limit") or 10)
        return 200, {"object": "list", "data": rows[:limit], "has_more": len(rows) > limit,
                     "url": "/v1/invoices"}

    def _update_subscription(self, sub_id: str, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        sub = self.subscriptions.get(sub_id)
        if sub is None:
            return 404, _error("invalid_request_error", f"No such subscription: '{sub_id}'",
                               code="resource_missing")
        if sub["status"] == "canceled":
            return 400, _error("invalid_request_error", "A canceled subscription can only update "
                               "its cancellation_details and metadata.")
        if "cancel_at_period_end" in params:
            flag = params["cancel_at_period_end"] == "true"
            sub["cancel_at_period_end"] = flag
            sub["cancel_at"] = sub["items"]["data"][0]["current_period_end"] if flag else None
        return 200, sub

    def _cancel_subscription(self, sub_id: str) -> tuple[int, dict[str, Any]]:
        sub = self.subscriptions.get(sub_id)
        if sub is None:
            return 404, _error("invalid_request_error", f"No such subscription: '{sub_id}'",
                               code="resource_missing")
        if sub["status"] == "canceled":
            return 400, _error("invalid_request_error", "This subscription is already canceled.")
        now = int(time.time())
        sub.update({"status": "canceled", "canceled_at": now, "ended_at": now})
        return 200, sub

    def _update_item(self, item_id: str, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        for sub in self.subscriptions.values():
            for item in sub["items"]["data"]:
                if item["id"] != item_id:
                    continue
                old, new = int(item["quantity"]), int(params["quantity"])
                if new < 0:
                    return 400, _error("invalid_request_error", "Invalid integer: quantity must be >= 0.",
                                       code="parameter_invalid_integer")
                if params.get("proration_behavior") == "create_prorations" and new != old:
                    # Stripe's proration: the unit price times the share of the period left
                    # at proration_date (seconds), per added seat.
                    at = int(params.get("proration_date") or time.time())
                    start, end = item["current_period_start"], item["current_period_end"]
                    left = max(0, min(end - start, end - at))
                    unit = item["price"]["unit_amount"]
                    self.prorations.append({
                        "subscription": sub["id"], "quantity": new - old, "proration_date": at,
                        "unit_amount": (unit * left * 2 + (end - start)) // (2 * (end - start)),
                    })
                item["quantity"] = new
                return 200, {**item, "object": "subscription_item"}
        return 404, _error("invalid_request_error", f"No such subscription item: '{item_id}'",
                           code="resource_missing")

    def _create_session(self, params: dict[str, Any]) -> dict[str, Any]:
        item = params["line_items"][0]
        amount = int(item["price_data"]["unit_amount"]) * int(item.get("quantity", 1))
        session_id = _new_id("cs")
        session = {
            "id": session_id,
            "object": "checkout.session",
            "amount_subtotal": amount,
            "amount_total": amount,
            "cancel_url": params.get("cancel_url"),
            "client_reference_id": params.get("client_reference_id"),
            "created": int(time.time()),
            "currency": item["price_data"]["currency"],
            "customer": params.get("customer"),
            "customer_email": params.get("customer_email"),
            "expires_at": int(time.time()) + 24 * 3600,
            "livemode": False,
            "metadata": params.get("metadata", {}),
            "mode": params.get("mode", "payment"),
            "payment_intent": None,
            "payment_status": "unpaid",
            "status": "open",
            "success_url": params.get("success_url"),
            "subscription": None,
            "invoice": None,
            "url": f"https://checkout.stripe.com/c/pay/{session_id}",
            # Private: what Stripe keeps to create the subscription on completion.
            "_line_item": item,
            "_subscription_metadata": (params.get("subscription_data") or {}).get("metadata", {}),
            "_intent_metadata": (params.get("payment_intent_data") or {}).get("metadata", {}),
        }
        self.sessions[session_id] = session
        return session

    def _create_intent(self, params: dict[str, Any]) -> dict[str, Any]:
        intent_id = _new_id("pi")
        intent = {
            "id": intent_id,
            "object": "payment_intent",
            "amount": int(params["amount"]),
            "amount_received": 0,
            "automatic_payment_methods": {"enabled": True},
            "client_secret": f"{intent_id}_secret_{secrets.token_hex(8)}",
            "created": int(time.time()),
            "currency": params["currency"],
            "customer": params.get("customer"),
            "description": params.get("description"),
            "last_payment_error": None,
            "latest_charge": None,
            "livemode": False,
            "metadata": params.get("metadata", {}),
            "status": "requires_payment_method",
        }
        self.intents[intent_id] = intent
        return intent

    def handle(self, method: str, path: str, params: dict[str, Any], auth: str | None,
               idempotency_key: str | None) -> tuple[int, dict[str, Any]]:
        with self._lock:
            self.requests.append((method, path, params, idempotency_key))
            if self.failures:
                return self.failures.pop(0), _error("api_error", "Simulated Stripe failure.")
            if auth != f"Bearer {SECRET_KEY}":
                return 401, _error("invalid_request_error", "Invalid API Key provided.")
            if method != "POST" or not idempotency_key:
                return self._route(method, path, params)
            # Stripe's idempotency: the same key replays the first answer; another request
            # under the same key is refused.
            signature = json.dumps([path, params], sort_keys=True)
            if idempotency_key in self._replies:
                first_signature, answer = self._replies[idempotency_key]
                if first_signature != signature:
                    return 400, _error("idempotency_error", "Keys for idempotent requests can only be used "
                                       "with the same parameters they were first used with.")
                return answer
            answer = self._route(method, path, params)
            if answer[0] < 500:
                self._replies[idempotency_key] = (signature, json.loads(json.dumps(answer)))
            return answer

    def _route(self, method: str, path: str, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if method == "GET" and path == "/v1/account":
            return 200, self.account
        if method == "POST" and path == "/v1/checkout/sessions":
            return 200, self.public(self._create_session(params))
        if method == "POST" and path == "/v1/payment_intents":
            return 200, self._create_intent(params)
        if method == "POST" and path == "/v1/customers":
            return 200, self._create_customer(params)
        if method == "POST" and path == "/v1/refunds":
            return self._create_refund(params)
        if method == "POST" and path == "/v1/billing_portal/sessions":
            return self._create_portal_session(params)
        if m := re.fullmatch(r"/v1/customers/([\w]+)", path):
            if m.group(1) not in self.customers:
                return _missing("customer", m.group(1))
            if method == "POST":
                return 200, self._update_customer(self.customers[m.group(1)], params)
            return 200, self.customers[m.group(1)]
        if m := re.fullmatch(r"/v1/subscriptions/([\w]+)", path):
            if method == "GET" and m.group(1) in self.subscriptions:
                return 200, self.subscriptions[m.group(1)]
            if method == "POST":
                return self._update_subscription(m.group(1), params)
            if method == "DELETE":
                return self._cancel_subscription(m.group(1))
        if method == "GET" and path == "/v1/invoices":
            return self._list_invoices(params)
        if method == "POST" and (m := re.fullmatch(r"/v1/subscription_items/([\w]+)", path)):
            return self._update_item(m.group(1), params)
        if method == "GET" and (m := re.fullmatch(r"/v1/([a-z_]+(?:/sessions)?)/([\w]+)", path)):
            store = {
                "payment_intents": self.intents, "checkout/sessions": self.sessions,
                "invoices": self.invoices, "charges": self.charges, "refunds": self.refunds,
                "disputes": self.disputes, "products": self.products, "prices": self.prices,
            }.get(m.group(1))
            if store is not None and m.group(2) in store:
                return 200, self.public(store[m.group(2)])
        return 404, _error("invalid_request_error", f"No such resource: {path}", code="resource_missing")

    def _create_customer(self, params: dict[str, Any]) -> dict[str, Any]:
        customer = {
            "id": _new_id("cus"), "object": "customer", "address": None, "balance": 0,
            "created": int(time.time()), "currency": None, "default_source": None, "delinquent": False,
            "description": params.get("description"), "discount": None, "email": params.get("email"),
            "invoice_prefix": secrets.token_hex(4).upper(),
            "invoice_settings": {"custom_fields": None, "default_payment_method": None, "footer": None,
                                 "rendering_options": None},
            "livemode": False, "metadata": params.get("metadata", {}), "name": params.get("name") or None,
            "phone": params.get("phone") or None, "preferred_locales": [], "shipping": None,
            "tax_exempt": "none", "test_clock": None,
        }
        self.customers[customer["id"]] = customer
        return customer

    @staticmethod
    def _update_customer(customer: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
        for field in ("email", "name", "phone", "description", "address", "shipping"):
            if field in params:
                customer[field] = params[field] or None  # Stripe: an empty string unsets a field
        if "metadata" in params:
            metadata = params["metadata"] if isinstance(params["metadata"], dict) else {}
            customer["metadata"] = {k: v for k, v in {**customer["metadata"], **metadata}.items() if v != ""}
        return customer

    def _create_portal_session(self, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        customer_id = params.get("customer")
        if customer_id not in self.customers:
            return _missing("customer", str(customer_id))
        session_id = _new_id("bps")
        session = {
            "id": session_id, "object": "billing_portal.session", "configuration": _new_id("bpc"),
            "created": int(time.time()), "customer": customer_id, "flow": None, "livemode": False,
            "locale": None, "on_behalf_of": None, "return_url": params.get("return_url"),
            "url": f"https://billing.stripe.com/p/session/{session_id}",
        }
        self.portal_sessions[session_id] = session
        return 200, session

    def _handler_class(self):
        stripe = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self, method: str) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode() if length else ""
                path, _, query = self.path.partition("?")
                params = parse_form(body if method in ("POST", "DELETE") else query)
                status, payload = stripe.handle(
                    method, path, params, self.headers.get("Authorization"),
                    self.headers.get("Idempotency-Key"),
                )
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.send_header("Request-Id", _new_id("req"))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                self._serve("GET")

            def do_POST(self):
                self._serve("POST")

            def do_DELETE(self):
                self._serve("DELETE")

            def log_message(self, *args):  # keep test output quiet
                pass

        return Handler


def _missing(kind: str, object_id: str) -> tuple[int, dict[str, Any]]:
    return 404, _error("invalid_request_error", f"No such {kind}: '{object_id}'", code="resource_missing")


def _error(error_type: str, message: str, *, code: str | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {"type": error_type, "message": message}
    if code:
        error["code"] = code
    return {"error": error}
