"""Teams and the roles their members have."""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models


class Team(models.Model):
    name = models.CharField(max_length=200, unique=True)
    #: The team's own storage quota; ``None`` = the deployment's (``KDSAM_TEAM_STORAGE_QUOTA_GB``). What counts and
    #: where it is enforced: webapp/datasets/services/quota.py.
    storage_quota_gb = models.FloatField(
        null=True,
        blank=True,
        validators=[MinValueValidator(0)],
        verbose_name="storage quota (GB)",
        help_text="Stored bytes the team may hold, in GB (1 GB = 1024³ bytes; decimals allowed): its datasets, its "
        "members' images, its model versions and unfinished uploads. Empty = the deployment default "
        "(KDSAM_TEAM_STORAGE_QUOTA_GB); 0 = unlimited.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    class Role(models.TextChoices):
        CLINICIAN = "clinician", "clinician (segments with published models)"
        TRAINER = "trainer", "trainer (datasets, jobs and models of the team)"
        ADMIN = "admin", "team admin"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.CLINICIAN)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "team"], name="one_membership_per_user_and_team")]

    def __str__(self) -> str:
        return f"{self.user} in {self.team} ({self.role})"


class LoginThrottle(models.Model):
    """Recent failed sign-ins of one username or one client address (counted by webapp/accounts/throttling.py)."""

    class Scope(models.TextChoices):
        USERNAME = "username", "username"
        IP = "ip", "client address"

    scope = models.CharField(max_length=8, choices=Scope.choices)
    #: SHA-256 of the case-folded username or of the address: what people type into the username field is not kept
    key = models.CharField(max_length=64)
    failures = models.PositiveIntegerField(default=0)  #: failed sign-ins since window_started
    window_started = models.DateTimeField()
    locked_until = models.DateTimeField(null=True, blank=True)  #: every sign-in is refused until then

    class Meta:
        constraints = [models.UniqueConstraint(fields=["scope", "key"], name="one_login_throttle_per_scope_and_key")]

    def __str__(self) -> str:
        return f"{self.scope} {self.key[:12]}: {self.failures} failures"
