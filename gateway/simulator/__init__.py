"""Offline LLM provider simulator speaking the OpenAI and Anthropic wire formats.

Run it with ``python -m gateway.simulator``; build it in-process with
:func:`gateway.simulator.server.build_app`.

Per-request knobs, as script entry keys (``POST /_sim/script``) or ``X-Sim-*`` headers
(``retry_after_ms`` → ``X-Sim-Retry-After-Ms``); headers win over the script:

- reply, ttft_ms, tokens_per_s, usage (script only): what to say and how fast.
- status (400-599), with retry_after (s) / retry_after_ms: an error in the API's format.
- stall_after N, stall_ms (default: until the client leaves): pause after N tokens.
- disconnect_after / malformed_after / error_event_after N: end the stream badly after N.
- refusal (bool): the reply is a refusal.
- reply may contain "{{system}}": it is replaced by the request's system prompt (a leaking model).
- script only: match (substring of the last user message), model (exact id), times
  (uses; 1 by default, 0 = forever). The first matching entry wins.
- ``--own-model NAME`` (CLI, repeatable): requests for NAME use only entries whose ``model``
  is NAME, else the default reply; the tests give the conversation-title model its own.

``GET /_sim/requests[?model=X]`` lists requests with their ``fault`` and ``status``.
"""
