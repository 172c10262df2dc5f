"""Admin for MCP servers: staff register them; templates allowlist them as mcp:<slug>."""

from django.contrib import admin
from django.db import models

from gateway.tools.models import McpServer


@admin.register(McpServer)
class McpServerAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "transport", "enabled", "timeout_seconds"]
    list_filter = ["transport", "enabled"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
