import pytest


@pytest.fixture
def signed_in(client, django_user_model):
    """A test client signed in as alice, a user who is not staff."""
    user = django_user_model.objects.create_user("alice", password="pw")
    client.force_login(user)
    return client
