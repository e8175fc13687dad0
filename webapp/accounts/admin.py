from django.contrib import admin

from webapp.accounts.models import Membership, Team


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 1
    autocomplete_fields = ["user"]


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ("name", "storage_quota_gb", "storage_used", "created_at")
    search_fields = ("name",)
    fields = ("name", "storage_quota_gb", "storage_used")
    readonly_fields = ("storage_used",)
    inlines = [MembershipInline]

    @admin.display(description="storage used")
    def storage_used(self, team: Team) -> str:
        """What the team stores, of which quota (its own, else the default): webapp/datasets/services/quota.py."""
        if team.pk is None:
            return "—"
        from webapp.datasets.services import quota

        usage = quota.usage(team)
        limit = "unlimited" if usage.quota is None else f"of {quota.format_bytes(usage.quota)}"
        source = "" if usage.quota_source == "team" else " (deployment default)"
        return f"{quota.format_bytes(usage.used)} {limit}{source}"


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ("user", "team", "role", "created_at")
    list_filter = ("role", "team")
    search_fields = ("user__username", "team__name")
