import functools

import redis
from django.conf import settings
from django.contrib import admin, messages

from gateway.models import LanguageModel
from gateway.router.breaker import CircuitBreaker


@functools.cache
def _redis() -> redis.Redis:
    # One client (and pool) for the process, not one per row of the changelist.
    return redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=1, socket_timeout=1)


@admin.register(LanguageModel)
class LanguageModelAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "provider",
        "input_price",
        "cached_input_price",
        "cache_write_price",
        "output_price",
        "reasoning_price",
        "context_window",
        "priced",
        "breaker",
        "is_active",
    ]
    # Prices change: edit them right in the list (USD per million tokens).
    list_editable = [
        "input_price",
        "cached_input_price",
        "cache_write_price",
        "output_price",
        "reasoning_price",
        "context_window",
    ]
    list_filter = ["provider", "is_active"]
    search_fields = ["name"]
    actions = ["close_breakers"]

    @admin.display(description="Circuit breaker")
    def breaker(self, obj: LanguageModel) -> str:
        try:
            state = _redis().hget(CircuitBreaker.key(obj.provider, obj.name), "state")
        except redis.RedisError:
            return "unknown (Redis unavailable)"
        return (state or b"closed").decode()

    @admin.action(description="Close the circuit breaker (send traffic again)")
    def close_breakers(self, request, queryset) -> None:
        keys = [CircuitBreaker.key(m.provider, m.name) for m in queryset]
        _redis().delete(*keys)
        self.message_user(request, f"Closed {len(keys)} breaker(s).", messages.SUCCESS)

    @admin.display(boolean=True, description="Priced")
    def priced(self, obj: LanguageModel) -> bool:
        return obj.is_priced


from gateway.cache import admin as cache_admin  # noqa: E402, F401  (registers the cache's admin)
from gateway.tools import admin as tools_admin  # noqa: E402, F401  (registers MCP servers' admin)
