from django.urls import path

from api import settings_views, views

app_name = "api"

urlpatterns = [
    path("v1/chat/completions", views.chat_completions, name="chat-completions"),
    path("v1/models", views.models, name="models"),
    path("v1/openapi.json", views.openapi, name="openapi"),
    path("settings/api-keys/", settings_views.api_keys, name="keys"),
    path("settings/api-keys/<int:key_id>/revoke/", settings_views.api_key_revoke, name="revoke"),
]
