"""Submission pages: the phase page with its upload form, a team's submissions, one
submission, its live status and the download of the team's own file.

Only members of the submitting team and the challenge's organizers see a submission;
everyone else gets a 404, as if it did not exist.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.core.files.storage import storages
from django.http import FileResponse, Http404, JsonResponse
from django.shortcuts import redirect, render
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.http import content_disposition_header
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from evalserver.challenges.models import Phase
from evalserver.errors import DomainError, FileTooLarge, NotFound, ValidationFailed
from evalserver.pagination import DeferredJoinPaginator
from evalserver.scoring.detection import HEADER as DETECTION_HEADER
from evalserver.teams.selectors import team_for_user
from evalserver.web.forms import SubmissionUploadForm
from evalserver.web.views import phase_state, throttle_wait
from submissions.checks import submission_validate
from submissions.format_help import format_help
from submissions.models import Submission
from submissions.selectors import (
    submission_get_for_user,
    submission_list_for_user,
    submission_team_notices,
    submission_upload_caps,
)
from submissions.services import submission_create, submission_quota, submission_select

# The phase page shows this many of the team's latest submissions; the list page has all.
RECENT_ON_PHASE_PAGE = 10
SUBMISSIONS_PER_PAGE = 50
# Domain errors about the file itself go next to the file field; the rest (closed phase,
# quota, no team) concern the whole form.
_FILE_ERRORS = (FileTooLarge, ValidationFailed)


def _visible_phase(request, phase_id: int) -> Phase:
    # By its key, so unordered: ``.first()`` would add an ORDER BY to compile per request.
    phase = next(
        iter(Phase.objects.select_related("challenge").filter(pk=phase_id).order_by()[:1]), None
    )
    if phase is None:
        raise Http404("No such phase.")
    if not phase.challenge.is_published and not phase.challenge.is_organizer(request.user):
        raise Http404("No such phase.")
    return phase


def _visible_submission(request, submission_id: int) -> Submission:
    """A submission of the viewer's team, or of a challenge the viewer organizes."""
    if not request.user.is_authenticated:
        raise Http404("No such submission.")
    try:
        return submission_get_for_user(user=request.user, submission_id=submission_id)
    except NotFound as exc:
        raise Http404(exc.message) from None


def _max_upload_bytes(phase: Phase) -> int:
    return submission_upload_caps(phase=phase).upload_bytes


def _leaderboard_url(phase: Phase) -> str:
    try:
        return reverse("phase-leaderboard", args=[phase.pk])
    except NoReverseMatch:
        return ""


def _wants_json(request) -> bool:
    return "application/json" in request.headers.get("Accept", "")


def _form_errors(form) -> dict[str, list[str]]:
    return {name: [str(e) for e in errors] for name, errors in form.errors.items()}


def phase_detail(request, phase_id: int):
    """GET: the phase, its rules, the upload form and the team's latest submissions.
    POST: upload a file. Browsers with JavaScript post with ``Accept: application/json``
    and get JSON back (for the progress bar); without it, a redirect or the form again."""
    phase = _visible_phase(request, phase_id)
    if request.method == "POST":
        return _upload(request, phase)
    if request.method not in ("GET", "HEAD"):
        return JsonResponse({"detail": "Method not allowed."}, status=405)
    form = SubmissionUploadForm(max_bytes=_max_upload_bytes(phase), track=phase.track)
    return _render_phase(request, phase, form)


