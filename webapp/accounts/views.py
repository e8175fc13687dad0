from __future__ import annotations

from django.contrib.auth import views as auth_views
from drf_spectacular.utils import extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from webapp.accounts import throttling
from webapp.accounts.browser_cache import cache_key_of
from webapp.accounts.selectors import memberships_of
from webapp.accounts.serializers import SessionSerializer, TeamMembershipSerializer


class LoginView(auth_views.LoginView):
    """Django's sign-in page; a sign-in refused by the throttle (webapp/accounts/throttling.py) is a 429."""

    def form_invalid(self, form):
        attempt = throttling.attempt_of(self.request)
        if attempt is None or attempt.lockout is None:
            return super().form_invalid(form)
        context = self.get_context_data(form=form, lockout_message=attempt.lockout.message)
        response = self.render_to_response(context, status=429)
        response["Retry-After"] = str(attempt.lockout.retry_after)
        return response


class LogoutView(auth_views.LogoutView):
    """Django's sign-out; the response also tells the browser to drop this site's caches and storage.

    ``Clear-Site-Data`` removes the HTTP cache and Cache Storage (where the viewer keeps embeddings),
    so a shared workstation keeps no patient data of the user who signed out. Browsers honour it on
    HTTPS and on localhost; the app does not rely on it: it deletes its own caches before it signs out
    and, when a session begins, those of every other session (frontend/src/session-caches.ts).
    """

    def post(self, request, *args, **kwargs):
        response = super().post(request, *args, **kwargs)
        response["Clear-Site-Data"] = '"cache", "storage"'
        return response


class SessionView(APIView):
    @extend_schema(responses=SessionSerializer, operation_id="session")
    def get(self, request):
        session = {"user": request.user, "cache_key": cache_key_of(request.session)}
        return Response(SessionSerializer(session).data)


class TeamListView(APIView):
    @extend_schema(responses=TeamMembershipSerializer(many=True), operation_id="teams_list")
    def get(self, request):
        return Response(TeamMembershipSerializer(memberships_of(request.user), many=True).data)
