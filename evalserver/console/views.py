"""The organizer console's pages: thin views over the console's services and selectors.

Every page is its challenge's organizers' (and superusers'); anyone else signed in gets 404,
never "forbidden" (we do not confirm what exists), and an anonymous visitor the login page.
Each action is one POST with a reason where the audit trail wants one, then a redirect back
with a message saying what happened.
"""

from __future__ import annotations

import functools

from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from evalserver.announcements.selectors import announcements_of
from evalserver.announcements.services import announcement_post
from evalserver.console import selectors, services
from evalserver.console.forms import (
    AnnouncementForm,
    BulkActionForm,
    LabelsForm,
    OptionalReasonForm,
    PhaseSettingsForm,
    ReasonForm,
    RegistrationForm,
    SubmissionFilterForm,
)
from evalserver.console.models import Rescore
from evalserver.errors import DomainError, NotFound
from evalserver.pagination import DeferredJoinPaginator
from leaderboard.selectors import per_class_values, track_columns


def organizer_page(view):
    """Resolve ``slug`` to a challenge its viewer organizes, or 404 (login for anonymous)."""

    @functools.wraps(view)
    def wrapper(request, slug: str, **kwargs):
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        try:
            challenge = selectors.organizer_challenge(slug=slug, user=request.user)
        except NotFound:
            raise Http404("No such page.") from None
        try:
            return view(request, challenge, **kwargs)
        except NotFound:
            raise Http404("No such page.") from None

    return wrapper


def _nav(challenge, current: str) -> dict:
    return {"challenge": challenge, "nav": current}


def _errors(exc: DomainError) -> list[str]:
    field_errors = getattr(exc, "field_errors", None) or {}
    return [problem for problems in field_errors.values() for problem in problems]


def index(request):
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    challenges = list(selectors.organizer_challenges(user=request.user))
    if not challenges:
        raise Http404("No such page.")
    return render(request, "console/index.html", {"challenges": challenges})


@organizer_page
def overview(request, challenge):
    from evalserver.web.views import phase_state

    registration_form = None
    if request.method == "POST":
        registration_form = RegistrationForm(request.POST)
        if registration_form.is_valid():
            try:
                services.challenge_registration_update(
                    challenge=challenge,
                    actor=request.user,
                    registration=registration_form.cleaned_data["registration"],
                    allowed_email_domains=registration_form.cleaned_data["allowed_email_domains"],
                    reason=registration_form.cleaned_data.get("reason", ""),
                )
            except DomainError as exc:
                registration_form.add_error(None, exc.message)
            else:
                messages.success(request, "Saved who may take part.")
                return redirect("console-overview", slug=challenge.slug)

    now = timezone.now()
    phases = [
        {"phase": phase, "state": phase_state(phase, now), "counts": counts}
        for phase, counts in selectors.phase_counts(challenge=challenge)
    ]
    return render(
        request,
        "console/overview.html",
        {
            **_nav(challenge, "overview"),
            "phases": phases,
            "audit": selectors.audit_entries(challenge=challenge, limit=8),
            "reason_form": OptionalReasonForm(),
            "registration_form": registration_form
            or RegistrationForm(
                initial={
                    "registration": challenge.registration,
                    "allowed_email_domains": ", ".join(challenge.allowed_email_domains or []),
                }
            ),
        },
        status=400 if registration_form is not None else 200,
    )


def _phase_of(challenge, phase_id: int):
    phase = challenge.phases.filter(pk=phase_id).select_related("challenge").first()
    if phase is None:
        raise NotFound("No such phase.")
    return phase


def _settings_initial(phase) -> dict:
    return {
        "starts_at": phase.starts_at.strftime("%Y-%m-%d %H:%M:%S"),
        "ends_at": phase.ends_at.strftime("%Y-%m-%d %H:%M:%S"),
        "max_submissions_per_day": phase.max_submissions_per_day,
        "max_submissions_total": phase.max_submissions_total,
        "max_upload_bytes": phase.max_upload_bytes,
        "leaderboard_visibility": phase.leaderboard_visibility,
    }


