"""bench_luna's WSGI application: phoenix.wsgi's, with bench.urls (Phoenix's URLs and the
minimal view), so both are served by the same gunicorn process, configured as the Procfile's."""

import os

from django.conf import settings
from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "phoenix.settings")
application = get_wsgi_application()
settings.ROOT_URLCONF = "bench.urls"  # before the first request resolves a URL
