"""Factories for the models; tests name only the fields they care about."""

import datetime as dt

import factory
from django.utils import timezone

from evalserver.accounts.models import User
from evalserver.challenges.models import Challenge, Phase
from evalserver.teams.models import Membership, Team
from submissions.models import Submission


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.org")
    password = factory.PostGenerationMethodCall("set_password", "correct horse battery")

    @factory.post_generation
    def _save_password(obj, create, extracted, **kwargs):
        if create:
            obj.save(update_fields=["password"])


class ChallengeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Challenge
        django_get_or_create = ("slug",)

    slug = factory.Sequence(lambda n: f"challenge-{n}")
    title = factory.LazyAttribute(lambda c: c.slug.replace("-", " ").title())
    description = "A test challenge."


class PhaseFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Phase

    challenge = factory.SubFactory(ChallengeFactory)
    slug = factory.Sequence(lambda n: f"phase-{n}")
    name = factory.LazyAttribute(lambda p: p.slug.title())
    track = Phase.Track.CLASSIFICATION
    starts_at = factory.LazyFunction(lambda: timezone.now() - dt.timedelta(days=10))
    ends_at = factory.LazyFunction(lambda: timezone.now() + dt.timedelta(days=10))
    is_open = True


class TeamFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Team

    challenge = factory.SubFactory(ChallengeFactory)
    name = factory.Sequence(lambda n: f"Team {n}")


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    team = factory.SubFactory(TeamFactory)
    user = factory.SubFactory(UserFactory)
    challenge = factory.LazyAttribute(lambda m: m.team.challenge)
    role = Membership.Role.MEMBER


class SubmissionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Submission

    phase = factory.SubFactory(PhaseFactory)
    team = factory.SubFactory(TeamFactory, challenge=factory.SelfAttribute("..phase.challenge"))
    submitted_by = factory.SubFactory(UserFactory)
    file = factory.django.FileField(filename="answer.txt", data=b"")
    original_filename = "answer.txt"
    status = Submission.Status.QUEUED
