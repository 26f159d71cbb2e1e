from phoenix.core.jobs import JobCommand, parse_job_now
from wallet.services import wallet_lots_expire


class Command(JobCommand):
    help = ("Lot expiry (every minute): lots past their expiry lose their unreserved remainder "
            "(a lot_expiry operation each, source system).")

    def handle(self, *args, **options):
        report = wallet_lots_expire(now=parse_job_now(options["now"]), dry_run=options["dry_run"])
        if report.skipped_locked:
            self.stdout.write("another lot-expiry run holds the lock: nothing done")
            return
        if report.dry_run:
            self.stdout.write(f"[dry run] now={report.now.isoformat()} would expire {len(report.due)} lot(s)")
            for due in report.due:
                self.stdout.write(f"[dry run] would expire lot {due.lot_id} wallet={due.wallet_id} amount={due.amount}")
            return
        self.stdout.write(f"now={report.now.isoformat()} expired {len(report.expired)} lot(s)")
        for done in report.expired:
            self.stdout.write(f"expired lot {done.lot_id} wallet={done.wallet_id} amount={done.amount} "
                              f"(operation {done.operation_id})")
