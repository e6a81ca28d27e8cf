"""The one HTTP layer every provider speaks through (httpx requests and responses, sent by http.client).

Public surface::

    RetryPolicy(attempts=4, backoff=0.5, max_delay=30.0, honour_retry_after=True)
    CallEvent(profile, call, campaign, attempt, attempts, status, error, retry_in)
    HttpTransport(profile, *, transport=None, sleep=time.sleep, retry=None, timeout=None,
                  rate_limit=None, on_event=None, clock=time.monotonic, wall=time.time, rng=None)
        .add_secret(value)            every registered value is redacted from URLs, logs, errors
        .post(call, path, *, params=None, json=None, data=None, files=None, headers=None,
              idempotent, campaign="", gate=None) -> httpx.Response
        .parse_json(response, call, *, idempotent, campaign="") -> Any
        .error(cls, message, call, *, campaign="", **kw) -> ProviderError   (redacted, profile filled)
        .redact(text) -> str
        .delay(attempt, retry_after=None) -> float   backoff before the next try (for vendor "busy" codes)
        .sleep(seconds)                              the injected sleep
        .close()
    parse_json(response, call, *, profile, idempotent, campaign="", redact=redact_text) -> Any
    redact_text(text, secrets=()) -> str

Why the policy looks like this (DESIGN section 5):

- Idempotent calls (token, query, start, pause, delete) are retried on connect
  errors, timeouts, dropped connections, 5xx and 429, with exponential backoff
  and full jitter, honouring ``Retry-After`` (seconds or HTTP date), for at
  most ``attempts`` tries; then :class:`TransportError` (``retryable=True``).
- Non-idempotent calls (create, insert, callout, ...) may be retried only when
  the vendor certainly did not act: a connect error (nothing was sent) or a
  429 (explicitly refused). Anything after the request may have reached the
  vendor (read/write timeout, dropped connection, 5xx) raises
  :class:`OutcomeUnknown` and the request is never re-sent here.
- Any other HTTP status (2xx, 3xx, 4xx other than 429) is returned as is:
  reading the vendor envelope is the provider's job. :func:`parse_json`
  turns a body that is not a JSON object into ``TransportError`` (idempotent
  call, or a 4xx refusal) or ``OutcomeUnknown`` (mutating call).
- Timeouts are explicit (profile options ``connect_timeout`` 5 s,
  ``read_timeout`` 30 s); ``rate_limit`` (requests per second, per profile)
  spaces every attempt, thread-safely, since apply runs tasks in parallel
  (at ``RATE_HEADROOM`` of the limit, so that attempts reaching the vendor up
  to ``RATE_JITTER`` late never bunch over it in any second).
- Secrets: the xfyeta token travels in the query string, so every URL shown
  anywhere is redacted (``token=***``) and every value given to
  :meth:`HttpTransport.add_secret` is replaced by ``***`` in error messages
  and log records, including the records httpx and httpcore write themselves
  (a redacting filter is installed on their loggers). Request bodies are never
  logged: the token call carries the app secret in its body.
- ``gate``: asked right before each attempt goes out (after the rate limit's
  wait and any retry delay); a non-empty answer stops the call unsent with
  :class:`NotSent`. A call that dials (a callout, a start, an insert into a
  running task) carries one that says whether the calling hours are still
  open: a wait of seconds (a 429's Retry-After, a token refresh, the rate
  limit) must not carry it past the close.
- Logging: ``reconciler.http``, one debug line per attempt ("attempt n/N").
"""

from __future__ import annotations

import email.utils
import logging
import random
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import quote, quote_plus

import httpx

from reconciler.errors import NotSent, OutcomeUnknown, ProviderError, TransportError
from reconciler.model import ProviderProfile, Secret
from reconciler.providers.httpclient import HttpClientTransport

__all__ = [
    "CallEvent",
    "HttpTransport",
    "RetryPolicy",
    "parse_json",
    "redact_text",
]

log = logging.getLogger("reconciler.http")

MASK = "***"
#: How much later than the attempts after it one may reach the vendor (a thread that wakes late, the
#: network, the vendor's front end) with the vendor's count over any second still within ``rate_limit``:
#: attempts are spaced (1 + RATE_JITTER) / rate_limit seconds apart, so the attempts sent within any
#: 1 + RATE_JITTER seconds, all that one second of arrivals can hold, are at most ``rate_limit``. At 20 ms
#: (98 % of the limit) a loaded 2-core machine was measured over it: 201 received in one second at
#: ``rate_limit: 200``, 197 as sent. At 40 ms the limit is used to 96 %.
RATE_JITTER = 0.04
#: The share of ``rate_limit`` attempts are spaced for.
RATE_HEADROOM = 1.0 / (1.0 + RATE_JITTER)
_QUERY_SECRET = re.compile(
    r"(?i)([?&;](?:token|access_?token|accesskey|access_key|app_secret|secret|password|sign)=)[^&#\s'\"<>]*"
)
_E = TypeVar("_E", bound=ProviderError)


