"""Queries on model versions."""

from __future__ import annotations

from django.db.models import Prefetch, Q, QuerySet

from webapp.accounts.selectors import TRAINING_ROLES, team_ids_with_role, teams_of
from webapp.registry.models import Evaluation, ModelVersion


def active_model_version() -> ModelVersion | None:
    return ModelVersion.objects.filter(is_active=True).first()


def visible_model_versions(user) -> QuerySet[ModelVersion]:
    """Published deployment-wide versions, published versions of the user's teams, and every
    version (drafts and archived ones included) of the teams where the user trains."""
    trainer_teams = team_ids_with_role(user, TRAINING_ROLES)
    return ModelVersion.objects.filter(
        Q(state=ModelVersion.State.PUBLISHED, team__isnull=True)
        | Q(state=ModelVersion.State.PUBLISHED, team__in=teams_of(user))
        | Q(team__in=trainer_teams)
        | Q(is_active=True)
    ).distinct()


def published_model_versions(user) -> QuerySet[ModelVersion]:
    """What the segmentation UI's model picker lists."""
    return visible_model_versions(user).filter(Q(state=ModelVersion.State.PUBLISHED) | Q(is_active=True))


def evaluations_visible_to(user) -> QuerySet[Evaluation]:
    """Evaluations of the teams the user is a member of (any role, like the datasets they were run on), newest first.

    Never anyone else's: another team's evaluation of a version both can see stays that team's.
    """
    if user is None or not user.is_authenticated:
        return Evaluation.objects.none()
    return Evaluation.objects.filter(team__in=teams_of(user)).select_related("dataset")


def with_visible_evaluations(versions: QuerySet[ModelVersion], user) -> QuerySet[ModelVersion]:
    """``versions`` with ``visible_evaluations`` prefetched (what the model-version serializer shows)."""
    return versions.prefetch_related(
        Prefetch("evaluations", queryset=evaluations_visible_to(user), to_attr="visible_evaluations")
    )
