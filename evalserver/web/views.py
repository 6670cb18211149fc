"""The browser pages: thin views over the services and selectors of each app.

Views turn a request into service arguments and a domain error into a message next to
the field (or at the top of the page); they hold no rules of their own.
"""

from __future__ import annotations

import datetime as dt
import math

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.db.models import Count, Max, Min, Q
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST
from rest_framework.authtoken.models import Token
from rest_framework.throttling import ScopedRateThrottle

from evalserver.accounts.models import User
from evalserver.accounts.services import (
    AccountInvalid,
    token_get_or_create,
    token_revoke,
    token_rotate,
    user_create,
)
from evalserver.challenges.downloads import downloads_for_page
from evalserver.challenges.models import Challenge, Phase
from evalserver.challenges.selectors import phase_has_labels
from evalserver.errors import DomainError
from evalserver.teams.models import Team
from evalserver.teams.selectors import team_for_user, team_members
from evalserver.teams.services import (
    team_create,
    team_join,
    team_leave,
    team_regenerate_invite,
    team_remove_member,
)
from evalserver.web.forms import SignUpForm, TeamCreateForm, TeamJoinForm
from submissions.models import Submission

# The dashboard raises the alarm when work has waited this long with no worker activity.
QUEUE_STUCK_AFTER = dt.timedelta(minutes=5)
WORKER_QUIET_AFTER = dt.timedelta(minutes=10)


def phase_state(phase: Phase, now: dt.datetime) -> str:
    """open, waiting, upcoming or closed: the word the pages show next to a phase.

    waiting: open by its switch and dates, but without hidden labels, so uploads are
    refused (the API's ``is_open`` still says open: CONTRACT defines it by switch and dates).
    """
    if phase.is_open_at(now):
        return "open" if phase_has_labels(phase=phase) else "waiting"
    if phase.is_open and now < phase.starts_at:
        return "upcoming"
    return "closed"


def _published_challenge(slug: str) -> Challenge:
    return get_object_or_404(Challenge, slug=slug, is_published=True)


def challenge_list(request):
    now = timezone.now()
    challenges = list(Challenge.objects.filter(is_published=True).prefetch_related("phases"))
    for challenge in challenges:
        challenge.phase_rows = [(p, phase_state(p, now)) for p in challenge.phases.all()]
    return render(request, "web/challenge_list.html", {"challenges": challenges})


def challenge_detail(request, slug: str):
    challenge = _published_challenge(slug)
    now = timezone.now()
    phases = list(challenge.phases.all())
    rows = []
    for phase in phases:
        try:
            leaderboard_url = reverse("phase-leaderboard", args=[phase.pk])
        except NoReverseMatch:
            leaderboard_url = ""
        rows.append(
            {
                "phase": phase,
                "state": phase_state(phase, now),
                "leaderboard_url": leaderboard_url,
                "downloads": downloads_for_page(
                    challenge=challenge, phase=phase, user=request.user
                ),
            }
        )
    return render(
        request,
        "web/challenge_detail.html",
        {
            "challenge": challenge,
            "downloads": downloads_for_page(challenge=challenge, phase=None, user=request.user),
            "rows": rows,
            "team": team_for_user(user=request.user, challenge=challenge),
            "is_organizer": challenge.is_organizer(request.user),
        },
    )


# --- Teams ----------------------------------------------------------------------------------

# Where a refused join leaves its message for the team page it redirects to.
_JOIN_PROBLEM = "team_join_problem"


@login_required
def team_page(request, slug: str):
    challenge = _published_challenge(slug)
    team = team_for_user(user=request.user, challenge=challenge)
    context = {"challenge": challenge, "team": team}
    if team is None:
        context["create_form"] = TeamCreateForm(prefix="create")
        context["join_form"] = TeamJoinForm(
            prefix="join", initial={"invite_code": request.GET.get("code", "")}
        )
        problem = request.session.pop(_JOIN_PROBLEM, None)
        if problem:
            # Bound to the code as typed, so the problem shows next to it.
            form = TeamJoinForm({"join-invite_code": request.GET.get("code", "")}, prefix="join")
            form.is_valid()
            form.add_error("invite_code", problem)
            context["join_form"] = form
    else:
        context["members"] = list(team_members(team=team))
        context["is_owner"] = any(
            m.user_id == request.user.pk and m.role == m.Role.OWNER for m in context["members"]
        )
        context["join_url"] = request.build_absolute_uri(
            reverse("team-page", args=[challenge.slug]) + f"?code={team.invite_code}"
        )
    return render(request, "web/team.html", context)


def _team_forms_with_errors(request, challenge, *, create_form=None, join_form=None):
    return render(
        request,
        "web/team.html",
        {
            "challenge": challenge,
            "team": None,
            "create_form": create_form or TeamCreateForm(prefix="create"),
            "join_form": join_form or TeamJoinForm(prefix="join"),
        },
        status=400,
    )


