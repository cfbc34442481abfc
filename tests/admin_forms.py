"""Drive the Django admin's own forms in tests, the way a browser submits them."""

from __future__ import annotations

import json

from django import forms


def change_form_data(client, url: str, **changes) -> dict:
    """The POST data of the admin change form at `url` as it stands, with `changes` applied."""
    response = client.get(url)
    assert response.status_code == 200, f"GET {url} gave {response.status_code}"
    form = response.context["adminform"].form
    data: dict = {}
    for name, field in form.fields.items():
        value = changes.get(name, form.initial.get(name, field.initial))
        if isinstance(field, forms.BooleanField):
            if value:
                data[name] = "on"
        elif value is None:
            data[name] = ""
        elif isinstance(field, forms.JSONField):
            data[name] = value if isinstance(value, str) else json.dumps(value)
        elif isinstance(field, forms.MultipleChoiceField):
            data[name] = list(value)
        else:
            data[name] = value
    for name, value in changes.items():
        if name not in form.fields:
            raise KeyError(f"{name!r} is not a field of the form at {url}")
        if value is False:
            data.pop(name, None)
    data["_save"] = "Save"
    return data


def submit_change_form(client, url: str, **changes):
    """Submit the admin change form with `changes`; fail with the form's errors if any."""
    response = client.post(url, change_form_data(client, url, **changes))
    if response.status_code != 302:
        errors = (
            response.context["adminform"].form.errors
            if response.context
            else response.content[:500]
        )
        raise AssertionError(f"admin form at {url} was refused: {errors}")
    return response
