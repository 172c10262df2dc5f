from django.urls import path

from observability import views

app_name = "observability"

urlpatterns = [
    path("messages/<int:message_id>/feedback/", views.give_feedback, name="feedback"),
]
