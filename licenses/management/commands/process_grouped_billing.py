from licenses import services
from phoenix.core.jobs import StepsJobCommand


class Command(StepsJobCommand):
    help = "Process the grouped billing date: canceled/unlinked seats due, next date (hourly job)."

    def run_job(self, *, now, dry_run):
        return services.grouped_billing_run(now=now, dry_run=dry_run)
