"""ASGI entry point (the service is deployed with gunicorn and WSGI; this is for ASGI hosts)."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ragsite.settings")

application = get_asgi_application()
