"""Password reset: throttled like the login, the same answer whether or not an account has the
address, and the email sent by a Celery task so that response time cannot tell either."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.forms import PasswordResetForm
from django.contrib.auth.views import PasswordResetView
from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string
from django.views.decorators.http import require_http_methods
from django_ratelimit.decorators import ratelimit

from api.ratelimits import first_exhausted_wait, throttled_response
from observability.enqueue import enqueue

EMAIL_KEY = "chat.password_reset._email"
LIMITS = (("reset-ip", "ip"), ("reset-email", EMAIL_KEY))


def _reset_rate(group: str, request: HttpRequest) -> str:
    return settings.PASSWORD_RESET_RATE_LIMIT


def _email(group: str, request: HttpRequest) -> str:
    return request.POST.get("email", "").strip().lower()


class QueuedPasswordResetForm(PasswordResetForm):
    """Renders the email here (the user object stays in this process) and queues the sending."""

    def send_mail(
        self,
        subject_template_name,
        email_template_name,
        context,
        from_email,
        to_email,
        html_email_template_name=None,
    ) -> None:
        from chat.tasks import send_email

        subject = "".join(render_to_string(subject_template_name, context).splitlines())
        body = render_to_string(email_template_name, context)
        enqueue(send_email, subject=subject, body=body, to=[to_email])


@require_http_methods(["GET", "POST"])
@ratelimit(group="reset-ip", key="ip", rate=_reset_rate, method="POST", block=False)
@ratelimit(group="reset-email", key=EMAIL_KEY, rate=_reset_rate, method="POST", block=False)
def password_reset(request: HttpRequest) -> HttpResponse:
    if getattr(request, "limited", False):
        wait = first_exhausted_wait(request, LIMITS, _reset_rate)
        context = {"form": QueuedPasswordResetForm(), "throttled": True}
        return throttled_response(request, "registration/password_reset_form.html", context, wait)
    return PasswordResetView.as_view(form_class=QueuedPasswordResetForm)(request)
