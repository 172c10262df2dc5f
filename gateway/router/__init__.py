"""The model router: retries with jittered backoff, timeouts, a fallback chain and a shared
circuit breaker, so a failing provider costs the user a delay or a fallback, not the answer."""
