from django.contrib import admin

from chat.models import Agent, Message, Session


@admin.register(Agent)
class AgentAdmin(admin.ModelAdmin):
    list_display = ["name", "vault", "created_at"]
    list_filter = ["vault"]
    search_fields = ["name"]


class MessageInline(admin.TabularInline):
    model = Message
    fields = ["role", "content", "created_at"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Session)
class SessionAdmin(admin.ModelAdmin):
    list_display = ["id", "agent", "created_at", "last_active_at"]
    search_fields = ["id"]
    readonly_fields = ["created_at", "last_active_at"]
    inlines = [MessageInline]
