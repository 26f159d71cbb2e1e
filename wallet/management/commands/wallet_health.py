from phoenix.core.jobs import JobCommand, parse_job_now
from wallet.services import wallet_health_run


class Command(JobCommand):
    help = ("Wallet health (hourly job): detect anomalies, auto-correct WARNINGs with a system "
            "operation, record and mail CRITICALs (never corrected).")

    def handle(self, *args, **options):
        report = wallet_health_run(now=parse_job_now(options["now"]), dry_run=options["dry_run"])
        prefix = "[dry run] " if report.dry_run else ""
        if report.skipped_locked:
            self.stdout.write(f"{prefix}another health run holds the lock: nothing done")
            return
        self.stdout.write(f"{prefix}now={report.now.isoformat()} findings={len(report.findings)} "
                          f"critical={len(report.critical)} warnings={len(report.warnings)}")
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
