"""Conversations and messages: the chat pages, the websocket consumer and their services."""