@require_POST
def phase_check(request, phase_id: int):
    """ "Check only": the full validation of the chosen file, nothing stored or counted.

    Browsers with JavaScript get ``{valid, errors, n_items}`` as JSON; without it, the
    phase page again with the result above the form.
    """
    phase = _visible_phase(request, phase_id)
    if not request.user.is_authenticated:
        if _wants_json(request):
            return JsonResponse(
                {"detail": "Log in first.", "errors": {"__all__": ["Log in to check a file."]}},
                status=403,
            )
        return redirect_to_login(reverse("phase-detail", args=[phase.pk]))
    form = SubmissionUploadForm(
        request.POST, request.FILES, max_bytes=_max_upload_bytes(phase), track=phase.track
    )
    status, result = 400, None
    wait = throttle_wait(request, scope="uploads")
    if wait is not None:
        form.add_error(
            None,
            f"You are uploading too fast. Try again in {wait} second{'' if wait == 1 else 's'}.",
        )
        status = 429
    elif "file" not in request.FILES:
        form.add_error("file", "Choose the file to check.")
    else:
        try:
            result = submission_validate(phase=phase, upload=request.FILES["file"])
        except DomainError as exc:
            form.add_error("file" if isinstance(exc, _FILE_ERRORS) else None, exc.message)
            status = exc.status_code
        else:
            status = 200
    if _wants_json(request):
        if result is not None:
            response = JsonResponse(result.as_dict())
        else:
            errors = _form_errors(form)
            detail = " ".join(message for messages in errors.values() for message in messages)
            response = JsonResponse({"detail": detail, "errors": errors}, status=status)
    else:
        if result is not None:
            form = SubmissionUploadForm(max_bytes=_max_upload_bytes(phase), track=phase.track)
        response = _render_phase(request, phase, form, status=status, check_result=result)
    if wait is not None:
        response["Retry-After"] = str(wait)
    return response


def _render_phase(request, phase: Phase, form, *, status: int = 200, check_result=None):
    team = team_for_user(user=request.user, challenge=phase.challenge)
    recent = []
    quota = None
    if team is not None:
        # An organizer's list holds every team's: this box is about the viewer's own team.
        recent = list(
            submission_list_for_user(user=request.user, phase=phase).filter(team=team)[
                : RECENT_ON_PHASE_PAGE + 1
            ]
        )
        quota = submission_quota(team=team, phase=phase)
    return render(
        request,
        "web/phase_detail.html",
        {
            "phase": phase,
            "challenge": phase.challenge,
            "state": phase_state(phase, timezone.now()),
            "team": team,
            "form": form,
            "quota": quota,
            "recent": recent[:RECENT_ON_PHASE_PAGE],
            "more": len(recent) > RECENT_ON_PHASE_PAGE,
            "caps": submission_upload_caps(phase=phase),
            "detection_header": DETECTION_HEADER,
            "leaderboard_url": _leaderboard_url(phase),
            "check_result": check_result,
            **format_help(phase=phase, user=request.user),
        },
        status=status,
    )


def _upload(request, phase: Phase):
    if not request.user.is_authenticated:
        if _wants_json(request):
            return JsonResponse(
                {"detail": "Log in first.", "errors": {"__all__": ["Log in to submit."]}},
                status=403,
            )
        return redirect_to_login(request.get_full_path())
    form = SubmissionUploadForm(
        request.POST, request.FILES, max_bytes=_max_upload_bytes(phase), track=phase.track
    )
    status = 400
    # The API's uploads throttle (EVALSERVER_THROTTLE_UPLOADS), one counter for both doors.
    wait = throttle_wait(request, scope="uploads")
    if wait is not None:
        form.add_error(
            None,
            f"You are uploading too fast. Try again in {wait} second{'' if wait == 1 else 's'}.",
        )
        status = 429
    elif form.is_valid():
        try:
            submission = submission_create(
                user=request.user,
                phase=phase,
                upload=form.cleaned_data["file"],
                method_name=form.cleaned_data["method_name"],
                description=form.cleaned_data["description"],
            )
        except DomainError as exc:
            form.add_error("file" if isinstance(exc, _FILE_ERRORS) else None, exc.message)
            status = exc.status_code
        else:
            url = reverse("submission-detail", args=[submission.pk])
            if _wants_json(request):
                return JsonResponse(
                    {"id": submission.pk, "status": submission.status, "url": url}, status=201
                )
            return redirect(url)
    if _wants_json(request):
        errors = _form_errors(form)
        detail = " ".join(message for messages in errors.values() for message in messages)
        response = JsonResponse({"detail": detail, "errors": errors}, status=status)
    else:
        response = _render_phase(request, phase, form, status=status)
    if wait is not None:
        response["Retry-After"] = str(wait)
    return response