def redact_text(text: str, secrets: Iterable[str] = ()) -> str:
    """Mask secret query parameters and every given secret (also URL-encoded) in ``text``."""
    out = _QUERY_SECRET.sub(rf"\1{MASK}", text)
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        for form in {secret, quote(secret, safe=""), quote_plus(secret, safe="")}:
            out = out.replace(form, MASK)
    return out


class _SecretRegistry:
    """Process-wide set of registered secrets, read by the log filter (kept as masked ``Secret``s)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: frozenset[Secret] = frozenset()

    def add(self, value: str) -> None:
        with self._lock:
            self._values = self._values | {Secret(value)}

    @property
    def values(self) -> list[str]:
        return [s.reveal() for s in self._values]


_REGISTRY = _SecretRegistry()


class _RedactingFilter(logging.Filter):
    """Rewrites a record's final message with every secret masked."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed record: leave it to logging's own error path
            return True
        clean = redact_text(message, _REGISTRY.values)
        if clean != message or record.args:
            record.msg = clean
            record.args = None
        return True


_FILTER = _RedactingFilter()
_FILTERED_LOGGERS = (
    "reconciler.http",
    "httpx",
    "httpcore.connection",
    "httpcore.http11",
    "httpcore.http2",
    "httpcore.proxy",
    "httpcore.socks",
)
for _name in _FILTERED_LOGGERS:
    logging.getLogger(_name).addFilter(_FILTER)


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently a call is tried.

    ``attempts`` is the total number of tries (1 = no retry). The delay before
    try n+1 is uniform in ``[0, min(max_delay, backoff * 2**(n-1))]`` (full
    jitter); a ``Retry-After`` header replaces it (capped at ``max_delay``).
    """

    attempts: int = 4
    backoff: float = 0.5
    max_delay: float = 30.0
    honour_retry_after: bool = True


@dataclass(frozen=True)
class CallEvent:
    """One attempt of one call, for progress views and journals (never secrets).

    ``status`` is the HTTP status (None when no answer came); ``error`` a short
    redacted description of what went wrong; ``retry_in`` the delay before
    the next attempt, or None when this attempt was the last.
    """

    profile: str
    call: str
    campaign: str
    attempt: int
    attempts: int
    status: int | None
    error: str | None
    retry_in: float | None


class _Retry(Exception):
    """Internal: this attempt failed transiently (``retry_after`` from the server, if any)."""

    def __init__(self, reason: str, status: int | None = None, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status
        self.retry_after = retry_after


def _option(profile: ProviderProfile, key: str, default: Any) -> Any:
    value = profile.options.get(key)
    return default if value is None else value


class _UrlCache:
    """Parsed request URLs; they carry the xfyeta token, so no repr or vars() dump shows them."""

    __slots__ = ("known",)

    def __init__(self) -> None:
        self.known: dict[tuple[str, tuple[tuple[str, str], ...]], httpx.URL] = {}

    def __repr__(self) -> str:
        return f"<{len(self.known)} URLs>"


class HttpTransport:
    """Retrying, rate-limited, redacting POST client for one provider profile."""

    def __init__(
        self,
        profile: ProviderProfile,
        *,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        retry: RetryPolicy | None = None,
        timeout: httpx.Timeout | None = None,
        rate_limit: float | None = None,
        on_event: Callable[[CallEvent], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
        rng: random.Random | None = None,
    ) -> None:
        self.profile = profile
        self.retry = retry or RetryPolicy(attempts=max(1, int(_option(profile, "retries", 4))))
        self.timeout = timeout or httpx.Timeout(
            float(_option(profile, "read_timeout", 30.0)),
            connect=float(_option(profile, "connect_timeout", 5.0)),
        )
        rate = rate_limit if rate_limit is not None else profile.options.get("rate_limit")
        self._interval = 1.0 / (float(rate) * RATE_HEADROOM) if rate else 0.0
        self._sleep = sleep
        self._clock = clock
        self._wall = wall
        self._rng = rng or random.Random()
        self._on_event = on_event
        self._secrets: frozenset[Secret] = frozenset()  # masked in any repr or vars() dump
        self._lock = threading.Lock()
        self._next_slot = 0.0
        self._base = profile.base_url.rstrip("/")
        # Requests go straight to the transport, not through an ``httpx.Client``: the client's layers
        # (cookies, auth, redirects, base URL merging, event hooks) do nothing here (redirects are never
        # followed, no vendor sets cookies) and cost a third of a call's CPU, which parallel lanes share
        # under one interpreter lock. The transport is ``http.client``'s, for the same reason
        # (``providers.httpclient``); it loads no TLS context until an https URL needs one.
        self._transport = transport or HttpClientTransport()
        self._extensions = {"timeout": self.timeout.as_dict()}
        self._headers = httpx.Headers({"Accept": "*/*", "Accept-Encoding": "gzip, deflate",
                                       "Connection": "keep-alive", "User-Agent": f"python-httpx/{httpx.__version__}"})
        self._urls = _UrlCache()  # built once per path + params
        self._shown: dict[str, str] = {}  # path -> the redacted URL that log lines and errors show

    def __repr__(self) -> str:
        return f"HttpTransport(profile={self.profile.name!r}, base_url={self.redact(self.profile.base_url)!r})"

    # -- secrets -------------------------------------------------------------

    def add_secret(self, value: str) -> None:
        """Register a value that must never appear in messages or logs."""
        if value:
            with self._lock:
                self._secrets = self._secrets | {Secret(value)}
            _REGISTRY.add(value)
            self._shown.clear()

    def redact(self, text: str) -> str:
        return redact_text(text, [s.reveal() for s in self._secrets])

    def error(self, cls: type[_E], message: str, call: str, *, campaign: str = "", **kwargs: Any) -> _E:
        """Build a provider error naming this profile, with ``message`` redacted."""
        return cls(self.redact(message), profile=self.profile.name, call=call, campaign=campaign, **kwargs)

    # -- calls ---------------------------------------------------------------

    def post(
        self,
        call: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        json: Any = None,
        data: Mapping[str, str] | None = None,
        files: Any = None,
        headers: Mapping[str, str] | None = None,
        idempotent: bool,
        campaign: str = "",
        gate: Callable[[], str] | None = None,
    ) -> httpx.Response:
        """POST ``path`` with the retry policy of DESIGN section 5 (see the module docstring); ``gate``,
        when given, is asked right before each attempt: a reason (not "") stops the call unsent."""
        attempts = max(1, self.retry.attempts)
        shown = self._shown.get(path)
        if shown is None:
            shown = self._shown[path] = self.redact(f"{self._base}{path}")
        attempt = 0
        while True:
            attempt += 1
            self._throttle()
            if gate is not None:
                why = gate()
                if why:
                    log.debug("%s %s: not sent: %s", self.profile.name, call, why)
                    raise self.error(NotSent, f"not sent: {why}", call, campaign=campaign)
            log.debug("%s %s: attempt %d/%d POST %s", self.profile.name, call, attempt, attempts, shown)
            try:
                response = self._send(call, path, params, json, data, files, headers, idempotent, campaign)
            except _Retry as retry:
                if attempt >= attempts:
                    self._event(call, campaign, attempt, attempts, retry.status, retry.reason, None)
                    raise self.error(
                        TransportError,
                        f"{retry.reason} (POST {shown}, gave up after {attempt} attempt(s))",
                        call,
                        campaign=campaign,
                        retryable=True,
                    ) from retry.__cause__
                delay = self.delay(attempt, retry.retry_after)
                self._event(call, campaign, attempt, attempts, retry.status, retry.reason, delay)
                log.debug(
                    "%s %s: attempt %d/%d failed: %s; retrying in %.2f s",
                    self.profile.name, call, attempt, attempts, retry.reason, delay,
                )
                if delay > 0:
                    self._sleep(delay)
                continue
            self._event(call, campaign, attempt, attempts, response.status_code, None, None)
            return response

    def _send(
        self,
        call: str,
        path: str,
        params: Mapping[str, str] | None,
        json: Any,
        data: Mapping[str, str] | None,
        files: Any,
        headers: Mapping[str, str] | None,
        idempotent: bool,
        campaign: str,
    ) -> httpx.Response:
        """One attempt: the response, or ``_Retry`` / a final ``ProviderError``."""
        try:
            request = httpx.Request("POST", self._url(path, params), json=json, data=data, files=files,
                                    headers={**self._headers, **headers} if headers else self._headers,
                                    extensions=self._extensions)
            response = self._transport.handle_request(request)
            try:
                response.read()
            finally:
                response.close()
            response.request = request
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            # nothing reached the vendor: safe to try again, whatever the call
            raise _Retry(f"cannot connect: {self._describe(exc)}") from exc
        except (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError) as exc:
            reason = f"no answer: {self._describe(exc)}"
            if idempotent:
                raise _Retry(reason) from exc
            raise self._unknown(call, campaign, reason) from exc
        except httpx.HTTPError as exc:
            raise self.error(TransportError, f"request failed: {self._describe(exc)}", call, campaign=campaign) from exc
        status = response.status_code
        if log.isEnabledFor(logging.DEBUG):  # the URL carries the xfyeta token: redacted
            log.debug("%s %s: HTTP %d %s from POST %s", self.profile.name, call, status, response.reason_phrase,
                      self.redact(str(request.url)))
        if status == 429:
            raise _Retry("HTTP 429 Too Many Requests", status, self._retry_after(response))
        if status >= 500:
            reason = f"HTTP {status} {response.reason_phrase}".rstrip()
            if idempotent:
                raise _Retry(reason, status, self._retry_after(response))
            raise self._unknown(call, campaign, reason)
        return response

    def _url(self, path: str, params: Mapping[str, str] | None) -> httpx.URL:
        """The absolute URL of ``path`` with ``params``, parsed once (parsing is a fair part of a call's CPU)."""
        key = (path, tuple(params.items()) if params else ())
        url = self._urls.known.get(key)
        if url is None:
            if len(self._urls.known) >= 256:  # a new token makes new URLs: forget the old ones
                self._urls.known.clear()
            url = self._urls.known[key] = httpx.URL(self._base + path, params=dict(params) if params else None)
        return url

    def _unknown(self, call: str, campaign: str, reason: str) -> OutcomeUnknown:
        return self.error(
            OutcomeUnknown,
            f"{reason} after the request was sent; the vendor may or may not have applied it "
            "(not re-sent; observe the platform first)",
            call,
            campaign=campaign,
        )

    def _describe(self, exc: BaseException) -> str:
        text = str(exc) or type(exc).__name__
        return self.redact(f"{type(exc).__name__}: {text}" if str(exc) else text)

    def parse_json(self, response: httpx.Response, call: str, *, idempotent: bool, campaign: str = "") -> Any:
        return parse_json(
            response, call, profile=self.profile.name, idempotent=idempotent, campaign=campaign, redact=self.redact
        )

    # -- pacing --------------------------------------------------------------

    def _throttle(self) -> None:
        """Space attempts ``1/rate_limit`` seconds apart across all threads."""
        if not self._interval:
            return
        with self._lock:
            now = self._clock()
            slot = max(now, self._next_slot)
            self._next_slot = slot + self._interval
        wait = slot - now
        if wait > 0:
            self._sleep(wait)

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait after failed try ``attempt`` (1-based): jittered backoff or Retry-After."""
        policy = self.retry
        if retry_after is not None and policy.honour_retry_after:
            return min(policy.max_delay, max(0.0, retry_after))
        ceiling = min(policy.max_delay, policy.backoff * (2 ** (attempt - 1)))
        return self._rng.uniform(0.0, ceiling)

    def sleep(self, seconds: float) -> None:
        """The injected sleep (providers wait through it for vendor-level "busy" retries)."""
        if seconds > 0:
            self._sleep(seconds)

    def _retry_after(self, response: httpx.Response) -> float | None:
        value = response.headers.get("Retry-After")
        if not value:
            return None
        value = value.strip()
        try:
            return max(0.0, float(value))
        except ValueError:
            pass
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when is None:
            return None
        return max(0.0, when.timestamp() - self._wall())

    def _event(
        self, call: str, campaign: str, attempt: int, attempts: int, status: int | None,
        error: str | None, retry_in: float | None,
    ) -> None:
        if self._on_event is not None:
            self._on_event(CallEvent(self.profile.name, call, campaign, attempt, attempts, status, error, retry_in))

    def close(self) -> None:
        self._transport.close()


def parse_json(
    response: httpx.Response,
    call: str,
    *,
    profile: str,
    idempotent: bool,
    campaign: str = "",
    redact: Callable[[str], str] = redact_text,
) -> Any:
    """The response body as a JSON object, or a clear ``ProviderError``.

    A body that is not a JSON object: for a 4xx status the vendor refused the
    request (``TransportError``); otherwise an idempotent call gets
    ``TransportError`` (``retryable``) and a mutating one ``OutcomeUnknown``
    (the vendor may have acted before answering garbage).
    """
    problem: str | None = None
    payload: Any = None
    try:
        payload = response.json()
    except (ValueError, UnicodeDecodeError):
        problem = "the answer is not JSON"
    else:
        if not isinstance(payload, dict):
            problem = "the answer is not a JSON object"
    if problem is None:
        return payload
    ctype = response.headers.get("Content-Type", "?").split(";")[0]
    snippet = " ".join(response.text[:80].split())
    message = redact(f"{problem} (HTTP {response.status_code}, {ctype}): {snippet!r}")
    if 400 <= response.status_code < 500:
        raise TransportError(message, profile=profile, call=call, campaign=campaign)
    if idempotent:
        raise TransportError(message, profile=profile, call=call, campaign=campaign, retryable=True)
    raise OutcomeUnknown(
        redact(f"{message}; the vendor may or may not have applied it (not re-sent)"),
        profile=profile, call=call, campaign=campaign,
    )
