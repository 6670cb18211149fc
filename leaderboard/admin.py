"""The leaderboard in the admin: frozen boards, and the organizers' actions on phases.

The actions are meant for the Phase admin (evalserver/challenges/admin.py), which lists
them from ``PHASE_ADMIN_ACTIONS``; they run the same services and exports as the command
line.
"""

import io

from django.contrib import admin, messages
from django.db import connection
from django.db.models import F, Func, IntegerField
from django.http import HttpResponse

from evalserver.challenges.admin_scope import OrganizerScopedAdmin
from evalserver.errors import DomainError
from leaderboard.exports import write_leaderboard_csv, write_submissions_csv
from leaderboard.models import FrozenLeaderboard
from leaderboard.services import (
    final_board_publish,
    leaderboard_freeze,
    leaderboard_reveal,
    leaderboard_unfreeze,
)


def _csv_response(*, phase, kind: str, writer) -> HttpResponse:
    out = io.StringIO()
    writer(phase=phase, out=out)
    response = HttpResponse(out.getvalue(), content_type="text/csv; charset=utf-8")
    filename = f"{phase.challenge.slug}-{phase.slug}-{kind}.csv"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def _single_phase(modeladmin, request, queryset):
    phases = list(queryset.select_related("challenge")[:2])
    if len(phases) != 1:
        modeladmin.message_user(
            request, "Select exactly one phase to export.", level=messages.ERROR
        )
        return None
    phase = phases[0]
    if not phase.challenge.is_organizer(request.user):
        modeladmin.message_user(
            request, f"You are not an organizer of {phase.challenge}.", level=messages.ERROR
        )
        return None
    return phase


@admin.action(description="Export the leaderboard as CSV")
def export_leaderboard_csv(modeladmin, request, queryset):
    phase = _single_phase(modeladmin, request, queryset)
    if phase is None:
        return None
    return _csv_response(phase=phase, kind="leaderboard", writer=write_leaderboard_csv)


@admin.action(description="Export all submissions as CSV")
def export_submissions_csv(modeladmin, request, queryset):
    phase = _single_phase(modeladmin, request, queryset)
    if phase is None:
        return None
    return _csv_response(phase=phase, kind="submissions", writer=write_submissions_csv)


def _for_each_phase(modeladmin, request, queryset, service, done: str) -> None:
    for phase in queryset.select_related("challenge"):
        try:
            service(phase=phase, actor=request.user)
        except DomainError as exc:
            modeladmin.message_user(request, exc.message, level=messages.ERROR)
        else:
            modeladmin.message_user(request, done.format(phase=phase), level=messages.SUCCESS)


@admin.action(description="Freeze the final leaderboard")
def freeze_leaderboard(modeladmin, request, queryset):
    _for_each_phase(
        modeladmin, request, queryset, leaderboard_freeze, "Froze the leaderboard of {phase}."
    )


@admin.action(description="Unfreeze the leaderboard (serve the live ranking again)")
def unfreeze_leaderboard(modeladmin, request, queryset):
    _for_each_phase(
        modeladmin, request, queryset, leaderboard_unfreeze, "Unfroze the leaderboard of {phase}."
    )


@admin.action(description="Reveal the private leaderboard to everyone")
def reveal_leaderboard(modeladmin, request, queryset):
    _for_each_phase(
        modeladmin, request, queryset, leaderboard_reveal, "Revealed the leaderboard of {phase}."
    )


@admin.action(description="Publish the final (private-split) board, after the deadline")
def publish_final_board(modeladmin, request, queryset):
    _for_each_phase(
        modeladmin,
        request,
        queryset,
        final_board_publish,
        "Published the final (private-split) board of {phase}.",
    )


PHASE_ADMIN_ACTIONS = (
    export_leaderboard_csv,
    export_submissions_csv,
    freeze_leaderboard,
    unfreeze_leaderboard,
    reveal_leaderboard,
    publish_final_board,
)


@admin.register(FrozenLeaderboard)
class FrozenLeaderboardAdmin(OrganizerScopedAdmin, admin.ModelAdmin):
    challenge_lookup = "phase__challenge"
    list_display = ("phase", "frozen_at", "frozen_by", "entry_count")
    list_select_related = ("phase__challenge", "frozen_by")
    readonly_fields = ("phase", "entries", "frozen_at", "frozen_by")

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        if connection.vendor != "postgresql":
            return queryset
        # The list shows each board's length, not its entries (megabytes at 1,000 teams).
        return queryset.defer("entries").annotate(
            _entry_count=Func(
                F("entries"), function="jsonb_array_length", output_field=IntegerField()
            )
        )

    @admin.display(description="entries")
    def entry_count(self, obj: FrozenLeaderboard) -> int:
        count = getattr(obj, "_entry_count", None)
        return len(obj.entries) if count is None else count

    def has_add_permission(self, request) -> bool:
        # A frozen board is made by the freeze action, from the ranking, never typed in.
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
