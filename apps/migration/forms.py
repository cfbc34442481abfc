"""The admin's upload form for a legacy config file."""

from django import forms

MAX_UPLOAD_BYTES = 1024 * 1024


class LegacyConfigUploadForm(forms.Form):
    file = forms.FileField(
        required=False, help_text="A legacy YAML config file (any of the four legacy shapes)."
    )
    text = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 12, "cols": 100, "style": "font-family: monospace"}),
        help_text="…or paste its contents.",
    )

    def clean(self):
        cleaned = super().clean()
        upload = cleaned.get("file")
        if upload is not None:
            if upload.size > MAX_UPLOAD_BYTES:
                raise forms.ValidationError("The file is larger than 1 MiB: not a config file.")
            try:
                cleaned["text"] = upload.read().decode("utf-8")
            except UnicodeDecodeError:
                raise forms.ValidationError("The file is not UTF-8 text.") from None
            cleaned["source_name"] = upload.name
        elif cleaned.get("text", "").strip():
            cleaned["source_name"] = "(pasted)"
        else:
            raise forms.ValidationError("Choose a file or paste its contents.")
        return cleaned
