from django.contrib import admin, messages

from webapp.datasets import services
from webapp.datasets.models import Dataset, DatasetItem, DatasetUpload


@admin.action(description="Delete the selected datasets and their unshared files")
def delete_with_files(modeladmin, request, queryset):
    for dataset in queryset:
        services.delete_dataset(dataset)


@admin.register(Dataset)
class DatasetAdmin(admin.ModelAdmin):
    list_display = ("id", "name", "team", "format", "created_by", "created_at")
    list_filter = ("format", "team")
    search_fields = ("name", "original_filename", "source_path")
    readonly_fields = ("state", "format", "counts", "upload_size", "created_at", "updated_at")
    actions = [delete_with_files]

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)  # the plain bulk delete would leave the files behind
        return actions

    def delete_model(self, request, obj):
        services.delete_dataset(obj)


@admin.action(description="Cancel the selected uploads (validation or import stops, nothing is kept)")
def cancel_uploads(modeladmin, request, queryset):
    cancelled = 0
    for upload in queryset.filter(state__in=services.ACTIVE_STATES):
        try:
            services.cancel(upload, reason=f"Cancelled by {request.user.get_username()} (admin).")
            cancelled += 1
        except services.DatasetRejected:
            pass  # settled meanwhile
    modeladmin.message_user(request, f"{cancelled} upload(s) cancelled.", messages.SUCCESS)


@admin.action(description="Delete the selected settled uploads and their staged archives")
def delete_uploads(modeladmin, request, queryset):
    for upload in queryset.filter(state__in=services.SETTLED_STATES):
        services.delete_upload(upload)


@admin.register(DatasetUpload)
class DatasetUploadAdmin(admin.ModelAdmin):
    """Upload sessions: bookkeeping only (read-only); a dataset exists only once one is imported."""

    list_display = ("id", "name", "team", "state", "format", "original_filename", "created_by", "created_at", "dataset")
    list_filter = ("state", "format", "team")
    search_fields = ("name", "original_filename", "source_path", "error")
    readonly_fields = [f.name for f in DatasetUpload._meta.fields]
    actions = [cancel_uploads, delete_uploads]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return obj is None or obj.state in services.SETTLED_STATES

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)  # would leave staged archives behind; use delete_uploads
        return actions

    def delete_model(self, request, obj):
        services.delete_upload(obj)


@admin.register(DatasetItem)
class DatasetItemAdmin(admin.ModelAdmin):
    list_display = ("id", "dataset", "item_id", "split", "class_label", "negative", "unlabelled", "width", "height")
    list_filter = ("split", "negative", "unlabelled")
    search_fields = ("item_id", "sha256")
    readonly_fields = [f.name for f in DatasetItem._meta.fields]
