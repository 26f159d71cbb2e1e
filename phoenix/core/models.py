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
