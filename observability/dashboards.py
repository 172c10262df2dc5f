"""The managers' dashboards inside admin: thin views over observability.selectors."""

from __future__ import annotations

import csv
from collections.abc import Callable
from functools import wraps

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.core.paginator import Page, Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from observability import selectors
from observability.selectors import BadRange, DateRange

PERMISSION = "observability.view_dashboards"
USERS_PER_PAGE = 100

PAGES = [
    ("cost", "Cost"),
    ("users", "Cost per user"),
    ("latency", "Latency and errors"),
    ("cache", "Cache and guardrails"),
    ("quality", "Quality"),
]


def dashboard(view: Callable) -> Callable:
    """Staff with the dashboards permission, GET only, with a parsed date range."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if not request.user.has_perm(PERMISSION):
            raise PermissionDenied
        try:
            period = DateRange.parse(request.GET.get("start"), request.GET.get("end"))
        except BadRange as error:
            period = DateRange.parse(None, None)
            request.range_error = str(error)
        return view(request, period, *args, **kwargs)

    return admin.site.admin_view(require_GET(wrapper))


def _render(request: HttpRequest, page: str, period: DateRange, context: dict) -> HttpResponse:
    return render(
        request,
        f"admin/observability/{page}.html",
        {
            **admin.site.each_context(request),
            "title": dict(PAGES)[page],
            "page": page,
            "pages": PAGES,
            "period": period,
            "days": period.days,
            "range_error": getattr(request, "range_error", None),
            **context,
        },
        status=400 if getattr(request, "range_error", None) else 200,
    )


@dashboard
def cost(request: HttpRequest, period: DateRange) -> HttpResponse:
    return _render(
        request,
        "cost",
        period,
        {
            **selectors.cost_overview(period),
            "top_spenders": selectors.cost_per_user(period, limit=10),
        },
    )


@dashboard
def users(request: HttpRequest, period: DateRange) -> HttpResponse:
    sort = request.GET.get("sort", "cost")
    if request.GET.get("format") == "csv":
        return _users_csv(selectors.cost_per_user(period, sort=sort), period)
    page = _users_page(period, sort, request.GET.get("page"))
    return _render(request, "users", period, {"rows": page, "page_obj": page, "sort": sort})


def _users_page(period: DateRange, sort: str, requested: str | None) -> Page:
    """One page of users, fetched alone (SQL does the paging); past the end, the last page."""
    try:
        number = max(int(requested or 1), 1)
    except ValueError:
        number = 1

    def fetch(n: int) -> tuple[list, int]:
        offset = (n - 1) * USERS_PER_PAGE
        return selectors.user_cost_page(period, sort=sort, limit=USERS_PER_PAGE, offset=offset)

    rows, total = fetch(number)
    # The paginator only counts (a range holds no rows); the page's rows come from SQL.
    page = Paginator(range(total), USERS_PER_PAGE).get_page(number)
    page.object_list = rows if page.number == number else fetch(page.number)[0]
    return page


def _users_csv(rows: list[selectors.UserCost], period: DateRange) -> HttpResponse:
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    name = f"cost-per-user-{period.start}-{period.end}.csv"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    writer = csv.writer(response)
    writer.writerow(
        ["user", "turns", "input_tokens", "output_tokens", "cost_usd", "unpriced_turns"]
    )
    for row in rows:
        # A leading =, +, - or @ would be a formula in a spreadsheet.
        username = f"'{row.username}" if row.username[:1] in "=+-@" else row.username
        writer.writerow(
            [username, row.turns, row.input_tokens, row.output_tokens, row.cost, row.unpriced]
        )
    return response


@dashboard
def latency(request: HttpRequest, period: DateRange) -> HttpResponse:
    latency_series, ttft_series = selectors.latency_over_time(period)
    return _render(
        request,
        "latency",
        period,
        {
            "latency": latency_series,
            "ttft": ttft_series,
            "errors": selectors.error_rates(period),
            "by_model": selectors.latency_by_model(period),
        },
    )


@dashboard
def cache(request: HttpRequest, period: DateRange) -> HttpResponse:
    return _render(
        request,
        "cache",
        period,
        {"cache": selectors.cache_savings(period), "blocks": selectors.guardrail_blocks(period)},
    )


@dashboard
def quality(request: HttpRequest, period: DateRange) -> HttpResponse:
    return _render(request, "quality", period, {"rows": selectors.quality(period)})
