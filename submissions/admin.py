"""The organizers' console for submissions. Every action goes through a service, which
checks the actor organizes the challenge and records who did what, and when."""

from django.contrib import admin, messages
from django.contrib.admin.views.main import ChangeList
from django.utils.html import format_html, format_html_join

from evalserver.adminlists.rows import QuickListAdmin
from evalserver.challenges.admin_scope import OrganizerScopedAdmin
from evalserver.errors import DomainError
from evalserver.pagination import DeferredJoinPaginator
from submissions import services
from submissions.models import Submission, SubmissionEvent


class SubmissionEventInline(admin.TabularInline):
    model = SubmissionEvent
    extra = 0
    can_delete = False
    fields = ["created_at", "action", "actor", "detail"]
    readonly_fields = fields
    ordering = ["created_at", "id"]

    def has_add_permission(self, request, obj=None):
        return False


def _apply(modeladmin, request, queryset, verb: str, call) -> None:
    done, refused = 0, []
    for submission in queryset.select_related("phase__challenge"):
        try:
            call(submission)
        except DomainError as exc:
            refused.append(f"#{submission.pk}: {exc.message}")
        else:
            done += 1
    if done:
        modeladmin.message_user(request, f"{verb} {done} submission(s).", messages.SUCCESS)
    for message in refused:
        modeladmin.message_user(request, message, messages.WARNING)


@admin.action(description="Re-run scoring of the selected submissions")
def rerun(modeladmin, request, queryset):
    _apply(
        modeladmin,
        request,
        queryset,
        "Re-queued",
        lambda s: services.submission_rerun(submission=s, actor=request.user),
    )


@admin.action(description="Cancel the selected queued submissions")
def cancel(modeladmin, request, queryset):
    _apply(
        modeladmin,
        request,
        queryset,
        "Cancelled",
        lambda s: services.submission_cancel(submission=s, actor=request.user),
    )


def _flag_action(name: str, description: str, verb: str, **flags):
    def action(modeladmin, request, queryset):
        _apply(
            modeladmin,
            request,
            queryset,
            verb,
            lambda s: services.submission_set_flags(submission=s, actor=request.user, **flags),
        )

    action.__name__ = name
    return admin.action(description=description)(action)


def _num(value) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value)


class SubmissionChangeList(ChangeList):
    """The list's rows without what its columns never show: the score JSON (kilobytes a
    row, decoded for nothing), errors, description and the challenge's JSON (read for
    Phase.__str__'s slug only). Only the page's query: the actions and the change form
    still read whole rows."""

    def get_results(self, request):
        self.queryset = self.queryset.defer(
            "scores",
            "errors",
            "description",
            "phase__description",
            "phase__challenge__description",
            "phase__challenge__class_names",
            "phase__challenge__allowed_email_domains",
        )
        super().get_results(request)


@admin.register(Submission)
class SubmissionAdmin(QuickListAdmin, OrganizerScopedAdmin, admin.ModelAdmin):
    challenge_lookup = "phase__challenge"
    list_display = [
        "id",
        "phase",
        "team",
        "status",
        "score",
        "attempts",
        "created_at",
        "flags",
    ]
    # Dates by Django's fixed ranges (today, past 7 days, this month, this year), which need
    # no query: a date hierarchy read the MIN/MAX and the distinct months of every listed
    # submission on each page (12 ms at 20,000, growing with the phase).
    list_filter = [
        "status",
        ("phase", admin.RelatedOnlyFieldListFilter),
        ("created_at", admin.DateFieldListFilter),
        "is_hidden",
        "is_disqualified",
        "is_baseline",
    ]
    search_fields = ["team__name", "method_name", "original_filename", "file_sha256"]
    list_select_related = ["phase__challenge", "team"]
    # Deep pages of a crowded phase: the OFFSET walks the index of ids, not sorted rows.
    paginator = DeferredJoinPaginator
    inlines = [SubmissionEventInline]
    actions = [
        rerun,
        cancel,
        _flag_action("hide", "Hide from the leaderboard", "Hid", hidden=True),
        _flag_action("unhide", "Show on the leaderboard again", "Unhid", hidden=False),
        _flag_action("disqualify", "Disqualify", "Disqualified", disqualified=True),
        _flag_action("requalify", "Lift the disqualification", "Requalified", disqualified=False),
        _flag_action("mark_baseline", "Mark as baseline", "Marked", baseline=True),
        _flag_action("unmark_baseline", "Unmark as baseline", "Unmarked", baseline=False),
    ]
    # Status, scores and flags change only through the actions above, which keep the trail.
    # The score JSON reads as a table (scores_table), not raw JSON.
    exclude = ["scores"]
    readonly_fields = [
        *(
            field.name
            for field in Submission._meta.fields
            if field.name not in {"description", "scores"}
        ),
        "scores_table",
    ]

    def get_changelist(self, request, **kwargs):
        return SubmissionChangeList

    @admin.display(description="flags")
    def flags(self, obj: Submission) -> str:
        """The set flags in one plain cell (each can be filtered on, at the side): three
        boolean columns drew three icons a row, each through the static files' manifest,
        a fifth of the list's time."""
        names = [
            name
            for name, on in (
                ("hidden", obj.is_hidden),
                ("disqualified", obj.is_disqualified),
                ("baseline", obj.is_baseline),
            )
            if on
        ]
        return ", ".join(names) or "—"

    @admin.display(description="score", ordering="primary_score")
    def score(self, obj: Submission) -> str:
        return "—" if obj.primary_score is None else f"{obj.primary_score:.4f}"

    @admin.display(description="scores")
    def scores_table(self, obj: Submission):
        scores = obj.scores or {}
        if not scores:
            return "—"
        overall = [
            (key, value)
            for key, value in scores.items()
            if isinstance(value, int | float) and not isinstance(value, bool)
        ]
        per_class = scores.get("per_class") or []
        metrics = [k for k in (per_class[0] if per_class else {}) if k not in {"class_id", "name"}]
        return format_html(
            '<table class="scores-table"><tbody>{}</tbody></table>{}',
            format_html_join(
                "", "<tr><th>{}</th><td>{}</td></tr>", ((k, _num(v)) for k, v in overall)
            ),
            format_html(
                '<table class="scores-table"><thead><tr><th>#</th><th>class</th>{}</tr>'
                "</thead><tbody>{}</tbody></table>",
                format_html_join("", "<th>{}</th>", ((m,) for m in metrics)),
                format_html_join(
                    "",
                    "<tr><td>{}</td><td>{}</td>{}</tr>",
                    (
                        (
                            row.get("class_id"),
                            row.get("name"),
                            format_html_join(
                                "", "<td>{}</td>", ((_num(row.get(m)),) for m in metrics)
                            ),
                        )
                        for row in per_class
                    ),
                ),
            )
            if per_class
            else "",
        )

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return request.user.is_superuser


@admin.register(SubmissionEvent)
class SubmissionEventAdmin(QuickListAdmin, OrganizerScopedAdmin, admin.ModelAdmin):
    challenge_lookup = "submission__phase__challenge"
    list_display = ["created_at", "submission", "action", "actor"]
    list_filter = ["action"]
    list_select_related = ["submission", "actor"]
    paginator = DeferredJoinPaginator
    readonly_fields = ["submission", "actor", "action", "detail", "created_at"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
