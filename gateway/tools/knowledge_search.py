"""Knowledge-base search as a tool: the RAG retriever, called when the model decides to look."""

from __future__ import annotations

from gateway.tools.registry import ToolError, ToolSpec, registry

TOP_K = 4


async def search_knowledge(query: str) -> dict:
    # Imported here: the retriever needs Django's apps, the calculator does not.
    from gateway.stages.retrieval import retrieve, screen_untrusted

    try:
        passages = await retrieve(query, top_k=TOP_K)
    except Exception as error:
        raise ToolError(f"The knowledge base cannot be searched right now ({error}).") from None
    return {
        "query": query,
        "passages": [
            {"document": p.document_title, "part": p.ordinal, "text": screen_untrusted(p.text)}
            for p in passages
        ],
    }


SEARCH_KNOWLEDGE = registry.register(
    ToolSpec(
        name="search_knowledge",
        description="Search the knowledge base (uploaded documents) for passages about a query.",
        parameters={
            "type": "object",
            "properties": {"query": {"type": "string", "minLength": 2, "maxLength": 300}},
            "required": ["query"],
            "additionalProperties": False,
        },
        handler=search_knowledge,
        timeout_seconds=8.0,
    )
)
