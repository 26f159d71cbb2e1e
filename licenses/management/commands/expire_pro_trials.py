from licenses import services
from phoenix.core.jobs import StepsJobCommand


class Command(StepsJobCommand):
    help = "Expire pro trials ended without a purchase (hourly job)."

    def run_job(self, *, now, dry_run):
        return services.pro_trial_expiry_run(now=now, dry_run=dry_run)
