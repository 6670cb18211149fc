"""The account page's email confirmation (challenges limited to email domains ask for it)."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render

from evalserver.challenges.registration import (
    confirmation_accept,
    confirmation_send,
    email_is_confirmed,
)
from evalserver.errors import DomainError


@login_required
def confirm_email(request):
    if request.method == "POST":
        try:
            confirmation_send(user=request.user, base_url=request.build_absolute_uri("/")[:-1])
        except DomainError as exc:
            messages.error(request, exc.message)
        except OSError:
            # The mail server is down: say so rather than pretend the link is on its way.
            messages.error(request, "The mail server did not answer; try again in a while.")
        else:
            messages.success(request, f"We mailed a confirmation link to {request.user.email}.")
        return redirect("confirm-email")
    return render(
        request,
        "web/confirm_email.html",
        {"confirmed": email_is_confirmed(user=request.user)},
    )


@login_required
def confirm_email_token(request, token: str):
    try:
        confirmation_accept(user=request.user, token=token)
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"Confirmed: {request.user.email} is your address.")
    return redirect("confirm-email")
