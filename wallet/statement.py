"""Verify a wallet statement (GET /luna/energy/statement/{user_id}) with nothing but the
Python standard library: this module imports nothing else, so a user or an auditor can copy
it and run it on a statement they saved.

The procedure (README "Verifiable statements"):

1. For each operation, rebuild its canonical content: these fields, in this order, joined by
   the ASCII unit separator (0x1F): wallet_id, seq, type, amount, balance_before,
   balance_after, held_before, held_after, hold_id (or ""), refund_of_id (or ""), source,
   reason, reference (each text as "<length>:<text>"), actor_id (or ""), idempotency_key
   ("<length>:<text>" or "" when null), created_at_us (microseconds since the epoch),
   prev_hash. Its SHA-256 (hex, of the UTF-8 bytes) must equal the operation's `hash`.
2. Operations are consecutive: each `seq` is the previous one + 1 and its `prev_hash` is the
   previous operation's `hash`; the operation of seq 1 chains to 64 zeros.
3. A statement that runs to the present (`to` null) ends on the wallet's head: the last
   operation is `head.seq` with hash `head.hash`.
4. Between two statements of one wallet: every seq present in both has the same hash, and an
   earlier statement's head (seq, hash) is found unchanged in a later one that covers it.

Any altered field breaks 1 (and every later link, 2); a removed operation breaks 2.
"""

from __future__ import annotations

import hashlib
import json

GENESIS_HASH = "0" * 64
_SEPARATOR = "\x1f"


def _text(value) -> str:
    return "" if value is None else f"{len(value)}:{value}"


def _opt(value) -> str:
    return "" if value is None else str(value)


def statement_operation_hash(operation: dict, *, wallet_id: int) -> str:
    o = operation
    parts = [
        str(wallet_id), str(o["seq"]), o["type"], str(o["amount"]),
        str(o["balance_before"]), str(o["balance_after"]), str(o["held_before"]), str(o["held_after"]),
        _opt(o["hold_id"]), _opt(o["refund_of_id"]), o["source"], _text(o["reason"]), _text(o["reference"]),
        _opt(o["actor_id"]), _text(o["idempotency_key"]), str(o["created_at_us"]), o["prev_hash"],
    ]
    return hashlib.sha256(_SEPARATOR.join(parts).encode("utf-8")).hexdigest()


def statement_verify(statement: dict, *, previous: dict | None = None) -> list[str]:
    """The problems found in `statement` (and against an earlier `previous` one); [] = verified."""
    problems: list[str] = []
    wallet_id = statement["wallet_id"]
    operations = statement["operations"]
    before = None
    for operation in operations:
        seq = operation["seq"]
        if statement_operation_hash(operation, wallet_id=wallet_id) != operation["hash"]:
            problems.append(f"seq {seq}: its content does not match its hash (altered)")
        if before is None:
            if seq == 1 and operation["prev_hash"] != GENESIS_HASH:
                problems.append("seq 1: does not chain to the genesis hash")
        else:
            if seq != before["seq"] + 1:
                problems.append(f"seq {before['seq'] + 1}..{seq - 1}: missing (removed)")
            if operation["prev_hash"] != before["hash"]:
                problems.append(f"seq {seq}: does not chain to the operation before it")
        before = operation
    head = statement["head"]
    if statement.get("to") is None:
        last = operations[-1] if operations else {"seq": 0, "hash": GENESIS_HASH}
        if (last["seq"], last["hash"]) != (head["seq"], head["hash"]):
            problems.append(f"the statement ends at seq {last['seq']}, the wallet's head is seq {head['seq']}")
    if previous is not None:
        if previous["wallet_id"] != wallet_id:
            problems.append("the two statements are of different wallets")
        hashes = {o["seq"]: o["hash"] for o in operations}
        for o in previous["operations"]:
            if o["seq"] in hashes and hashes[o["seq"]] != o["hash"]:
                problems.append(f"seq {o['seq']}: differs from the earlier statement")
        earlier_head = previous["head"]
        if earlier_head["seq"] in hashes and hashes[earlier_head["seq"]] != earlier_head["hash"]:
            problems.append(f"the earlier head (seq {earlier_head['seq']}) differs in this statement")
        if head["seq"] < earlier_head["seq"]:
            problems.append("the wallet's head went backwards")
    return problems


def statement_verify_file(path: str, *, previous_path: str | None = None) -> list[str]:
    with open(path, encoding="utf-8") as handle:
        statement = json.load(handle)
    previous = None
    if previous_path:
        with open(previous_path, encoding="utf-8") as handle:
            previous = json.load(handle)
    return statement_verify(statement, previous=previous)
