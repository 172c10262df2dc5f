"""Prompt templates: what the model is told, editable by staff."""
