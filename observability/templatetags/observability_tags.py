from django import template

from observability import charts
from observability.feedback import feedback_for

register = template.Library()


@register.simple_tag
def line_chart(title, days, series, unit=""):
    return charts.line_chart(title, days, series, unit)


@register.simple_tag
def stacked_bar_chart(title, days, series, unit=""):
    return charts.stacked_bar_chart(title, days, series, unit)


@register.simple_tag
def chart_legend(series):
    return charts.legend(series)


@register.inclusion_tag("observability/_feedback.html", takes_context=True)
def feedback_buttons(context, message):
    """Thumbs on a finished assistant reply, showing what its owner gave (if anything)."""
    # Websocket fragments (no request; rendered on the event loop) carry replies that have just
    # finished, which have no feedback yet: only a page render looks it up.
    request, given = context.get("request"), None
    if request is not None and request.user.is_authenticated:
        given = feedback_for(user_id=request.user.id, message_id=message.id)
    return {"message": message, "feedback": given, "csrf_token": context.get("csrf_token")}
