"""Throttled logins (django-axes): repeated failures for a username or from an address are
answered 429 with `Retry-After` for a growing interval, on `/auth/login` and the admin login
alike; the lockout shows in the admin and is cleared there."""

import pytest
from django.test import Client

PASSWORD = "correct horse battery staple"
LIMIT = 3


@pytest.fixture
def alice(db, django_user_model, settings):
    settings.AXES_FAILURE_LIMIT = LIMIT
    return django_user_model.objects.create_user("alice", password=PASSWORD)


def api_login(username="alice", password="wrong", address="10.1.1.1"):
    return Client(REMOTE_ADDR=address).post(
        "/auth/login", {"username": username, "password": password}, "application/json"
    )


def test_repeated_failures_for_a_username_are_429_with_a_growing_retry_after(alice):
    for _ in range(LIMIT - 1):
        assert api_login().status_code == 401
    locked = api_login()
    assert locked.status_code == 429
    first_wait = int(locked["Retry-After"])
    assert first_wait >= 1 and locked.json()["retry_after"] == first_wait
    assert "Too many failed logins" in locked.json()["error"]
    # The right password is refused too while locked, from any address.
    right = api_login(password=PASSWORD, address="10.9.9.9")
    assert right.status_code == 429
    assert int(api_login()["Retry-After"]) > first_wait


def test_repeated_failures_from_an_address_lock_every_username_from_it(alice):
    for name in ("u1", "u2", "u3"):
        api_login(username=name, address="10.2.2.2")
    assert api_login(password=PASSWORD, address="10.2.2.2").status_code == 429
    assert api_login(password=PASSWORD, address="10.3.3.3").status_code == 200


def test_the_admin_login_is_throttled_too(alice):
    client = Client(REMOTE_ADDR="10.4.4.4")
    replies = [
        client.post("/admin/login/", {"username": "alice", "password": "wrong"})
        for _ in range(LIMIT)
    ]
    assert [r.status_code for r in replies[:-1]] == [200] * (LIMIT - 1)  # the form again
    assert replies[-1].status_code == 429 and int(replies[-1]["Retry-After"]) >= 1


def test_the_lockout_shows_in_the_admin_and_clearing_it_there_lets_the_user_in(alice, admin_user):
    for _ in range(LIMIT):
        api_login()
    assert api_login(password=PASSWORD).status_code == 429
    staff = Client()
    staff.force_login(admin_user)
    listing = staff.get("/admin/axes/accessattempt/")
    assert listing.status_code == 200 and "alice" in listing.content.decode()
    from axes.models import AccessAttempt

    ids = [str(pk) for pk in AccessAttempt.objects.values_list("pk", flat=True)]
    cleared = staff.post(
        "/admin/axes/accessattempt/",
        {"action": "delete_selected", "_selected_action": ids, "post": "yes"},
    )
    assert cleared.status_code == 302
    assert not AccessAttempt.objects.exists()
    assert api_login(password=PASSWORD).status_code == 200
