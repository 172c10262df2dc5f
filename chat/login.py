"""The login page, throttled per client address and per username (shared through Redis)."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.forms import AuthenticationForm
from django.contrib.auth.views import LoginView
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_http_methods
from django_ratelimit.core import get_usage
from django_ratelimit.decorators import ratelimit

USERNAME_KEY = "chat.login._username"
# The address limit first: when it is exhausted its wait is the answer, whatever username was
# typed, so the reply cannot hint at which usernames others have been guessing.
LIMITS = (("login-ip", "ip"), ("login-user", USERNAME_KEY))


def _login_rate(group: str, request: HttpRequest) -> str:
    return settings.LOGIN_RATE_LIMIT


def _username(group: str, request: HttpRequest) -> str:
    return request.POST.get("username", "").strip().lower()


@require_http_methods(["GET", "POST"])
@ratelimit(group="login-ip", key="ip", rate=_login_rate, method="POST", block=False)
@ratelimit(group="login-user", key=USERNAME_KEY, rate=_login_rate, method="POST", block=False)
def login(request: HttpRequest) -> HttpResponse:
    if getattr(request, "limited", False):
        # The credentials are not even checked, and the answer is the same whether or not the
        # account exists: nothing to guess, nothing to enumerate.
        context = {"form": AuthenticationForm(request), "throttled": True}
        context["next"] = request.POST.get("next", "")
        context["retry_after"] = retry_after_seconds(request)
        response = render(request, "registration/login.html", context, status=429)
        response["Retry-After"] = str(context["retry_after"])
        return response
    return LoginView.as_view()(request)


def retry_after_seconds(request: HttpRequest) -> int:
    """Seconds until the first exhausted login limit (address, then username) starts afresh."""
    for group, key in LIMITS:
        usage = get_usage(
            request, group=group, key=key, rate=_login_rate, method="POST", increment=False
        )
        if usage and usage["should_limit"]:
            return max(1, usage["time_left"])
    return 60  # Redis could not count (fail closed): a minute is an honest guess
