"""Offline LLM provider simulator speaking the OpenAI and Anthropic wire formats.

Run it with ``python -m gateway.simulator``; build it in-process with
:func:`gateway.simulator.server.build_app`.
"""