@organizer_page
def phase_page(request, challenge, phase_id: int):
    phase = _phase_of(challenge, phase_id)
    form = PhaseSettingsForm(request.POST or None, initial=_settings_initial(phase))
    status = 200
    if request.method == "POST":
        if form.is_valid():
            values = dict(form.cleaned_data)
            reason = values.pop("reason", "")
            try:
                services.phase_update(
                    phase=phase, actor=request.user, changes=values, reason=reason
                )
            except DomainError as exc:
                form.add_error(None, exc.message)
            else:
                messages.success(request, f"Saved the settings of {phase.name}.")
                return redirect("console-phase", slug=challenge.slug, phase_id=phase.pk)
        status = 400
    return _render_phase(request, challenge, phase, form=form, status=status)


def _render_phase(
    request, challenge, phase, *, form=None, labels_form=None, check=None, status=200
):
    from evalserver.web.views import phase_state

    return render(
        request,
        "console/phase.html",
        {
            **_nav(challenge, "phases"),
            "phase": phase,
            "state": phase_state(phase, timezone.now()),
            "form": form or PhaseSettingsForm(initial=_settings_initial(phase)),
            "labels_form": labels_form or LabelsForm(),
            "check": check,
            "needs_rescore": services.phase_needs_rescore(phase=phase),
            "rescores": selectors.rescore_list(phase=phase)[:10],
            "reason_form": OptionalReasonForm(),
        },
        status=status,
    )


@require_POST
@organizer_page
def phase_switch(request, challenge, phase_id: int, switch: str):
    phase = _phase_of(challenge, phase_id)
    if switch not in ("open", "close"):
        raise NotFound("No such action.")
    form = OptionalReasonForm(request.POST)
    reason = form.cleaned_data.get("reason", "") if form.is_valid() else ""
    try:
        if switch == "open":
            services.phase_open_now(phase=phase, actor=request.user, reason=reason)
            messages.success(request, f"{phase.name} is open: it takes uploads from now on.")
        else:
            services.phase_close_now(phase=phase, actor=request.user, reason=reason)
            messages.success(request, f"{phase.name} is closed: it refuses uploads from now on.")
    except DomainError as exc:
        messages.error(request, exc.message)
    if request.POST.get("next") == "phase":
        return redirect("console-phase", slug=challenge.slug, phase_id=phase.pk)
    return redirect("console-overview", slug=challenge.slug)


@require_POST
@organizer_page
def phase_labels(request, challenge, phase_id: int):
    """Check a label file (always shown first), then preview a re-score or replace them."""
    phase = _phase_of(challenge, phase_id)
    form = LabelsForm(request.POST, request.FILES)
    if not form.is_valid():
        return _render_phase(request, challenge, phase, labels_form=form, status=400)
    upload = form.cleaned_data["labels"]
    data = upload.read()
    intent = request.POST.get("intent", "check")
    check = services.phase_labels_check(phase=phase, actor=request.user, data=data)
    if intent == "check" or not check.valid:
        return _render_phase(
            request, challenge, phase, check=check, status=200 if check.valid else 400
        )
    try:
        if intent == "preview":
            rescore = services.rescore_start(
                phase=phase, actor=request.user, data=data, filename=upload.name or ""
            )
            messages.success(
                request, "Re-scoring every submission against the new labels; nothing live changes."
            )
            return redirect("console-rescore", slug=challenge.slug, rescore_id=rescore.pk)
        if intent == "replace":
            services.phase_labels_replace(
                phase=phase,
                actor=request.user,
                data=data,
                filename=upload.name or "labels.json",
                reason=form.cleaned_data.get("reason", ""),
            )
            messages.success(request, f"Replaced the hidden labels of {phase.name}.")
            return redirect("console-phase", slug=challenge.slug, phase_id=phase.pk)
    except DomainError as exc:
        messages.error(request, exc.message)
        return _render_phase(request, challenge, phase, check=check, status=exc.status_code)
    raise NotFound("No such action.")


