from django.contrib import admin

from webapp.segmentation.models import Embedding, Image, Mask


class EmbeddingInline(admin.TabularInline):
    model = Embedding
    extra = 0
    readonly_fields = ("model_version", "file", "dtype", "size_bytes", "seconds", "created_at")
    can_delete = False


@admin.register(Image)
class ImageAdmin(admin.ModelAdmin):
    list_display = ("id", "original_filename", "owner", "width", "height", "status", "model_version", "created_at")
    list_filter = ("status", "model_version")
    search_fields = ("original_filename", "sha256", "owner__username")
    readonly_fields = ("sha256", "task_id", "created_at", "updated_at", "error")
    inlines = [EmbeddingInline]


@admin.register(Embedding)
class EmbeddingAdmin(admin.ModelAdmin):
    list_display = ("id", "image", "model_version", "dtype", "size_bytes", "seconds", "created_at")
    list_filter = ("model_version", "dtype")


@admin.register(Mask)
class MaskAdmin(admin.ModelAdmin):
    list_display = ("id", "label", "image", "area", "model_version", "author", "updated_at")
    list_filter = ("model_version",)
    search_fields = ("label", "image__original_filename", "author__username")
    readonly_fields = ("rle", "area", "prompts", "model_version", "author", "created_at", "updated_at")
