from django.urls import re_path

from ragsite.console import views

urlpatterns = [
    re_path(r"^$", views.root, name="root"),
    re_path(r"^console/?$", views.chat_page, name="console-chat"),
    re_path(r"^console/documents/?$", views.documents_page, name="console-documents"),
]
