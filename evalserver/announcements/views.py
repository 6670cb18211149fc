"""The account page's challenge-mail switch."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render

from evalserver.announcements import selectors, services


@login_required
def mail_preferences(request):
    if request.method == "POST":
        opted_out = request.POST.get("challenge_mail") != "on"
        services.mail_opt_out_set(user=request.user, opted_out=opted_out)
        messages.success(
            request,
            "You will get no more challenge mail."
            if opted_out
            else "You will get the organizers' announcements by mail.",
        )
        return redirect("account-mail")
    return render(
        request,
        "announcements/mail_preferences.html",
        {"opted_out": selectors.mail_opted_out(user=request.user)},
    )
