"""Signals of the catalogue. Sent inside the transaction that made the change."""

from django.dispatch import Signal

# Sent with `reason` (a short text) whenever tools are created, edited, enabled or disabled.
catalogue_changed = Signal()
