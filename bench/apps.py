from django.apps import AppConfig


class BenchConfig(AppConfig):
    """Benchmarks of the ledger and the /luna API (management commands only, no models).

    It sits above the apps it measures: bench imports wallet, never the reverse."""

    name = "bench"
    verbose_name = "Benchmarks"
