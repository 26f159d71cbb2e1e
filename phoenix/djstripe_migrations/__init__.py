"""dj-stripe's schema as one generated migration (``MIGRATION_MODULES`` in the settings).

dj-stripe 2.11 ships 60+ migrations whose hundreds of field removals make Django re-render
the migration state for minutes on a fresh database; nothing is deployed yet, so Phoenix
starts from dj-stripe's current models instead (dj-stripe's migrations hold no data or SQL
steps, so the schema is the same). On upgrading dj-stripe: regenerate it with
``.venv/bin/python manage.py makemigrations djstripe`` into this folder (and, once
deployed, add the new migration rather than replacing this one).
"""