@organizer_page
def rescore_page(request, challenge, rescore_id: int):
    rescore = selectors.rescore_get_for_organizer(rescore_id=rescore_id, user=request.user)
    if rescore.phase.challenge_id != challenge.pk:
        raise NotFound("No such rescore.")
    if services.rescore_resume_if_stalled(rescore=rescore):
        rescore.refresh_from_db()
    done, total = selectors.rescore_progress(rescore=rescore)
    try:
        top_n = max(1, min(1000, int(request.GET.get("top", selectors.DEFAULT_TOP_N))))
    except ValueError:
        top_n = selectors.DEFAULT_TOP_N
    diff = (
        selectors.rescore_diff(rescore=rescore, top_n=top_n)
        if rescore.status == Rescore.Status.READY
        else None
    )
    return render(
        request,
        "console/rescore.html",
        {
            **_nav(challenge, "phases"),
            "rescore": rescore,
            "phase": rescore.phase,
            "done": done,
            "total": total,
            "percent": 100 if total == 0 else round(100 * done / total),
            "diff": diff,
            "top_n": top_n,
        },
    )


@require_POST
@organizer_page
def rescore_action(request, challenge, rescore_id: int, verb: str):
    rescore = selectors.rescore_get_for_organizer(rescore_id=rescore_id, user=request.user)
    if rescore.phase.challenge_id != challenge.pk or verb not in ("apply", "discard"):
        raise NotFound("No such rescore.")
    try:
        if verb == "apply":
            services.rescore_apply(rescore=rescore, actor=request.user)
            messages.success(request, "Applied: the new labels and every new score are live.")
        else:
            services.rescore_discard(rescore=rescore, actor=request.user)
            messages.success(request, "Discarded: nothing changed.")
    except DomainError as exc:
        messages.error(request, exc.message)
    return redirect("console-rescore", slug=challenge.slug, rescore_id=rescore.pk)


@organizer_page
def submissions_page(request, challenge):
    phases = list(challenge.phases.all())
    filter_form = SubmissionFilterForm(request.GET or None, phases=phases)
    results = []
    if request.method == "POST":
        bulk = BulkActionForm(request.POST)
        if bulk.is_valid():
            try:
                results = services.submissions_bulk_action(
                    challenge=challenge,
                    actor=request.user,
                    action=bulk.cleaned_data["action"],
                    submission_ids=bulk.cleaned_data["ids"],
                    reason=bulk.cleaned_data["reason"],
                )
            except DomainError as exc:
                messages.error(request, exc.message)
            else:
                ok = sum(1 for r in results if r.ok)
                messages.success(
                    request,
                    f"{bulk.cleaned_data['action'].capitalize()}: {ok} of {len(results)} done.",
                )
                for result in results:
                    if not result.ok:
                        messages.warning(
                            request, f"Submission {result.submission_id}: {result.detail}"
                        )
                return redirect(request.get_full_path())
        else:
            for field, problems in bulk.errors.items():
                label = {"ids": "Select submissions", "reason": "Reason"}.get(field, field)
                messages.error(request, f"{label}: {' '.join(problems)}")
    try:
        filters = selectors.SubmissionFilters.parse(request.GET)
    except DomainError as exc:
        messages.error(request, exc.message)
        filters = selectors.SubmissionFilters()
    rows = selectors.console_submissions(challenge=challenge, filters=filters)
    page = DeferredJoinPaginator(rows, 50).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "console/submissions.html",
        {
            **_nav(challenge, "submissions"),
            "filter_form": filter_form or SubmissionFilterForm(phases=phases),
            "page": page,
            "query": query.urlencode(),
            "bulk_form": BulkActionForm(),
            "banned_teams": selectors.banned_team_ids(challenge=challenge),
        },
        status=400 if request.method == "POST" else 200,
    )


