"""Team checks shared by every app's API: another team's objects are 404, a missing role is 403."""

from __future__ import annotations

from django.http import Http404

from webapp.accounts.selectors import role_in
from webapp.kdsam_studio.api_errors import ApiError


def require_role(user, team_id: int, roles) -> str:
    """The user's role in the team; 404 when not a member, 403 when the role is not allowed."""
    role = role_in(user, team_id)
    if role is None:
        raise Http404("no such team")
    if role not in roles:
        raise ApiError(
            "forbidden", f"Your role in this team is '{role}'; this needs one of: {', '.join(roles)}.", status_code=403
        )
    return role
