from rest_framework import serializers


class SessionUserSerializer(serializers.Serializer):
    username = serializers.CharField()
    is_staff = serializers.BooleanField()


class SessionSerializer(serializers.Serializer):
    user = SessionUserSerializer()
    cache_key = serializers.CharField(
        help_text="Opaque key of this session; the app names its Cache Storage after it. New at every sign-in."
    )


class TeamMembershipSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="team.id")
    name = serializers.CharField(source="team.name")
    role = serializers.CharField()
