"""API keys: created (shown once), looked up by their hash, revoked. Reads are owner-scoped."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from django.utils import timezone

from api.models import ApiKey, Scope

KEY_PREFIX = "sb-"
SHOWN_PREFIX_LENGTH = 12
# last_used_at is written at most this often per key: a busy key must not write on every call.
LAST_USED_RESOLUTION = timedelta(minutes=1)


@dataclass(frozen=True)
class NewKey:
    key: ApiKey
    secret: str  # the only time the full key exists outside the client


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


def apikey_create(*, user: AbstractBaseUser, name: str, scopes: list[str]) -> NewKey:
    unknown = set(scopes) - set(Scope.values)
    if unknown or not scopes:
        raise ValueError(f"unknown or missing scopes: {sorted(unknown)}")
    secret = KEY_PREFIX + secrets.token_urlsafe(32)
    key = ApiKey.objects.create(
        user=user,
        name=name,
        prefix=secret[:SHOWN_PREFIX_LENGTH],
        hashed_key=hash_secret(secret),
        scopes=sorted(scopes),
    )
    return NewKey(key, secret)


def apikey_revoke(*, key: ApiKey) -> None:
    # Effective at once: every request looks its key up in the database, nothing is cached.
    ApiKey.objects.filter(pk=key.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())


def keys_for(user: AbstractBaseUser) -> QuerySet[ApiKey]:
    return ApiKey.objects.filter(user=user)


def key_for(user: AbstractBaseUser, key_id: int) -> ApiKey:
    """The user's own key, or 404: other people's keys do not exist for them."""
    return get_object_or_404(ApiKey, pk=key_id, user=user)


def key_authenticate(secret: str) -> ApiKey | None:
    """The live key matching `secret` (owner active, not revoked), marked as used; else None."""
    if not secret.startswith(KEY_PREFIX) or len(secret) > 200:
        return None
    key = (
        ApiKey.objects.select_related("user")
        .filter(hashed_key=hash_secret(secret), revoked_at__isnull=True, user__is_active=True)
        .first()
    )
    if key is not None:
        _mark_used(key)
    return key


def _mark_used(key: ApiKey) -> None:
    now = timezone.now()
    if key.last_used_at is None or now - key.last_used_at >= LAST_USED_RESOLUTION:
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
        key.last_used_at = now
