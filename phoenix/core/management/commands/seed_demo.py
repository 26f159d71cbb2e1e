from django.core.management.base import BaseCommand

from phoenix.core.demo import seed_all


class Command(BaseCommand):
    help = "Load idempotent demo data from every app's demo.py (used by `make run`)."

    def handle(self, *args, **options):
        seed_all(self.stdout)
        self.stdout.write(self.style.SUCCESS("demo data ready"))
