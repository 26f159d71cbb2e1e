"""CSV exports of the admin's changelists (phoenix.core.export): the filtered rows, signed
amounts, cells safe for spreadsheets, an audit row per export, view permission required, and a
100k-row export streamed in constant memory (measured)."""

import csv
import io
import resource
import sys
import tracemalloc

import pytest
from django.db import connection
from django.test import Client

from phoenix.core import roles
from phoenix.core.models import AdminAction
from phoenix.core.tests.operator import staff
from wallet import services
from wallet.models import BalanceOperation, Wallet

pytestmark = pytest.mark.django_db

EXPORT = "/admin/wallet/balanceoperation/export.csv"


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _rows(response) -> list[dict]:
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    text = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(text)))


def test_the_export_is_the_filtered_changelist_signed_and_audited(registered_user):
    services.wallet_credit(user=registered_user, amount=50, source="admin", reason="goodwill",
                           reference="=HYPERLINK(1)")
    services.wallet_debit(user=registered_user, amount=7, source="api", reason="action x", reference="x")
    support = staff(roles.SUPPORT)
    client = _client(support)
    page = client.get("/admin/wallet/balanceoperation/?type__exact=debit")
    assert page.status_code == 200 and b"export.csv?type__exact=debit" in page.content  # the button keeps the filter
    debits = _rows(client.get(EXPORT + "?type__exact=debit"))
    assert [(r["type"], r["balance_change"], r["user_email"]) for r in debits] == [
        ("debit", "-7", registered_user.email)]
    everything = _rows(client.get(EXPORT + f"?q={registered_user.email}"))
    assert {r["type"] for r in everything} >= {"credit", "debit"}
    credit = next(r for r in everything if r["reference"].startswith("'"))
    assert credit["reference"] == "'=HYPERLINK(1)" and credit["balance_change"] == "50"  # formula neutralized
    audit = AdminAction.objects.filter(action="export_csv", actor=support).order_by("id")
    searched = f"q={registered_user.email}".replace("@", "%40")
    assert [a.after["filters"] for a in audit] == ["type__exact=debit", searched]
    assert audit[0].target_type == "wallet.balanceoperation"


def test_no_view_permission_no_export(registered_user):
    response = _client(staff(None)).get(EXPORT)
    assert response.status_code == 403
    assert not AdminAction.objects.filter(action="export_csv").exists()


def _operations(wallet: Wallet, count: int, *, start_seq: int) -> None:
    """`count` credits of 1 on `wallet`, written by SQL (the test needs rows, not a ledger run)."""
    with connection.cursor() as cursor:
        cursor.execute("""
            INSERT INTO wallet_balanceoperation (wallet_id, seq, type, amount, balance_before, balance_after,
                held_before, held_after, source, reason, reference, request_fingerprint, created_at, prev_hash, hash)
            SELECT %s, s, 'credit', 1, s - 1, s, 0, 0, 'admin', 'bulk', 'bulk-' || s, '', now(),
                   md5(s::text) || md5((s + 1)::text), md5((s + 2)::text) || md5((s + 3)::text)
            FROM generate_series(%s, %s) AS s
        """, [wallet.pk, start_seq, start_seq + count - 1])


def _export_peak(client) -> tuple[int, int, int]:
    """(rows, Python's peak allocation during the export, growth of the process's peak RSS), in bytes."""
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    tracemalloc.start()
    response = client.get(EXPORT)
    rows = -1  # the header
    for chunk in response.streaming_content:
        rows += chunk.count(b"\n")
    _current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return rows, peak, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - rss_before


@pytest.mark.timeout(900)  # 100k rows written and exported on a shared 2-core machine
def test_an_export_of_100k_operations_streams_in_constant_memory(registered_user, capsys):
    wallet = Wallet.objects.get(user=registered_user)
    first_seq = BalanceOperation.objects.filter(wallet=wallet).count() + 1
    client = _client(staff(roles.SUPPORT))
    _operations(wallet, 10_000, start_seq=first_seq)
    small_rows, small_peak, _ = _export_peak(client)
    _operations(wallet, 90_000, start_seq=first_seq + 10_000)
    big_rows, big_peak, big_rss_growth = _export_peak(client)
    with capsys.disabled():
        sys.stderr.write(f"\nCSV export: {small_rows} rows peak {small_peak / 2**20:.1f} MiB (Python); "
                         f"{big_rows} rows peak {big_peak / 2**20:.1f} MiB (Python), "
                         f"process peak RSS +{big_rss_growth / 2**20:.1f} MiB\n")
    assert big_rows - small_rows == 90_000
    # Ten times the rows, the same chunk in memory: the peak does not grow with the rows (the
    # 100k model instances alone would take ~150 MiB).
    assert big_peak < 2 * small_peak
    assert big_rss_growth < 64 * 2**20
