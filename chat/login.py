"""The login page, throttled per client address and per username (shared through Redis)."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.forms import AuthenticationForm
from django.contrib.auth.views import LoginView
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_http_methods
from django_ratelimit.decorators import ratelimit

RETRY_AFTER_SECONDS = 60


def _login_rate(group: str, request: HttpRequest) -> str:
    return settings.LOGIN_RATE_LIMIT


def _username(group: str, request: HttpRequest) -> str:
    return request.POST.get("username", "").strip().lower()


@require_http_methods(["GET", "POST"])
@ratelimit(group="login-ip", key="ip", rate=_login_rate, method="POST", block=False)
@ratelimit(group="login-user", key=_username, rate=_login_rate, method="POST", block=False)
def login(request: HttpRequest) -> HttpResponse:
    if getattr(request, "limited", False):
        # The credentials are not even checked, and the answer is the same whether or not the
        # account exists: nothing to guess, nothing to enumerate.
        context = {"form": AuthenticationForm(request), "throttled": True}
        context["next"] = request.POST.get("next", "")
        response = render(request, "registration/login.html", context, status=429)
        response["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response
    return LoginView.as_view()(request)
