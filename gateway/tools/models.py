"""MCP servers staff registered: their tools are offered like built-ins, by template allowlist."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import models


class McpTransport(models.TextChoices):
    STDIO = "stdio", "stdio (a local program)"
    HTTP = "http", "Streamable HTTP"


class McpServer(models.Model):
    """A Model Context Protocol server. Its tools reach a template only through the template's
    allowlist entry `mcp:<slug>`, and run with the same validation and timeouts as built-ins."""

    slug = models.SlugField(
        unique=True,
        help_text="Its tools are offered as <slug>__<tool>; allowlist it as mcp:<slug>.",
    )
    name = models.CharField(max_length=100)
    transport = models.CharField(max_length=10, choices=McpTransport.choices)
    command = models.CharField(
        max_length=500,
        blank=True,
        help_text="stdio: the program to start (runs on the app servers, as the app's user).",
    )
    args = models.JSONField(default=list, blank=True, help_text='stdio: e.g. ["server.py"].')
    url = models.URLField(blank=True, help_text="Streamable HTTP: the server's MCP endpoint.")
    timeout_seconds = models.FloatField(default=10.0, help_text="Per tool call, and to connect.")
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["slug"]
        verbose_name = "MCP server"

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        if self.transport == McpTransport.STDIO and not self.command:
            raise ValidationError({"command": "A stdio server needs the program to start."})
        if self.transport == McpTransport.HTTP and not self.url:
            raise ValidationError({"url": "A streamable HTTP server needs its URL."})
        if not isinstance(self.args, list) or not all(isinstance(a, str) for a in self.args):
            raise ValidationError({"args": 'A list of strings, e.g. ["server.py"].'})
        if "__" in self.slug:
            raise ValidationError({"slug": "Two underscores separate the server from its tool."})
