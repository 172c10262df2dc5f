from django.urls import path
from django.views.generic import RedirectView

from observability import dashboards

app_name = "dashboards"

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="dashboards:cost"), name="index"),
    path("cost/", dashboards.cost, name="cost"),
    path("users/", dashboards.users, name="users"),
    path("latency/", dashboards.latency, name="latency"),
    path("cache/", dashboards.cache, name="cache"),
    path("quality/", dashboards.quality, name="quality"),
]
