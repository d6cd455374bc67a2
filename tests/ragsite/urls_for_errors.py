"""Routes that fail on purpose, added to the real ones, for the error-envelope tests."""

from django.http import HttpRequest, HttpResponse
from django.urls import path
from django.views.decorators.http import require_POST
from rest_framework.views import APIView

from ragsite.urls import handler400, handler403, handler404, handler500
from ragsite.urls import urlpatterns as service_urlpatterns

SECRET_IN_EXCEPTION = "postgresql://admin:hunter2@db.internal/prod"


def django_view_that_fails(request: HttpRequest) -> HttpResponse:
    raise RuntimeError(f"could not connect to {SECRET_IN_EXCEPTION}")


class ApiViewThatFails(APIView):
    def get(self, request):
        raise RuntimeError(f"could not connect to {SECRET_IN_EXCEPTION}")


@require_POST
def django_post_only(request: HttpRequest) -> HttpResponse:
    return HttpResponse("ok")


urlpatterns = [
    *service_urlpatterns,
    path("boom/django", django_view_that_fails),
    path("boom/api", ApiViewThatFails.as_view()),
    path("post-only", django_post_only),
]

__all__ = ["handler400", "handler403", "handler404", "handler500", "urlpatterns"]
