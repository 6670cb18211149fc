from django.contrib import admin
from django.db.models import Count
from django.forms.models import BaseInlineFormSet

from evalserver.challenges.admin_scope import OrganizerScopedAdmin
from evalserver.teams.models import Membership, Team


class MembershipInlineFormSet(BaseInlineFormSet):
    """Say which user is already in another team instead of failing on the constraint."""

    def clean(self):
        super().clean()
        challenge_id = self.instance.challenge_id
        seen = set()
        for form in self.forms:
            data = getattr(form, "cleaned_data", None)
            if not data or data.get("DELETE") or data.get("user") is None:
                continue
            user = data["user"]
            if user.pk in seen:
                form.add_error("user", f"{user} is listed twice.")
                continue
            seen.add(user.pk)
            if challenge_id is None:
                continue
            elsewhere = Membership.objects.filter(user=user, challenge_id=challenge_id)
            if self.instance.pk is not None:
                elsewhere = elsewhere.exclude(team_id=self.instance.pk)
            other = elsewhere.select_related("team").first()
            if other is not None:
                form.add_error("user", f"{user} is already in team {other.team} of this challenge.")


class MembershipInline(admin.TabularInline):
    model = Membership
    formset = MembershipInlineFormSet
    extra = 0
    fields = ("user", "role", "joined_at")
    raw_id_fields = ("user",)


@admin.register(Team)
class TeamAdmin(OrganizerScopedAdmin, admin.ModelAdmin):
    list_display = ("name", "challenge", "member_count", "created_by", "created_at")
    list_filter = (("challenge", admin.RelatedOnlyFieldListFilter),)
    list_select_related = ("challenge", "created_by")
    search_fields = ("name", "memberships__user__username")
    readonly_fields = ("invite_code", "created_by", "created_at")
    inlines = [MembershipInline]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(_member_count=Count("memberships"))

    @admin.display(description="members", ordering="_member_count")
    def member_count(self, obj):
        return obj._member_count

    def get_readonly_fields(self, request, obj=None):
        # Memberships copy the team's challenge; moving a team would leave them behind.
        if obj is not None:
            return (*self.readonly_fields, "challenge")
        return self.readonly_fields

    def save_model(self, request, obj, form, change):
        if not change and obj.created_by_id is None:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)

    def save_formset(self, request, form, formset, change):
        if formset.model is not Membership:
            return super().save_formset(request, form, formset, change)
        for membership in formset.save(commit=False):
            membership.challenge_id = form.instance.challenge_id
            membership.save()
        for membership in formset.deleted_objects:
            membership.delete()
        formset.save_m2m()
