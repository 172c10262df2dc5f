"""The knowledge base: documents the assistants answer from."""
