"""The admin: upload a legacy file, see the same plan, apply it; the run history is read-only."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from apps.migration.models import MigrationRun, RunStatus
from apps.routing.models import RuntimeSettings
from tests.conftest import ADMIN_PASSWORD
from tests.migration.conftest import sample, snapshot

pytestmark = pytest.mark.django_db

IMPORT_URL = "/admin/migration/migrationrun/import/"


@pytest.fixture
def admin_client(client, admin_user):
    client.login(username="admin", password=ADMIN_PASSWORD)
    return client


def upload(admin_client, name: str):
    file = SimpleUploadedFile(name, sample(name).encode(), content_type="application/x-yaml")
    return admin_client.post(IMPORT_URL, {"file": file})


def test_upload_shows_the_plan_and_writes_nothing(tools, admin_client):
    before = snapshot()
    response = upload(admin_client, "target.yaml")
    assert response.status_code == 200
    page = response.content.decode()
    assert "default_runtime: trio" in page
    assert "runtime.prefer_trio (line 19)" in page
    assert 'name="apply"' in page
    assert snapshot() == before


def test_apply_button_applies_the_previewed_file(tools, admin_client):
    upload(admin_client, "target.yaml")
    previewed = MigrationRun.objects.get(status=RunStatus.DRY_RUN)

    response = admin_client.post(IMPORT_URL, {"apply": "1", "run": previewed.pk}, follow=True)

    assert response.status_code == 200
    assert RuntimeSettings.objects.get(pk=1).default_runtime == "trio"
    applied = MigrationRun.objects.get(status=RunStatus.APPLIED)
    assert applied.actor.username == "admin" and applied.via == "admin"
    assert "Applied" in response.content.decode()


def test_an_invalid_upload_shows_the_key_path_and_line(tools, admin_client):
    file = SimpleUploadedFile("bad.yaml", b"p2p:\n  listen_port: 99999\n")
    response = admin_client.post(IMPORT_URL, {"file": file})
    assert response.status_code == 200
    assert "p2p.listen_port (line 2): expected a port number" in response.content.decode()
    assert 'name="apply"' not in response.content.decode()


def test_run_history_is_listed_and_read_only(tools, admin_client):
    upload(admin_client, "intermediate.yaml")
    run = MigrationRun.objects.get()
    listing = admin_client.get(reverse("admin:migration_migrationrun_changelist"))
    assert listing.status_code == 200
    assert "intermediate.yaml" in listing.content.decode()
    assert "Import a legacy config" in listing.content.decode()
    detail = admin_client.get(reverse("admin:migration_migrationrun_change", args=[run.pk]))
    assert detail.status_code == 200
    assert 'name="_save"' not in detail.content.decode()  # view only: no save button
    assert "MCP_PLATFORM_WEB_PORT=8080" in detail.content.decode()  # the plan, shown as a diff
    assert (
        admin_client.post(reverse("admin:migration_migrationrun_delete", args=[run.pk])).status_code
        == 403
    )
    assert admin_client.get(reverse("admin:migration_migrationrun_add")).status_code == 403


def test_staff_without_the_import_permission_cannot_import(tools, client, django_user_model):
    django_user_model.objects.create_user("viewer", password="viewer-password", is_staff=True)
    client.login(username="viewer", password="viewer-password")
    assert client.get(IMPORT_URL).status_code == 403
