"""The benchmark command runs end to end, in its own database, leaving the real one alone."""

import io
import os

import pytest
from django.core.management import call_command
from django.db import connection

from wallet.models import BalanceOperation, Wallet


@pytest.mark.django_db(transaction=True)
def test_bench_wallet_runs_in_a_throwaway_database():
    database_before = connection.settings_dict["NAME"]
    out = io.StringIO()

    call_command("bench_wallet", "--seconds", "0.2", "--workers", "1,2", "--spread-wallets", "5",
                 "--health-sizes", "40,80", "--health-repeats", "1", stdout=out)

    text = out.getvalue()
    assert "cores:" in text and "service/raw" in text
    assert text.count("| consume (debit) |") == 4 and text.count("| freeze+commit |") == 4
    assert "the health check finds 0 anomalies" in text
    assert "| 80 | 800 |" in text and text.rstrip().count("| 0 |") == 2  # generated chains are valid
    # Nothing landed in the real (here: test) database, and the alias points back at it.
    assert connection.settings_dict["NAME"] == database_before
    assert Wallet.objects.count() == 0 and BalanceOperation.objects.count() == 0
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_database WHERE datname = %s", [f"phoenix_bench_{os.getpid()}"])
        assert cursor.fetchone()[0] == 0


@pytest.mark.django_db(transaction=True)
def test_bench_health_times_the_full_and_hourly_runs_in_a_throwaway_database():
    out = io.StringIO()

    call_command("bench_health", "--sizes", "100,300", "--repeats", "1", stdout=out)

    text = out.getvalue()
    assert "cores:" in text and "load average at end:" in text
    # Each size: every operation verified by the full run, the 1 % moved verified by the hourly run.
    assert "| 100 | 1,000 |" in text and "| 300 | 3,001 |" in text
    assert "full run: 3,001 operations verified" in text and "hourly run: 3 operations verified" in text
    assert "full run 100 → 300 wallets: operations ×3.0" in text
    assert Wallet.objects.count() == 0
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_database WHERE datname = %s", [f"phoenix_bench_{os.getpid()}"])
        assert cursor.fetchone()[0] == 0


@pytest.mark.django_db(transaction=True)
def test_bench_webhooks_runs_in_a_throwaway_database():
    database_before = connection.settings_dict["NAME"]
    out = io.StringIO()
    call_command("bench_webhooks", "--consumes", "3", "--deliveries", "4", stdout=out)
    text = out.getvalue()
    assert text.count("| consume (energy_consume) |") == 2 and text.count("| credit (wallet_credit) |") == 2
    assert "| 1 | 4 |" in text and "| 4 | 4 |" in text and text.count("| yes |") == 2
    assert connection.settings_dict["NAME"] == database_before


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_bench_observability_prints_each_mode_with_the_same_statements():
    out = io.StringIO()
    call_command("bench_observability", "--rounds", "1", "--requests", "3", stdout=out)
    text = out.getvalue()
    rows = [line for line in text.splitlines() if line.startswith(("| shipped", "| no-http-metrics", "| tracing-on"))]
    assert len(rows) == 3, text
    assert len({row.rsplit("|", 2)[1].strip() for row in rows}) == 1  # statements: one figure for all modes
    assert "spans per request" in text and "load average at end" in text


@pytest.mark.django_db(transaction=True)
def test_bench_velocity_shows_the_breaker_as_one_statement():
    database_before = connection.settings_dict["NAME"]
    out = io.StringIO()
    call_command("bench_velocity", "--consumes", "3", stdout=out)
    rows = {line.split("|")[1].strip(): int(line.split("|")[2]) for line in out.getvalue().splitlines()
            if line.startswith("| ") and not line.startswith("| path")}
    assert rows["wallet lock + breaker charge"] == rows["wallet lock alone"] + 1
    assert connection.settings_dict["NAME"] == database_before


@pytest.mark.django_db(transaction=True)
def test_bench_pgledger_compares_the_three_ledgers_in_separate_processes():
    out = io.StringIO()

    call_command("bench_pgledger", "--seconds", "0.3", "--workers", "1,2", "--spread-wallets", "3", stdout=out)

    text = out.getvalue()
    assert "cores:" in text and "service/pgledger" in text
    rows = [line for line in text.splitlines() if line.startswith(("| 1 (hot) |", "| 3 |"))]
    assert len(rows) == 8  # 2 placements x 2 process counts, in both tables
    for row in rows[:4]:  # every layer did operations in every cell
        assert all(float(cell.replace(",", "")) > 0 for cell in row.strip("|").split("|")[2:])
    # The Phoenix ledger stays valid except for what the lot-less twin leaves by design.
    assert "other anomalies: 0 " in text
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_database WHERE datname LIKE %s", [f"phoenix_%_{os.getpid()}"])
        assert cursor.fetchone()[0] == 0
