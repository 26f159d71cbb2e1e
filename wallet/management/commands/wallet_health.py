from phoenix.core.jobs import JobCommand, parse_job_now
from wallet.services import wallet_health_run


class Command(JobCommand):
    help = ("Wallet health (hourly job, incremental from each wallet's checkpoint; --full: every operation "
            "from genesis, the daily job): detect anomalies, auto-correct WARNINGs with a system operation, "
            "record and mail CRITICALs (never corrected).")

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument("--full", action="store_true",
                            help="Re-verify every operation of every wallet from genesis (and reset the checkpoints).")

    def handle(self, *args, **options):
        report = wallet_health_run(now=parse_job_now(options["now"]), dry_run=options["dry_run"],
                                   full=options["full"])
        prefix = "[dry run] " if report.dry_run else ""
        if report.skipped_locked:
            self.stdout.write(f"{prefix}another health run holds the lock: nothing done")
            return
        self.stdout.write(f"{prefix}now={report.now.isoformat()} findings={len(report.findings)} "
                          f"critical={len(report.critical)} warnings={len(report.warnings)} mode={report.mode} "
                          f"operations_verified={report.operations_verified} "
                          f"wallets_verified={report.wallets_verified} "
                          f"checkpoints_advanced={report.checkpoints_advanced}")
        for finding in report.findings:
            self.stdout.write(f"{prefix}{finding.severity.upper()} wallet={finding.wallet_id} "
                              f"user={finding.user_id} {finding.code} {finding.detail}")
        for wallet_id, op_type, amount in report.planned_corrections:
            self.stdout.write(f"{prefix}would correct wallet={wallet_id}: {op_type} {amount}")
        for operation in report.corrections:
            self.stdout.write(f"corrected wallet={operation.wallet_id}: {operation.type} {operation.amount} "
                              f"(operation {operation.pk})")
        for incident in report.new_incidents:
            self.stdout.write(f"incident {incident.pk}: {incident.severity} {incident.code} "
                              f"wallet={incident.wallet_id} ({incident.status})")
        if not report.findings:
            self.stdout.write(f"{prefix}all wallets healthy")
