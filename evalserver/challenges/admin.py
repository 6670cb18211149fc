from django import forms
from django.contrib import admin, messages
from django.db.models import Count

from evalserver import scoring
from evalserver.challenges.admin_scope import OrganizerScopedAdmin
from evalserver.challenges.models import Challenge, Phase
from evalserver.challenges.organizers import ORGANIZERS_GROUP, organizer_admin_problems
from evalserver.challenges.services import (
    PHASE_SETTINGS,
    phase_set_labels,
    protocol_change_refused,
)
from evalserver.scoring.errors import LabelsInvalid
from leaderboard.admin import PHASE_ADMIN_ACTIONS

# Label files are a few MB; anything far larger is a wrong file, not ground truth.
MAX_LABELS_UPLOAD_BYTES = 200 * 1024 * 1024


class PhaseInline(admin.TabularInline):
    model = Phase
    extra = 0
    show_change_link = True
    fields = (
        "order",
        "slug",
        "name",
        "track",
        "starts_at",
        "ends_at",
        "is_open",
        "leaderboard_visibility",
        "max_submissions_per_day",
        "max_submissions_total",
        "n_items",
    )
    readonly_fields = ("n_items",)


@admin.register(Challenge)
class ChallengeAdmin(OrganizerScopedAdmin, admin.ModelAdmin):
    challenge_lookup = "pk"
    list_display = ("title", "slug", "is_published", "phase_count", "n_classes", "created_at")
    list_filter = ("is_published",)
    search_fields = ("title", "slug")
    prepopulated_fields = {"slug": ("title",)}
    filter_horizontal = ("organizers",)
    # The class list decides what the columns of every answer file mean and is checked
    # against the label files: it changes only through import_challenge.
    readonly_fields = ("class_names", "created_at", "updated_at")
    inlines = [PhaseInline]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(_phase_count=Count("phases"))

    def get_readonly_fields(self, request, obj=None):
        # Who organizes a challenge is a superuser's decision, not the organizers' own.
        if request.user.is_superuser:
            return self.readonly_fields
        return (*self.readonly_fields, "organizers")

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        field = super().formfield_for_manytomany(db_field, request, **kwargs)
        if db_field.name == "organizers":
            field.help_text = (
                "Users who run this challenge (and no other). To use the admin they also "
                f"need staff status and the {ORGANIZERS_GROUP!r} group."
            )
        return field

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        for user in form.instance.organizers.all():
            problems = organizer_admin_problems(user=user)
            if problems:
                messages.warning(
                    request,
                    f"Organizer {user} of {form.instance} cannot use the admin yet: "
                    f"{'; '.join(problems)}.",
                )

    @admin.display(description="phases", ordering="_phase_count")
    def phase_count(self, obj):
        return obj._phase_count

    @admin.display(description="classes")
    def n_classes(self, obj):
        return obj.n_classes


class PhaseAdminForm(forms.ModelForm):
    replace_labels = forms.FileField(
        required=False,
        help_text=(
            "Upload a new hidden label file (TinyVIRAT-v2 JSON). It is checked against the "
            "challenge's classes before it replaces the current one."
        ),
    )

    class Meta:
        model = Phase
        # When a private board was revealed is no YAML setting: the reveal action records it.
        fields = ("challenge", "slug", *PHASE_SETTINGS, "leaderboard_revealed_at")

    def clean(self):
        cleaned = super().clean()
        protocol = cleaned.get("detection_protocol")
        phase = self.instance
        if (
            phase.pk
            and protocol
            and "detection_protocol" in self.changed_data
            and phase.submissions.exists()
        ):
            self.add_error("detection_protocol", protocol_change_refused(phase=phase, new=protocol))
        upload = cleaned.get("replace_labels")
        if upload is None:
            return cleaned
        if upload.size > MAX_LABELS_UPLOAD_BYTES:
            self.add_error("replace_labels", "This file is too large to be a label file.")
            return cleaned
        challenge = cleaned.get("challenge") or getattr(self.instance, "challenge", None)
        track = cleaned.get("track")
        if challenge is None or track is None:
            return cleaned
        data = upload.read()
        try:
            scoring.load_labels(track, data, list(challenge.class_names))
        except LabelsInvalid as exc:
            self.add_error("replace_labels", exc.errors[:20])
            return cleaned
        self.labels_data = data
        return cleaned


@admin.register(Phase)
class PhaseAdmin(OrganizerScopedAdmin, admin.ModelAdmin):
    form = PhaseAdminForm
    list_display = (
        "__str__",
        "name",
        "track",
        "starts_at",
        "ends_at",
        "is_open",
        "leaderboard_visibility",
        "n_items",
    )
    # The organizers' switch, flipped from the list without opening each phase.
    list_editable = ("is_open",)
    # Only the challenges in the (organizer's) list: other challenges' names stay hidden.
    list_filter = (
        ("challenge", admin.RelatedOnlyFieldListFilter),
        "track",
        "is_open",
        "leaderboard_visibility",
    )
    list_select_related = ("challenge",)
    search_fields = ("slug", "name", "challenge__slug", "challenge__title")
    readonly_fields = ("labels_file", "labels_sha256", "n_items", "created_at", "updated_at")
    # Export, freeze and reveal the leaderboard (leaderboard/admin.py).
    actions = PHASE_ADMIN_ACTIONS

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        data = getattr(form, "labels_data", None)
        if data is not None:
            upload = form.cleaned_data["replace_labels"]
            phase_set_labels(phase=obj, data=data, filename=upload.name)
            messages.info(request, f"Labels of {obj} replaced: {obj.n_items} items.")