@login_required
@require_POST
def team_create_view(request, slug: str):
    challenge = _published_challenge(slug)
    form = TeamCreateForm(request.POST, prefix="create")
    if form.is_valid():
        try:
            team = team_create(
                user=request.user, challenge=challenge, name=form.cleaned_data["name"]
            )
        except DomainError as exc:
            form.add_error("name", exc.message)
        else:
            messages.success(request, f"Team {team.name} created. Share its invite code below.")
            return redirect("team-page", slug=challenge.slug)
    return _team_forms_with_errors(request, challenge, create_form=form)


@login_required
@require_POST
def team_join_view(request, slug: str):
    challenge = _published_challenge(slug)
    form = TeamJoinForm(request.POST, prefix="join")
    if form.is_valid():
        code = form.cleaned_data["invite_code"].strip()
        # The code is the secret that names the team; team_join checks it again.
        team = Team.objects.filter(challenge=challenge, invite_code=code).first()
        if team is None:
            problem = "The invite code is not valid for this challenge."
        else:
            try:
                team_join(user=request.user, team=team, invite_code=code)
            except DomainError as exc:
                problem = exc.message
            else:
                messages.success(request, f"You joined {team.name}.")
                return redirect("team-page", slug=challenge.slug)
        # Back to the team page (a GET), so a reload does not post the code again; the
        # problem is shown next to the field there, with the code as typed.
        request.session[_JOIN_PROBLEM] = problem
        return redirect(
            reverse("team-page", args=[challenge.slug]) + "?" + urlencode({"code": code})
        )
    return _team_forms_with_errors(request, challenge, join_form=form)


def _my_team_or_404(request, challenge: Challenge) -> Team:
    team = team_for_user(user=request.user, challenge=challenge)
    if team is None:
        raise Http404("You are not in a team for this challenge.")
    return team


@login_required
@require_POST
def team_leave_view(request, slug: str):
    challenge = _published_challenge(slug)
    team = _my_team_or_404(request, challenge)
    try:
        team_leave(user=request.user, team=team)
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"You left {team.name}.")
    return redirect("team-page", slug=challenge.slug)


@login_required
@require_POST
def team_remove_member_view(request, slug: str, user_id: int):
    challenge = _published_challenge(slug)
    team = _my_team_or_404(request, challenge)
    member = User.objects.filter(pk=user_id).first()
    if member is None:
        raise Http404("No such member.")
    try:
        team_remove_member(actor=request.user, team=team, user=member)
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"{member.get_username()} is no longer in {team.name}.")
    return redirect("team-page", slug=challenge.slug)


@login_required
@require_POST
def team_regenerate_invite_view(request, slug: str):
    challenge = _published_challenge(slug)
    team = _my_team_or_404(request, challenge)
    try:
        team_regenerate_invite(actor=request.user, team=team)
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, "New invite code made; the old one no longer works.")
    return redirect("team-page", slug=challenge.slug)


# --- Accounts -------------------------------------------------------------------------------


def _safe_next(request) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return reverse(settings.LOGIN_REDIRECT_URL)


class _Scope:
    def __init__(self, scope: str):
        self.throttle_scope = scope


def throttle_wait(request, *, scope: str) -> int | None:
    """Seconds before this request's user (or address) may do ``scope`` again, or None if
    it may now; a None also counts this request.

    The API's scoped throttle itself (same rate, from DEFAULT_THROTTLE_RATES, and same cache
    counter): a page that calls this and the API endpoint with that ``throttle_scope`` count
    together.
    """
    throttle = ScopedRateThrottle()
    if throttle.allow_request(request, _Scope(scope)):
        return None
    return max(1, math.ceil(throttle.wait() or 0))


def _sign_up_wait(request) -> int | None:
    # The API's register throttle (EVALSERVER_THROTTLE_REGISTER), per address.
    return throttle_wait(request, scope="register")


def signup(request):
    if request.user.is_authenticated:
        return redirect(settings.LOGIN_REDIRECT_URL)
    form = SignUpForm(request.POST or None)
    context = {"form": form, "next": request.POST.get("next") or request.GET.get("next", "")}
    wait = _sign_up_wait(request) if request.method == "POST" else None
    if wait is not None:
        minutes = math.ceil(wait / 60)
        form.add_error(
            None,
            "Too many sign-up attempts from your address. "
            f"Try again in {minutes} minute{'' if minutes == 1 else 's'}.",
        )
        response = render(request, "registration/signup.html", context, status=429)
        response["Retry-After"] = str(wait)
        return response
    if request.method == "POST" and form.is_valid():
        try:
            user = user_create(
                username=form.cleaned_data["username"],
                email=form.cleaned_data["email"],
                password=form.cleaned_data["password1"],
            )
        except AccountInvalid as exc:
            for field, problems in exc.field_errors.items():
                target = "password1" if field == "password" else field
                for problem in problems:
                    form.add_error(target if target in form.fields else None, problem)
        else:
            login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            messages.success(request, f"Welcome, {user.get_username()}. Pick a challenge to join.")
            return redirect(_safe_next(request))
    return render(request, "registration/signup.html", context, status=400 if form.errors else 200)


