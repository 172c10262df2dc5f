from django.apps import AppConfig


class PromptsAdminConfig(AppConfig):
    name = "prompts_admin"
    verbose_name = "Prompts"