@organizer_page
def submission_page(request, challenge, submission_id: int):
    submission = selectors.submission_for_organizer(submission_id=submission_id, user=request.user)
    if submission.phase.challenge_id != challenge.pk:
        raise NotFound("No such submission.")
    columns = track_columns(submission.phase)
    class_names = list(challenge.class_names)
    per_class = list(
        zip(
            class_names,
            per_class_values(submission.scores, columns.per_class_key, len(class_names)),
            strict=True,
        )
    )
    scores = submission.scores or {}
    return render(
        request,
        "console/submission.html",
        {
            **_nav(challenge, "submissions"),
            "submission": submission,
            "columns": columns,
            "primary": scores.get(columns.primary.key),
            "secondary": [(c.label, scores.get(c.key)) for c in columns.secondary],
            "per_class": per_class,
            "events": selectors.submission_audit(submission=submission),
            "bulk_form": BulkActionForm(),
        },
    )


@organizer_page
def teams_page(request, challenge):
    return render(
        request,
        "console/teams.html",
        {
            **_nav(challenge, "teams"),
            "rows": selectors.console_teams(challenge=challenge),
            "bans": selectors.challenge_bans(challenge=challenge),
            "reason_form": ReasonForm(),
        },
    )


@organizer_page
def teams_csv(request, challenge):
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{challenge.slug}-teams.csv"'
    selectors.write_teams_csv(challenge=challenge, out=response)
    return response


@require_POST
@organizer_page
def user_action(request, challenge, user_id: int, verb: str):
    actions = {
        "remove": (services.team_member_remove, "removed from their team"),
        "ban": (services.user_ban, "banned from the challenge"),
        "unban": (services.user_unban, "no longer banned"),
    }
    if verb not in actions:
        raise NotFound("No such action.")
    service, done = actions[verb]
    form = ReasonForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Give a reason: it is kept in the audit trail.")
        return redirect("console-teams", slug=challenge.slug)
    try:
        service(
            challenge=challenge,
            actor=request.user,
            user_id=user_id,
            reason=form.cleaned_data["reason"],
        )
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        name = request.POST.get("username", "The user")[:150]
        messages.success(request, f"{name} {done}.")
    return redirect("console-teams", slug=challenge.slug)


@organizer_page
def announcements_page(request, challenge):
    form = AnnouncementForm(request.POST or None)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                announcement_post(
                    challenge=challenge,
                    actor=request.user,
                    title=form.cleaned_data["title"],
                    body=form.cleaned_data["body"],
                    mail=form.cleaned_data["mail"],
                )
            except DomainError as exc:
                form.add_error(None, exc.message)
            else:
                messages.success(
                    request,
                    "Posted"
                    + (
                        " and being mailed to the participants."
                        if form.cleaned_data["mail"]
                        else "."
                    ),
                )
                return redirect("console-announcements", slug=challenge.slug)
        status = 400
    return render(
        request,
        "console/announcements.html",
        {
            **_nav(challenge, "announcements"),
            "form": form,
            "announcements": announcements_of(challenge=challenge, limit=50),
        },
        status=status,
    )


@require_POST
@organizer_page
def team_approve(request, challenge, team_id: int):
    form = OptionalReasonForm(request.POST)
    reason = form.cleaned_data.get("reason", "") if form.is_valid() else ""
    team = services.team_approve(
        challenge=challenge, actor=request.user, team_id=team_id, reason=reason
    )
    messages.success(request, f"{team.name} is approved: it can upload.")
    return redirect("console-teams", slug=challenge.slug)


@organizer_page
def audit_page(request, challenge):
    return render(
        request,
        "console/audit.html",
        {**_nav(challenge, "audit"), "entries": selectors.audit_entries(challenge=challenge)},
    )
