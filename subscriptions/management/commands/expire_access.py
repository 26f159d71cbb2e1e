from phoenix.core.jobs import StepsJobCommand
from subscriptions import services


class Command(StepsJobCommand):
    help = "Expire individual trials and paid periods that are over (hourly job)."

    def run_job(self, *, now, dry_run):
        return services.access_expire_due(now=now, dry_run=dry_run)
