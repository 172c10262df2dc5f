"""A small MCP server over stdio, started by tests/test_mcp_tools.py: an order-status lookup."""

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError

server = MCPServer("orders")

ORDERS = {"A-17": "shipped on 3 March", "B-2": "waiting for stock"}


@server.tool(description="The delivery status of an order, by its id (like A-17).")
def order_status(order_id: str) -> dict:
    if order_id not in ORDERS:
        raise ToolError(f"There is no order {order_id}.")
    return {"order_id": order_id, "status": ORDERS[order_id]}


if __name__ == "__main__":
    server.run()
