from django.apps import AppConfig


class PromptsAdminConfig(AppConfig):
    name = "prompts_admin"
    verbose_name = "Prompts"

    def ready(self) -> None:
        from prompts_admin import signals  # noqa: F401
