from django.contrib import admin

from webapp.registry.models import ModelVersion


@admin.register(ModelVersion)
class ModelVersionAdmin(admin.ModelAdmin):
    list_display = ("id", "name", "weights", "is_active", "image_size", "created_at")
    list_filter = ("weights", "is_active")
    readonly_fields = ("checkpoint_sha256", "decoder_sha256", "parameters", "metadata", "created_at", "source")
