from rest_framework import serializers


class SessionUserSerializer(serializers.Serializer):
    username = serializers.CharField()
    is_staff = serializers.BooleanField()


class SessionSerializer(serializers.Serializer):
    user = SessionUserSerializer()
