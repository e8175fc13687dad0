from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from webapp.accounts.selectors import memberships_of
from webapp.accounts.serializers import SessionSerializer, TeamMembershipSerializer


class SessionView(APIView):
    @extend_schema(responses=SessionSerializer, operation_id="session")
    def get(self, request):
        return Response(SessionSerializer({"user": request.user}).data)


class TeamListView(APIView):
    @extend_schema(responses=TeamMembershipSerializer(many=True), operation_id="teams_list")
    def get(self, request):
        return Response(TeamMembershipSerializer(memberships_of(request.user), many=True).data)
