from phoenix.core.jobs import JobCommand, parse_job_now
from wallet.services import wallet_holds_expire


class Command(JobCommand):
    help = "Hold expiry (every minute): release pending holds past their deadline (status expired)."

    def handle(self, *args, **options):
        report = wallet_holds_expire(now=parse_job_now(options["now"]), dry_run=options["dry_run"])
        if report.skipped_locked:
            self.stdout.write("another expiry run holds the lock: nothing done")
            return
        if report.dry_run:
            self.stdout.write(f"[dry run] now={report.now.isoformat()} would expire {len(report.due)} hold(s)")
            for hold in report.due:
                self.stdout.write(f"[dry run] would expire hold {hold.pk} wallet={hold.wallet_id} "
                                  f"amount={hold.amount} expires_at={hold.expires_at.isoformat()}")
            return
        self.stdout.write(f"now={report.now.isoformat()} expired {len(report.expired)} hold(s)")
        for hold in report.expired:
            self.stdout.write(f"expired hold {hold.pk} wallet={hold.wallet_id} amount={hold.amount} "
                              f"(was due {hold.expires_at.isoformat()})")
