"""The admin for organizers: each sees and changes only the challenges they organize.

Superusers see everything. Anybody else (staff in the Organizers group) gets lists
filtered to their challenges' objects, a 404 for another challenge's object, and choice
lists (challenge, phase, team) limited to theirs. Admin actions run on the filtered list,
and the services they call check ``Challenge.is_organizer`` again for each object.
"""

from __future__ import annotations

from django.http import Http404

from evalserver.challenges.organizers import challenges_organized_by

# The lookup from a model to its challenge's primary key, for the choice lists of forms.
_CHALLENGE_LOOKUPS = {
    "challenges.Challenge": "pk",
    "challenges.Phase": "challenge",
    "teams.Team": "challenge",
}


def _limit(queryset, *, lookup: str, user):
    if user.is_superuser:
        return queryset
    return queryset.filter(**{f"{lookup}__in": challenges_organized_by(user=user).values("pk")})


class OrganizerScopedAdmin:
    """Mix into a ModelAdmin; ``challenge_lookup`` leads from the model to its challenge
    ("pk" for Challenge itself, "phase__challenge" for Submission, ...)."""

    challenge_lookup: str = "challenge"
    # Lists a crowd grows (submissions, teams, their events): a page at a time, and no
    # second COUNT(*) of the whole table besides the filtered one.
    list_per_page = 50
    show_full_result_count = False

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        return _limit(queryset, lookup=self.challenge_lookup, user=request.user)

    def get_object(self, request, object_id, from_field=None):
        obj = super().get_object(request, object_id, from_field)
        if obj is None and not request.user.is_superuser:
            # Another challenge's object is "not found", as everywhere else on the site.
            raise Http404("No such object.")
        return obj

    def _organizes(self, request, obj) -> bool:
        if obj is None or request.user.is_superuser:
            return True
        scoped = _limit(
            type(obj)._default_manager.filter(pk=obj.pk),
            lookup=self.challenge_lookup,
            user=request.user,
        )
        return scoped.exists()

    def has_view_permission(self, request, obj=None):
        return super().has_view_permission(request, obj) and self._organizes(request, obj)

    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) and self._organizes(request, obj)

    def has_delete_permission(self, request, obj=None):
        return super().has_delete_permission(request, obj) and self._organizes(request, obj)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        lookup = _CHALLENGE_LOOKUPS.get(db_field.related_model._meta.label)
        if lookup is not None and "queryset" not in kwargs:
            kwargs["queryset"] = _limit(
                db_field.related_model._default_manager.all(), lookup=lookup, user=request.user
            )
        return super().formfield_for_foreignkey(db_field, request, **kwargs)