def submission_list(request, phase_id: int):
    phase = _visible_phase(request, phase_id)
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    team = team_for_user(user=request.user, challenge=phase.challenge)
    is_organizer = phase.challenge.is_organizer(request.user)
    # Paginated: an organizer's list of a crowded phase runs to tens of thousands.
    # The rows show no scores, errors or description: they stay in the database.
    submissions = submission_list_for_user(user=request.user, phase=phase).defer(
        "scores", "errors", "description"
    )
    page = DeferredJoinPaginator(submissions, SUBMISSIONS_PER_PAGE).get_page(
        request.GET.get("page")
    )
    return render(
        request,
        "web/submission_list.html",
        {
            "phase": phase,
            "challenge": phase.challenge,
            "team": team,
            "submissions": page.object_list,
            "page_obj": page,
            "is_organizer": is_organizer,
            "selection": _selection(phase, team) if team is not None and not is_organizer else None,
        },
    )


def _selection(phase: Phase, team) -> dict | None:
    """What the team's list needs to show and change its final submissions (issue 13)."""
    from leaderboard.final import team_final_submission_ids

    if phase.max_final_submissions is None or not phase.labels_split:
        return None
    return {
        "limit": phase.max_final_submissions,
        "final_ids": team_final_submission_ids(phase=phase, team_id=team.pk),
        "open": timezone.now() < phase.ends_at,
    }


@login_required
@require_POST
def submission_select_view(request, submission_id: int):
    """The toggle of the team's submission list: mark or unmark a final submission."""
    submission = _visible_submission(request, submission_id)
    selected = request.POST.get("selected") == "1"
    try:
        submission_select(user=request.user, submission=submission, selected=selected)
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(
            request,
            f"Submission {submission.pk} is {'now' if selected else 'no longer'} "
            "one of your final submissions.",
        )
    return redirect("submission-list", phase_id=submission.phase_id)


def submission_detail(request, submission_id: int):
    submission = _visible_submission(request, submission_id)
    phase = submission.phase
    class_names = list(phase.challenge.class_names)
    per_class = (submission.scores or {}).get("per_class") or []
    for row in per_class:
        if row.get("name") is None and isinstance(row.get("class_id"), int):
            row["name"] = class_names[row["class_id"]] if row["class_id"] < len(class_names) else ""
    return render(
        request,
        "web/submission_detail.html",
        {
            "submission": submission,
            "phase": phase,
            "challenge": phase.challenge,
            "per_class": per_class,
            "is_detection": phase.track == Phase.Track.DETECTION,
            "leaderboard_url": _leaderboard_url(phase),
            # What the organizers did to it and why (a disqualification's reason, ...).
            "notices": submission_team_notices(submission=submission),
        },
    )


@never_cache
@require_GET
def submission_status(request, submission_id: int):
    """What the pages poll while scoring runs: a few fields, a handful of queries."""
    submission = _visible_submission(request, submission_id)
    return JsonResponse(
        {
            "id": submission.pk,
            "status": submission.status,
            "status_label": submission.get_status_display(),
            "primary_score": submission.primary_score,
            "is_done": submission.is_done,
        }
    )


@never_cache
@require_GET
def submission_file(request, submission_id: int):
    """The team's own file, streamed from storage: uploads never have a public URL."""
    submission = _visible_submission(request, submission_id)
    if not submission.file.name:
        raise Http404("This submission has no file.")
    storage = storages["default"]
    expiry = settings.EVALSERVER_S3_URL_EXPIRY
    if expiry and hasattr(storage, "bucket_name"):
        # S3 with EVALSERVER_S3_URL_EXPIRY: a presigned link valid that many seconds, so
        # the bytes go from the bucket to the team and not through a web process.
        filename = submission.original_filename or f"submission-{submission.pk}"
        url = storage.url(
            submission.file.name,
            parameters={
                "ResponseContentDisposition": content_disposition_header(True, filename),
                "ResponseContentType": "application/octet-stream",
            },
            expire=expiry,
        )
        return redirect(url)
    try:
        handle = storage.open(submission.file.name, "rb")
    except FileNotFoundError:
        raise Http404("The file is no longer stored.") from None
    return FileResponse(
        handle,
        as_attachment=True,
        filename=submission.original_filename or f"submission-{submission.pk}",
        content_type="application/octet-stream",
    )
