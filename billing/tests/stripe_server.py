"""A tiny local Stripe-compatible HTTP server for tests (never the network).

It implements only the endpoints billing's gateway calls, answering in Stripe's object
shapes and error format, so the real ``stripe`` client is exercised end to end (form
encoding, auth header, idempotency keys, error mapping). Point ``STRIPE_API_BASE`` at
``server.url``.
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

SECRET_KEY = "sk_test_phoenix_local"


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
        self.requests: list[tuple[str, str, dict[str, Any], str | None]] = []
        self.failures: list[int] = []  # HTTP statuses to answer the next requests with
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> LocalStripe:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    # --- what a customer does on Stripe's side ---------------------------------------

    def pay_intent(self, intent_id: str) -> dict[str, Any]:
        with self._lock:
            intent = self.intents[intent_id]
            intent["status"] = "succeeded"
            intent["amount_received"] = intent["amount"]
            intent["latest_charge"] = intent.get("latest_charge") or _new_id("ch")
            return dict(intent)

    def cancel_intent(self, intent_id: str) -> dict[str, Any]:
        with self._lock:
            self.intents[intent_id]["status"] = "canceled"
            return dict(self.intents[intent_id])

    # --- endpoints ---------------------------------------------------------------------

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
            "customer": None,
            "customer_email": params.get("customer_email"),
            "expires_at": int(time.time()) + 24 * 3600,
            "livemode": False,
            "metadata": params.get("metadata", {}),
            "mode": params.get("mode", "payment"),
            "payment_intent": None,
            "payment_status": "unpaid",
            "status": "open",
            "success_url": params.get("success_url"),
            "url": f"https://checkout.stripe.com/c/pay/{session_id}",
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
            if method == "POST" and path == "/v1/checkout/sessions":
                return 200, self._create_session(params)
            if method == "POST" and path == "/v1/payment_intents":
                return 200, self._create_intent(params)
            if method == "GET" and (m := re.fullmatch(r"/v1/payment_intents/([\w]+)", path)):
                if m.group(1) in self.intents:
                    return 200, self.intents[m.group(1)]
            if method == "GET" and (m := re.fullmatch(r"/v1/checkout/sessions/([\w]+)", path)):
                if m.group(1) in self.sessions:
                    return 200, self.sessions[m.group(1)]
            return 404, _error("invalid_request_error", f"No such resource: {path}",
                               code="resource_missing")

    def _handler_class(self):
        stripe = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self, method: str) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode() if length else ""
                path, _, query = self.path.partition("?")
                params = parse_form(body if method == "POST" else query)
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

            def do_GET(self):  # noqa: N802
                self._serve("GET")

            def do_POST(self):  # noqa: N802
                self._serve("POST")

            def log_message(self, *args):  # keep test output quiet
                pass

        return Handler


def _error(error_type: str, message: str, *, code: str | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {"type": error_type, "message": message}
    if code:
        error["code"] = code
    return {"error": error}
