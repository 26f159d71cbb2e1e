"""A loopback webhook receiver for the tests: a threaded http.server that verifies every
request with the `standardwebhooks` library, as a satellite would, and keeps what it got."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from phoenix.outbound.catalogue import SUBSCRIBABLE_TYPES
from phoenix.outbound.services.endpoints import endpoint_create


@dataclass
class Received:
    webhook_id: str
    headers: dict
    payload: dict


@dataclass
class Receiver:
    """`answers`: status codes to answer in turn (then 200). `block` (an Event): the first
    request waits on it before answering (a worker killed mid-POST)."""

    secret: str = ""
    answers: list[int] = field(default_factory=list)
    block: threading.Event | None = None
    got_request: threading.Event = field(default_factory=threading.Event)
    received: list[Received] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    requests_seen: int = 0

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                receiver.requests_seen += 1
                receiver.got_request.set()
                if receiver.block is not None and receiver.requests_seen == 1:
                    receiver.block.wait(60)
                try:
                    payload = Webhook(receiver.secret).verify(body, dict(self.headers))
                except WebhookVerificationError as exc:
                    receiver.refused.append(str(exc))
                    self._answer(400)
                    return
                status = receiver.answers.pop(0) if receiver.answers else 200
                if 200 <= status < 300:
                    receiver.received.append(Received(self.headers["webhook-id"], dict(self.headers), payload))
                self._answer(status)

            def _answer(self, status: int) -> None:
                data = json.dumps({"ok": 200 <= status < 300}).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks"

    def stop(self) -> None:
        if self.block is not None:
            self.block.set()
        self.server.shutdown()
        self.server.server_close()

    def of_type(self, type_: str) -> list[dict]:
        return [r.payload for r in self.received if r.payload["type"] == type_]

    def unique_ids(self) -> set[str]:
        return {r.webhook_id for r in self.received}


def endpoint_for(receiver: Receiver, **fields):
    """An endpoint subscribed to every event type, pointing at `receiver` (which learns its secret)."""
    created = endpoint_create(**{"url": receiver.url, "event_types": list(SUBSCRIBABLE_TYPES), **fields})
    receiver.secret = created.secret
    return created
