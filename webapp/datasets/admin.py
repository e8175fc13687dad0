from django.contrib import admin

from webapp.datasets import services
from webapp.datasets.models import Dataset, DatasetItem


@admin.action(description="Delete the selected datasets and their unshared files")
def delete_with_files(modeladmin, request, queryset):
    for dataset in queryset:
        services.delete_dataset(dataset)


@admin.register(Dataset)
class DatasetAdmin(admin.ModelAdmin):
    list_display = ("id", "name", "team", "state", "format", "created_by", "created_at")
    list_filter = ("state", "format", "team")
    search_fields = ("name", "original_filename", "source_path")
    readonly_fields = ("state", "format", "report", "counts", "upload_path", "upload_size", "upload_received",
                       "progress_stage", "progress_done", "progress_total", "error", "task_id", "created_at", "updated_at")
    actions = [delete_with_files]

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)  # the plain bulk delete would leave the files behind
        return actions

    def delete_model(self, request, obj):
        services.delete_dataset(obj)


@admin.register(DatasetItem)
class DatasetItemAdmin(admin.ModelAdmin):
    list_display = ("id", "dataset", "item_id", "split", "class_label", "negative", "unlabelled", "width", "height")
    list_filter = ("split", "negative", "unlabelled")
    search_fields = ("item_id", "sha256")
    readonly_fields = [f.name for f in DatasetItem._meta.fields]
