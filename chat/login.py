"""The login page, throttled per client address and per username (shared through Redis)."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.forms import AuthenticationForm
from django.contrib.auth.views import LoginView
from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_http_methods
from django_ratelimit.decorators import ratelimit

from api.ratelimits import first_exhausted_wait, throttled_response

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
        wait = first_exhausted_wait(request, LIMITS, _login_rate)
        return throttled_response(request, "registration/login.html", context, wait)
    return LoginView.as_view()(request)
