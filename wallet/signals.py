"""Signals wallet sends."""

from django.dispatch import Signal

# The energy catalogue (actions, packs) was changed by a bulk write (QuerySet.update/delete,
# which send no post_save): its process-memory snapshots are stale (wallet.selectors.catalogue).
catalogue_bulk_changed = Signal()
