from django.urls import path

from chat import views

app_name = "chat"

urlpatterns = [
    path("", views.home, name="home"),
    path("c/new/", views.conversation_new, name="new"),
    path("c/search/", views.conversation_search, name="search"),
    path("c/<uuid:conversation_id>/", views.conversation, name="conversation"),
    path("c/<uuid:conversation_id>/rename/", views.conversation_rename, name="rename"),
    path("c/<uuid:conversation_id>/archive/", views.conversation_archive, name="archive"),
    path("c/<uuid:conversation_id>/delete/", views.conversation_delete, name="delete"),
    path(
        "c/<uuid:conversation_id>/branch/<int:message_id>/",
        views.branch_select,
        name="branch",
    ),
]
