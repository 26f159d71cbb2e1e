from phoenix.core.jobs import JobCommand, parse_job_now
from wallet.services import operation_rollup_refresh


class Command(JobCommand):
    help = ("Dashboard rollups (every 5 minutes): recompute the hourly buckets of balance operations "
            "from 3 hours before the last refresh through now (--rebuild: all history).")

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument("--rebuild", action="store_true", help="Recompute every bucket from the first operation.")

    def handle(self, *args, **options):
        report = operation_rollup_refresh(now=parse_job_now(options["now"]), rebuild=options["rebuild"],
                                          dry_run=options["dry_run"])
        if report.skipped_locked:
            self.stdout.write("another rollup refresh holds the lock: nothing done")
            return
        since = report.since.isoformat() if report.since else "the first operation"
        prefix = "[dry run] would write" if report.dry_run else "wrote"
        through = report.rolled_through.isoformat()
        self.stdout.write(f"{prefix} {report.buckets} bucket(s) from {since} through {through}")
