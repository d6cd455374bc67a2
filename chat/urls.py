from django.urls import re_path

from chat import views

urlpatterns = [
    re_path(r"^chat/?$", views.ChatView.as_view(), name="chat"),
    re_path(r"^sessions/(?P<session_id>[^/]+)/?$", views.SessionDetailView.as_view(), name="session-detail"),
    re_path(r"^agents/?$", views.AgentListView.as_view(), name="agent-list"),
    re_path(r"^agents/(?P<agent_id>[^/]+)/?$", views.AgentDetailView.as_view(), name="agent-detail"),
]
