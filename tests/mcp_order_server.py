"""A small MCP server, started by tests/test_mcp_tools.py: an order-status lookup.

`python mcp_order_server.py` serves over stdio; `python mcp_order_server.py http PORT` serves
streamable HTTP at http://127.0.0.1:PORT/mcp. With `--start-log FILE` it appends its pid to FILE
when it starts, so a test can count how often it was started.
"""

import asyncio
import os
import sys

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError

server = MCPServer("orders")

ORDERS = {"A-17": "shipped on 3 March", "B-2": "waiting for stock"}


@server.tool(description="The delivery status of an order, by its id (like A-17).")
def order_status(order_id: str) -> dict:
    if order_id not in ORDERS:
        raise ToolError(f"There is no order {order_id}.")
    return {"order_id": order_id, "status": ORDERS[order_id]}


@server.tool(description="The full tracking history of an order (slow: it takes a minute).")
async def order_history(order_id: str) -> str:
    await asyncio.sleep(60)
    return f"No history for {order_id}."


if __name__ == "__main__":
    if "--start-log" in sys.argv:
        log_path = sys.argv[sys.argv.index("--start-log") + 1]
        with open(log_path, "a") as starts:
            starts.write(f"{os.getpid()}\n")
    if sys.argv[1:2] == ["http"]:
        server.run("streamable-http", host="127.0.0.1", port=int(sys.argv[2]))
    else:
        server.run()