@never_cache
@login_required
def api_token(request):
    if request.method == "POST":
        action = request.POST.get("action")
        if action == "rotate":
            token_rotate(user=request.user)
            messages.success(request, "New API token made; the old one no longer works.")
        elif action == "revoke":
            token_revoke(user=request.user)
            messages.success(request, "API token revoked.")
        elif action == "create":
            token_get_or_create(user=request.user)
            messages.success(request, "API token made.")
        return redirect("api-token")
    token = Token.objects.filter(user=request.user).first()
    return render(request, "web/api_token.html", {"token": token})


# --- Organizer dashboard --------------------------------------------------------------------


def _admin_url(name: str, *args, query: str = "") -> str:
    try:
        url = reverse(f"admin:{name}", args=args)
    except NoReverseMatch:
        return ""
    return f"{url}?{query}" if query else url


@never_cache
@login_required
def challenge_dashboard(request, slug: str):
    challenge = get_object_or_404(Challenge, slug=slug)
    if not challenge.is_organizer(request.user):
        # Participants do not learn that the page exists.
        raise Http404("No such page.")
    now = timezone.now()
    hour_ago = now - dt.timedelta(hours=1)
    status = Submission.Status
    counts = {
        row["phase_id"]: row
        for row in Submission.objects.filter(phase__challenge=challenge)
        .values("phase_id")
        .annotate(
            queued=Count("id", filter=Q(status=status.QUEUED)),
            running=Count("id", filter=Q(status=status.RUNNING)),
            finished=Count("id", filter=Q(status=status.FINISHED)),
            failed=Count("id", filter=Q(status=status.FAILED)),
            cancelled=Count("id", filter=Q(status=status.CANCELLED)),
            failed_last_hour=Count("id", filter=Q(status=status.FAILED, finished_at__gte=hour_ago)),
            oldest_queued=Min("created_at", filter=Q(status=status.QUEUED)),
            oldest_running=Min("started_at", filter=Q(status=status.RUNNING)),
        )
        .order_by()
    }
    # Workers serve every challenge, so their last sign of life is read across all of them:
    # a worker "answered" when it claimed (started_at) or completed (finished_at) a submission.
    activity = Submission.objects.aggregate(
        last_started=Max("started_at"), last_finished=Max("finished_at")
    )
    moments = [m for m in activity.values() if m is not None]
    last_activity = max(moments) if moments else None
    running_limit = dt.timedelta(seconds=settings.EVALSERVER_SCORING_TIME_LIMIT)

    phases = []
    for phase in challenge.phases.all():
        row = counts.get(phase.pk, {})
        oldest_queued = row.get("oldest_queued")
        oldest_running = row.get("oldest_running")
        queue_age = now - oldest_queued if oldest_queued else None
        stuck = bool(
            queue_age
            and queue_age > QUEUE_STUCK_AFTER
            and (last_activity is None or last_activity < oldest_queued)
        )
        phase_filter = f"phase__id__exact={phase.pk}"
        phases.append(
            {
                "phase": phase,
                "state": phase_state(phase, now),
                "counts": {s: row.get(s, 0) for s in status.values},
                "failed_last_hour": row.get("failed_last_hour", 0),
                "queue_age": queue_age,
                "oldest_queued": oldest_queued,
                "queue_stuck": stuck,
                "running_too_long": bool(oldest_running and now - oldest_running > running_limit),
                "admin_phase_url": _admin_url("challenges_phase_change", phase.pk),
                "admin_links": {
                    s: _admin_url(
                        "submissions_submission_changelist",
                        query=f"{phase_filter}&status__exact={s}",
                    )
                    for s in status.values
                },
                "admin_failed_url": _admin_url(
                    "submissions_submission_changelist",
                    query=f"{phase_filter}&status__exact=failed",
                ),
            }
        )
    worker_quiet = last_activity is None or now - last_activity > WORKER_QUIET_AFTER
    return render(
        request,
        "web/dashboard.html",
        {
            "challenge": challenge,
            "phases": phases,
            "now": now,
            "last_activity": last_activity,
            "worker_quiet": worker_quiet,
            "any_waiting": any(p["counts"]["queued"] for p in phases),
            "inprocess": settings.EVALSERVER_INPROCESS_TASKS,
            "status_choices": status.choices,
            "admin_challenge_url": _admin_url("challenges_challenge_change", challenge.pk),
        },
    )
