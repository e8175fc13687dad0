from rest_framework import serializers


class SessionSerializer(serializers.Serializer):
    username = serializers.CharField()
    is_staff = serializers.BooleanField()
