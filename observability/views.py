from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from observability import feedback
from observability.health import readiness
from observability.scrape import PERMISSION, bearer_token_ok, refresh_gauges


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness: the process answers. Dependencies are /readyz's business."""
    return JsonResponse({"status": "ok"})


@never_cache
@require_GET
async def readyz(request: HttpRequest) -> JsonResponse:
    report = await readiness()
    return JsonResponse(report, status=503 if report["failed"] else 200)


@never_cache
@require_GET
async def metrics(request: HttpRequest) -> HttpResponse:
    """Prometheus exposition: for a bearer token (METRICS_TOKEN) or a user allowed to see it."""
    if not bearer_token_ok(request.headers.get("Authorization", "")):
        user = await request.auser()
        if not user.is_authenticated:
            return HttpResponse("Authentication required.", status=401, content_type="text/plain")
        if not await user.ahas_perm(PERMISSION):
            return HttpResponse("Forbidden.", status=403, content_type="text/plain")
    await refresh_gauges()
    return HttpResponse(generate_latest(), content_type=CONTENT_TYPE_LATEST)


@require_POST
@login_required
def give_feedback(request: HttpRequest, message_id: int) -> HttpResponse:
    """Thumbs up/down on one of the user's own replies; answers with the updated partial."""
    message = feedback.own_reply(user_id=request.user.id, message_id=message_id)
    if message is None:
        raise Http404
    error = None
    try:
        given = feedback.feedback_give(
            user_id=request.user.id,
            message=message,
            score=_score(request.POST.get("score")),
            comment=request.POST.get("comment", ""),
        )
    except feedback.FeedbackRefused as refused:
        given, error = (
            feedback.feedback_for(user_id=request.user.id, message_id=message.id),
            str(refused),
        )
    context = {"message": message, "feedback": given, "feedback_error": error}
    return render(request, "observability/_feedback.html", context, status=400 if error else 200)


def _score(raw: str | None) -> int:
    return {"up": 1, "down": -1}.get(raw or "", 0)
