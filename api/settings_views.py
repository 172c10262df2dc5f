"""Settings → API keys: create (the key is shown once), list by prefix, revoke. Own keys only."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from api import keys
from api.models import Scope


class ApiKeyForm(forms.Form):
    name = forms.CharField(max_length=100, help_text="What will use it, e.g. “nightly report”.")
    scopes = forms.MultipleChoiceField(
        choices=Scope.choices, widget=forms.CheckboxSelectMultiple, initial=Scope.values
    )


@require_http_methods(["GET", "POST"])
@login_required
@never_cache  # the page that shows a new key must not be kept by any cache
def api_keys(request: HttpRequest) -> HttpResponse:
    form = ApiKeyForm(request.POST or None)
    created = None
    if request.method == "POST" and form.is_valid():
        created = keys.apikey_create(user=request.user, **form.cleaned_data)
        form = ApiKeyForm()
    context = {"form": form, "keys": keys.keys_for(request.user), "created": created}
    return render(request, "api/keys.html", context, status=400 if form.errors else 200)


@require_POST
@login_required
def api_key_revoke(request: HttpRequest, key_id: int) -> HttpResponse:
    key = keys.key_for(request.user, key_id)
    keys.apikey_revoke(key=key)
    messages.success(request, f"Revoked “{key.name}”. It stopped working immediately.")
    return redirect("api:keys")
