"""Queries on teams and memberships."""

from __future__ import annotations

from django.db.models import QuerySet

from webapp.accounts.models import Membership, Team

#: Roles allowed to manage a team's datasets, jobs and models.
TRAINING_ROLES = (Membership.Role.TRAINER, Membership.Role.ADMIN)


def teams_of(user) -> QuerySet[Team]:
    return Team.objects.filter(memberships__user=user).distinct()


def memberships_of(user) -> QuerySet[Membership]:
    return Membership.objects.filter(user=user).select_related("team")


def role_in(user, team_id: int) -> str | None:
    membership = Membership.objects.filter(user=user, team_id=team_id).only("role").first()
    return membership.role if membership else None


def team_ids_with_role(user, roles) -> list[int]:
    return list(Membership.objects.filter(user=user, role__in=roles).values_list("team_id", flat=True))
