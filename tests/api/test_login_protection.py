"""Login protection (README "Login protection"): the same rules on the web login, the admin
login and POST /api/v1/auth/token/.

Issue 11 item 1: a success from an address used to clear every failure from it, so 4 wrong
guesses at another account plus 1 correct login of one's own, repeated, were never refused;
and five failures with the organizer's username locked the organizer out from everywhere.
"""

import pytest
from axes.models import AccessAttempt
from django.test import Client

pytestmark = pytest.mark.django_db

GOOD_PASSWORD = "correct horse battery"
ATTACKER = "203.0.113.66"


class Door:
    """One login form: ``attempt`` answers "ok", "wrong" or "locked" (with its response)."""

    def __init__(self, name, path, ok_status):
        self.name, self.path, self.ok_status = name, path, ok_status

    def attempt(self, username, password, ip):
        client = Client(REMOTE_ADDR=ip)
        if self.name == "api":
            response = client.post(
                self.path,
                {"username": username, "password": password},
                content_type="application/json",
            )
        else:
            response = client.post(self.path, {"username": username, "password": password})
        if response.status_code == 429:
            return "locked", response
        if response.status_code == self.ok_status and (
            self.name == "api" or "_auth_user_id" in client.session
        ):
            return "ok", response
        return "wrong", response


DOORS = [
    Door("api", "/api/v1/auth/token/", 200),
    Door("web", "/accounts/login/", 302),
    Door("admin", "/admin/login/", 302),
]


@pytest.fixture(params=DOORS, ids=lambda door: door.name)
def door(request):
    return request.param


@pytest.fixture
def staff(alice, bob):
    # The admin login admits staff only; make both accounts able to use every door.
    for user in (alice, bob):
        user.is_staff = True
        user.save(update_fields=["is_staff"])
    return alice, bob


def test_the_issue_attack_is_refused_at_the_fifth_guess(door, staff, settings):
    """4 wrong passwords for bob, 1 correct login as alice, repeated from one address."""
    guesses = 0
    first_refusal = None
    for _ in range(6):
        for _ in range(4):
            guesses += 1
            outcome, response = door.attempt("bob", "wrong guess", ATTACKER)
            if outcome == "locked" and first_refusal is None:
                first_refusal = guesses
            if outcome == "locked":
                assert int(response["Retry-After"]) > 0
        assert door.attempt("alice", GOOD_PASSWORD, ATTACKER)[0] == "ok"
    # The 5th wrong guess locks bob from this address; every later guess is refused.
    assert first_refusal == settings.AXES_FAILURE_LIMIT
    assert door.attempt("bob", GOOD_PASSWORD, ATTACKER)[0] == "locked"
    # Bob himself, from his own address, is not affected.
    assert door.attempt("bob", GOOD_PASSWORD, "198.51.100.7")[0] == "ok"


def test_a_success_clears_only_its_own_accounts_failures(staff):
    api = DOORS[0]
    for _ in range(3):
        api.attempt("bob", "wrong", ATTACKER)
        api.attempt("alice", "wrong", ATTACKER)
    assert api.attempt("alice", GOOD_PASSWORD, ATTACKER)[0] == "ok"
    left = AccessAttempt.objects.filter(ip_address=ATTACKER)
    assert {(row.username, row.failures_since_start) for row in left} == {("bob", 3)}


def test_nobody_can_lock_the_organizer_out_of_their_own_address(door, staff, settings):
    # alice plays the organizer.
    home = "198.51.100.10"
    assert door.attempt("alice", GOOD_PASSWORD, home)[0] == "ok"  # a known address
    # Failures with the organizer's name from thirty addresses, six each.
    for n in range(30):
        for _ in range(6):
            door.attempt("alice", "wrong", f"192.0.2.{n + 1}")
    # Past ten failures the account is slowed for addresses it never logged in from (the
    # later attempts were refused unrecorded), but the organizer's own address lets them in.
    failures = sum(row.failures_since_start for row in AccessAttempt.objects.all())
    assert failures == settings.EVALSERVER_LOGIN_ACCOUNT_SLOWDOWN_AFTER
    assert door.attempt("alice", GOOD_PASSWORD, "192.0.2.250")[0] == "locked"
    assert door.attempt("alice", GOOD_PASSWORD, home)[0] == "ok"


def test_guessing_one_account_from_many_addresses_is_slowed_not_locked(
    door, staff, settings, time_machine
):
    time_machine.move_to("2026-03-01T12:00:00Z", tick=False)
    slow_after = settings.EVALSERVER_LOGIN_ACCOUNT_SLOWDOWN_AFTER
    interval = settings.EVALSERVER_LOGIN_ACCOUNT_INTERVAL
    for n in range(slow_after):
        assert door.attempt("bob", "wrong", f"192.0.2.{n + 1}")[0] == "wrong"
    # A fresh address now waits for the account's next slot...
    outcome, response = door.attempt("bob", "wrong", "192.0.2.200")
    assert outcome == "locked"
    assert 0 < int(response["Retry-After"]) <= interval
    # ...and the refusal did not push the slot back.
    time_machine.move_to(f"2026-03-01T12:00:{interval:02d}Z", tick=False)
    assert door.attempt("bob", "wrong", "192.0.2.201")[0] == "wrong"
    assert door.attempt("bob", "wrong", "192.0.2.202")[0] == "locked"
    time_machine.move_to(f"2026-03-01T12:01:{interval:02d}Z", tick=False)
    assert door.attempt("bob", GOOD_PASSWORD, "192.0.2.203")[0] == "ok"


def test_spraying_many_accounts_from_one_address_locks_that_address(staff, settings):
    api = DOORS[0]
    assert api.attempt("alice", GOOD_PASSWORD, ATTACKER)[0] == "ok"
    limit = settings.EVALSERVER_LOGIN_ADDRESS_FAILURE_LIMIT
    for n in range(limit):
        # Under the per-account limit for each name, over the address's limit in all.
        api.attempt(f"guess{n % 10}", "wrong", ATTACKER)
    outcome, response = api.attempt("bob", GOOD_PASSWORD, ATTACKER)
    assert outcome == "locked"
    assert "Too many failed logins" in response.json()["detail"]
    assert response.json()["code"] == "login_locked"
    # An account that logged in from this address before still can; bob can elsewhere.
    assert api.attempt("alice", GOOD_PASSWORD, ATTACKER)[0] == "ok"
    assert api.attempt("bob", GOOD_PASSWORD, "198.51.100.7")[0] == "ok"


def test_hammering_a_lock_does_not_extend_it(staff, settings, time_machine):
    api = DOORS[0]
    time_machine.move_to("2026-03-01T12:00:00Z", tick=False)
    for _ in range(settings.AXES_FAILURE_LIMIT):
        api.attempt("bob", "wrong", ATTACKER)
    time_machine.move_to("2026-03-01T12:10:00Z", tick=False)
    outcome, response = api.attempt("bob", "wrong", ATTACKER)
    assert outcome == "locked"
    assert 299 <= int(response["Retry-After"]) <= 300
    assert "5 minutes" in response.json()["detail"]
    time_machine.move_to("2026-03-01T12:15:01Z", tick=False)
    assert api.attempt("bob", GOOD_PASSWORD, ATTACKER)[0] == "ok"


def test_the_browser_gets_a_429_page_with_the_wait(staff, settings):
    web = DOORS[1]
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert web.attempt("bob", "wrong", ATTACKER)[0] == "wrong"
    outcome, response = web.attempt("bob", "wrong", ATTACKER)
    assert outcome == "locked"
    assert "Try again in 15 minutes" in response.content.decode()
    assert response["Retry-After"] == "900"
