from django.conf import settings
from django.db import models


class AdminAction(models.Model):
    """An operator action taken in the admin: who, what, on what, why, before and after.

    Append-only (a database trigger refuses UPDATE and DELETE). Written by
    `phoenix.core.services.admin_action_record` in the same transaction as the change.
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
