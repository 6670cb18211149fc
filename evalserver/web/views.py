from django.shortcuts import render

from evalserver.challenges.models import Challenge


def challenge_list(request):
    challenges = Challenge.objects.filter(is_published=True).prefetch_related("phases")
    return render(request, "web/challenge_list.html", {"challenges": challenges})
