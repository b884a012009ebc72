"""Webhooks in the gateway: the `webhook` of a job request, checked; the key's signing
secret (read, rotate); a job's deliveries for its view. Deliveries run in the workers
(`workers/webhooks.py`); this module only reads and writes Redis."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from api.errors import Unprocessable
from api.state import AppState
from queues import webhooks
from queues.jobs import DEFAULT_WEBHOOK_EVENTS, JobRecord, JobWebhook
from queues.outbound import OutboundPolicy, parse_http_url
from queues.webhooks import DeliveryView, SigningSecrets

MAX_URL_CHARS = 2048

WebhookEvent = Literal["job.succeeded", "job.failed", "job.canceled", "job.progress"]


class WebhookRequest(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """`webhook` of a job request (also accepted by the media endpoints as an extension field)."""

    url: Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_URL_CHARS)]
    events: Annotated[list[WebhookEvent], msgspec.Meta(min_length=1)] | None = None


class WebhookSecretView(msgspec.Struct, frozen=True, kw_only=True):
    object: Literal["webhook_secret"] = "webhook_secret"
    secret: str
    created_at: float
    # Until then, deliveries are signed with the previous secret too.
    previous_secret_expires_at: float | None


class JobWebhookView(msgspec.Struct, frozen=True, kw_only=True):
    url: str
    events: tuple[str, ...]
    deliveries: list[DeliveryView]


def checked_webhook(state: AppState, request: WebhookRequest | None, *, param: str = "webhook") -> JobWebhook | None:
    """The webhook to store with the job; 422 naming `{param}.url` for a URL that may not be
    called: not https (http only to a host MPC_OUTBOUND_ALLOW names), credentials in it, or a
    private, loopback or link-local address literal. A name is resolved and checked by the
    worker at each delivery (the gateway talks to Redis only)."""
    if request is None:
        return None
    url_param = f"{param}.url"
    parts = parse_http_url(request.url)
    if parts is None or parts.hostname is None:
        raise Unprocessable("The webhook URL must be an absolute https:// URL.", code="invalid_url", param=url_param)
    policy = OutboundPolicy(state.settings.outbound_allow)
    if parts.scheme != "https" and not policy.host_listed(parts.hostname):
        raise Unprocessable(
            "The webhook URL must use https:// (http:// only for a host MPC_OUTBOUND_ALLOW names).",
            code="invalid_url",
            param=url_param,
        )
    if parts.username is not None or parts.password is not None:
        raise Unprocessable(
            "The webhook URL must not carry credentials; verify the signature instead.",
            code="invalid_url",
            param=url_param,
        )
    if policy.literal_refused(parts.hostname):
        raise Unprocessable(
            "The webhook URL points to a private, loopback or link-local address, which MPC-API does not call "
            "unless MPC_OUTBOUND_ALLOW allows it.",
            code="url_not_allowed",
            param=url_param,
        )
    events = tuple(dict.fromkeys(request.events)) if request.events is not None else DEFAULT_WEBHOOK_EVENTS
    return JobWebhook(url=request.url, events=events)


def secret_view(found: SigningSecrets) -> WebhookSecretView:
    return WebhookSecretView(
        secret=found.current, created_at=found.created_at, previous_secret_expires_at=found.previous_until
    )


async def signing_secret(state: AppState, owner: str) -> WebhookSecretView:
    return secret_view(await webhooks.signing_secrets(state.redis, owner))


async def rotate_signing_secret(state: AppState, owner: str) -> WebhookSecretView:
    return secret_view(await webhooks.rotate_secret(state.redis, owner))


async def job_webhook(state: AppState, record: JobRecord) -> JobWebhookView | None:
    """The job's webhook and every delivery with its attempts, for its view."""
    if record.webhook is None:
        return None
    deliveries = await webhooks.job_deliveries(state.redis, record.id)
    return JobWebhookView(url=record.webhook.url, events=record.webhook.events, deliveries=deliveries)
