from pathlib import Path

from django import forms
from django.contrib import admin, messages
from django.shortcuts import redirect, render
from django.urls import path

from kdsam_core.modeling import registry
from kdsam_core.modeling.checkpoint import CheckpointError
from webapp.registry import services
from webapp.registry.models import Evaluation, ModelVersion


class ImportCheckpointForm(forms.Form):
    path = forms.CharField(
        help_text="Path of the official checkpoint file on the server, "
        f"e.g. /weights/{registry.teacher(registry.DEFAULT_TEACHER).checkpoint}"
    )
    kind = forms.ChoiceField(choices=[(k, k) for k in services.ARCHITECTURE_OF_TEACHER])
    name = forms.CharField(required=False)


@admin.register(ModelVersion)
class ModelVersionAdmin(admin.ModelAdmin):
    list_display = ("id", "name", "architecture", "weights", "state", "team", "is_active", "created_at")
    list_filter = ("state", "architecture", "weights", "team", "is_active")
    search_fields = ("name", "checkpoint_sha256")
    readonly_fields = (
        "checkpoint",
        "checkpoint_sha256",
        "decoder_onnx",
        "decoder_sha256",
        "decoder_onnx_quantized",
        "parameters",
        "metrics",
        "metadata",
        "training_data",
        "parent",
        "job",
        "teacher",
        "source",
        "created_at",
        "created_by",
        "is_active",
    )
    actions = ["publish", "archive", "activate"]
    change_list_template = "admin/registry/modelversion/change_list.html"

    @admin.action(description="Publish (appears in the segmentation model picker)")
    def publish(self, request, queryset):
        for version in queryset:
            services.publish(version)

    @admin.action(description="Archive")
    def archive(self, request, queryset):
        for version in queryset:
            try:
                services.archive(version)
            except ValueError as error:
                self.message_user(request, str(error), level=messages.WARNING)

    @admin.action(description="Make the deployment's default model")
    def activate(self, request, queryset):
        if queryset.count() != 1:
            self.message_user(request, "Select exactly one version.", level=messages.WARNING)
            return
        services.activate(queryset.first())

    def get_urls(self):
        return [
            path("import/", self.admin_site.admin_view(self.import_view), name="registry_modelversion_import"),
            *super().get_urls(),
        ]

    def import_view(self, request):
        form = ImportCheckpointForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                version = services.import_official_checkpoint(
                    Path(form.cleaned_data["path"]),
                    form.cleaned_data["kind"],
                    name=form.cleaned_data["name"] or None,
                    user=request.user,
                )
            except (CheckpointError, ValueError) as error:
                form.add_error("path", str(error))
            else:
                self.message_user(request, f"Imported {version}.")
                return redirect("admin:registry_modelversion_changelist")
        context = {
            **self.admin_site.each_context(request),
            "form": form,
            "title": "Import an official checkpoint",
            "opts": self.model._meta,
        }
        return render(request, "admin/registry/modelversion/import.html", context)


@admin.register(Evaluation)
class EvaluationAdmin(admin.ModelAdmin):
    """Evaluation results are what jobs measured: read-only."""

    list_display = ("id", "model_version", "team", "dataset", "split", "job", "created_at")
    list_filter = ("team", "split")
    readonly_fields = ("model_version", "team", "dataset", "job", "split", "protocol", "metrics", "created_at")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
