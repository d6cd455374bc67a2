from django.urls import re_path

from documents import views

# No trailing slash in API paths; one is tolerated, never redirected (a redirected POST loses its body).
urlpatterns = [
    re_path(r"^ingest/?$", views.IngestView.as_view(), name="ingest"),
    re_path(r"^search/?$", views.SearchView.as_view(), name="search"),
    re_path(r"^documents/?$", views.DocumentListView.as_view(), name="document-list"),
    re_path(r"^documents/(?P<document_id>[^/]+)/?$", views.DocumentDetailView.as_view(), name="document-detail"),
    re_path(r"^vaults/?$", views.VaultListView.as_view(), name="vault-list"),
    re_path(r"^vaults/(?P<vault_id>[^/]+)/?$", views.VaultDetailView.as_view(), name="vault-detail"),
]
