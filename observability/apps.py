from django.apps import AppConfig
from django.conf import settings


class ObservabilityConfig(AppConfig):
    name = "observability"

    def ready(self) -> None:
        # Imported for their signal handlers (and task_metrics for its /metrics collector).
        from observability import celery_signals, task_metrics  # noqa: F401
        from observability.logs import configure_structlog
        from observability.tracing import configure_tracing

        configure_structlog()
        configure_tracing(
            settings.OTEL_TRACES_EXPORTER, otlp_endpoint=settings.OTEL_EXPORTER_OTLP_ENDPOINT
        )
