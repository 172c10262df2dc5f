"""Staff choose each assistant's tools and register MCP servers in admin."""

from __future__ import annotations

import pytest

from gateway.tools.models import McpServer
from tests.test_prompt_admin import TEMPLATE_URL, editor, form_data  # noqa: F401  (fixture)

pytestmark = pytest.mark.django_db


def test_an_editor_allowlists_built_in_and_mcp_tools_for_an_assistant(
    editor,  # noqa: F811
    client,
    openai_template,
):
    McpServer.objects.create(slug="orders", name="Orders", transport="stdio", command="orders")
    url = TEMPLATE_URL.format(openai_template.pk) + "change/"
    page = client.get(url).content.decode()
    for choice in ("calculator", "current_time", "convert_units", "search_knowledge", "mcp:orders"):
        assert f'value="{choice}"' in page

    data = form_data(client, url, "prompttemplate_form") | {"tools": ["calculator", "mcp:orders"]}
    response = client.post(url, data)

    assert response.status_code == 302, response.content.decode()[:2000]
    openai_template.refresh_from_db()
    assert openai_template.tools == ["calculator", "mcp:orders"]
    assert openai_template.versions.count() == 1  # a settings change, not a new prompt version


def test_a_tool_that_does_not_exist_is_refused(editor, client, openai_template):  # noqa: F811
    url = TEMPLATE_URL.format(openai_template.pk) + "change/"
    data = form_data(client, url, "prompttemplate_form") | {"tools": ["rm_rf"]}

    response = client.post(url, data)

    assert response.status_code == 200 and "rm_rf is not one of the available" in (
        response.content.decode()
    )
    openai_template.refresh_from_db()
    assert openai_template.tools == []


def test_an_mcp_server_needs_what_its_transport_needs(admin_client):
    url = "/admin/gateway/mcpserver/add/"
    base = {"slug": "orders", "name": "Orders", "args": "[]", "timeout_seconds": "10"}

    refused = admin_client.post(url, base | {"transport": "stdio", "enabled": "on"})
    assert refused.status_code == 200
    assert "A stdio server needs the program to start." in refused.content.decode()

    added = admin_client.post(
        url, base | {"transport": "http", "url": "http://127.0.0.1:9000/mcp", "enabled": "on"}
    )
    assert added.status_code == 302
    assert McpServer.objects.get().url == "http://127.0.0.1:9000/mcp"
