from django.conf import settings
from django.db import models


class AdminAction(models.Model):
    """An operator action taken in the admin: who, what, on what, why, before and after.

    Append-only (a database trigger refuses UPDATE and DELETE). Written by
    `phoenix.core.services.operator_action` in the same transaction as the change.
    """

    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    action = models.CharField(max_length=64, help_text="e.g. wallet_adjust, hold_release")
    target_type = models.CharField(max_length=64, help_text="app_label.model of the object acted on")
    target_id = models.CharField(max_length=64)
    target_repr = models.CharField(max_length=255, blank=True, default="")
    reason = models.TextField()
    before = models.JSONField(default=dict, blank=True)
    after = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        # Operator permissions on third-party models (axes' lockouts, beat's schedules),
        # declared here because those models are not ours (roles: phoenix.core.roles).
        permissions = [
            ("unlock_admin_login", "Can unlock an admin login locked out after failed attempts"),
            ("run_periodic_task", "Can run a beat schedule now"),
        ]
        constraints = [
            models.CheckConstraint(condition=~models.Q(reason=""), name="adminaction_reason_required"),
            models.CheckConstraint(condition=~models.Q(action=""), name="adminaction_action_required"),
        ]
        indexes = [models.Index(fields=["target_type", "target_id"], name="adminaction_target_idx")]

    def __str__(self) -> str:
        return f"{self.action} on {self.target_type}#{self.target_id} by {self.actor_id}"


class JobRunOutcome(models.TextChoices):
    OK = "ok", "OK"
    WARNING = "warning", "Warning"
    CRITICAL = "critical", "Critical"
    FAILED = "failed", "Failed"


class JobRun(models.Model):
    """One finished run of a scheduled job (e.g. the wallet health check), so the dashboard
    can say when it last ran and what it found without re-running it."""

    job = models.CharField(max_length=64, db_index=True, help_text="e.g. wallet.health_check")
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField()
    outcome = models.CharField(max_length=16, choices=JobRunOutcome.choices)
    summary = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-finished_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=models.Q(outcome__in=JobRunOutcome.values), name="jobrun_outcome_valid"),
            models.CheckConstraint(condition=models.Q(finished_at__gte=models.F("started_at")),
                                   name="jobrun_finished_after_start"),
        ]
        indexes = [models.Index(fields=["job", "-finished_at"], name="jobrun_job_latest_idx")]

    def __str__(self) -> str:
        return f"{self.job} at {self.finished_at:%Y-%m-%d %H:%M} ({self.outcome})"


class IdempotentResponse(models.Model):
    """The first answer to a mutating API request sent with an idempotency key.

    Keyed by (principal, key): a principal is an end user or a satellite API key, so two
    callers never collide on each other's keys. The row is inserted at the start of the
    request's transaction and filled with the answer at its end, in the SAME transaction
    as the effect: see `phoenix.core.idempotency`.
    """

    principal = models.CharField(max_length=64, help_text="user:<pk> or apikey:<prefix>")
    key = models.CharField(max_length=128)
    fingerprint = models.CharField(max_length=64, help_text="sha256 of method, path and body")
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    body = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["principal", "key"], name="idempotentresponse_unique_principal_key"),
        ]
        indexes = [models.Index(fields=["created_at"], name="idempotentresponse_created_idx")]

    def __str__(self) -> str:
        return f"{self.principal} {self.key} -> {self.status_code}"
