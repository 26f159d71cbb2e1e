"""Signals other apps receive, so `phoenix` never imports the apps built on it.

- ``user_registered(user)``: sent inside the registration transaction. Receivers open
  the user's access (TRIAL) and wallet (welcome grant); if one fails, the whole
  registration rolls back.
- ``user_erased(user)``: sent inside the erasure transaction; receivers anonymize the
  personal data they hold and keep financial records.
"""

from django.dispatch import Signal

user_registered = Signal()
user_erased = Signal()
