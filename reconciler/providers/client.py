"""What every provider client shares: construction, the login flow, parsing and paging helpers.

Public surface::

    VendorClient(profile, *, credentials, transport=None, timezone="Asia/Shanghai",
                 sleep=time.sleep, clock=time.monotonic, wall=time.time, retry=None, on_event=None)
        .profile .spec .options .capabilities .limits .tz .http .session .logins
        .task_name(campaign, wave) .wave_of(remote_name, campaign) .owns(task) .close()
    Session(login, *, fixed=None, clock=time.monotonic, refresh_margin=0.0, cannot_renew=None)
        .token(call, campaign) .renew(stale, call, campaign) .send(attempt, refused, call, campaign) .logins
    as_int(value, default=None) / first_int(row, keys) / json_list(value) / snippet(value)
    pages(fetch_page, *, ahead=1) -> Iterator of rows, page 1, 2, ... until the reported total is covered
        (with ahead > 1, the pages after the first are fetched that many at a time)

The login flow (httpx's ``Auth`` idea, STYLE "httpx's auth is one flow"): a
token is fetched on first use and cached for every thread; it is renewed
``refresh_margin`` seconds before it expires, and once more when the vendor
refuses a call for the token, after which that call is re-sent exactly once.
Re-sending is safe even for mutating calls: a refused token means the
vendor did not act. A second refusal is the vendor's answer, not retried.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import httpx

from reconciler import vendors
from reconciler.errors import AuthError, ProviderError
from reconciler.model import ProviderProfile, Secret
from reconciler.providers.base import ObservedTask
from reconciler.providers.http import CallEvent, HttpTransport, RetryPolicy

__all__ = ["MAX_PAGES", "Session", "VendorClient", "as_int", "first_int", "json_list", "pages", "snippet"]

MAX_PAGES = 10_000  # a listing longer than this is a vendor bug, not data
T = TypeVar("T")
Row = TypeVar("Row")
E = TypeVar("E", bound=ProviderError)


# --------------------------------------------------------------------------------------- parsing


def as_int(value: Any, default: int | None = None) -> int | None:
    """Tolerant integer: vendors send numbers, numeric strings (``"3"``, ``"3.0"``), null or nothing."""
    if value is None or isinstance(value, bool):
        return default
    if isinstance(value, int):
        return value
    try:
        return int(value)
    except (TypeError, ValueError, OverflowError):
        try:
            return int(float(value))
        except (TypeError, ValueError, OverflowError):
            return default


def first_int(row: Mapping[str, Any], keys: Sequence[str]) -> int | None:
    """The first of ``keys`` that holds an integer (vendors spell the same count differently)."""
    for key in keys:
        value = as_int(row.get(key))
        if value is not None:
            return value
    return None


def json_list(value: Any) -> list[Any]:
    """A list sent as a list or as JSON text (xfyeta ``time_range``: ``"[\\"09:00:00-12:00:00\\"]"``)."""
    if isinstance(value, list):
        return value
    if isinstance(value, str) and value.strip():
        try:
            parsed = json.loads(value)
        except ValueError:
            return []
        return parsed if isinstance(parsed, list) else []
    return []


def snippet(value: Any, size: int = 160) -> str:
    """A short JSON rendering of a vendor answer for error messages (redact it before showing)."""
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= size else text[: size - 3] + "..."


def pages(fetch_page: Callable[[int], tuple[Sequence[Row], int | None]], *, ahead: int = 1) -> Iterator[Row]:
    """Rows of a paged listing: ``fetch_page(n)`` gives page n's rows and the reported total (or None).

    Stops at an empty page, when the rows seen cover the total, or when no
    total is reported (one page); at most :data:`MAX_PAGES` pages.

    With ``ahead`` > 1, the pages page 1's total implies (at page 1's length:
    a vendor may answer fewer rows than asked) are fetched up to ``ahead`` at
    a time: the same calls in fewer round trips (1,000 tasks are 20 pages).
    Rows still come in page order and the listing stops where one page at a
    time would; a failed page raises in page order, and no page not yet sent
    is sent after it. A total that grew meanwhile is read on one page at a time.
    """
    seen = 0
    with contextlib.closing(_answers(fetch_page, ahead)) as answers:
        for rows, total in answers:
            yield from rows
            seen += len(rows)
            if not rows or total is None or seen >= total:
                return


def _answers(fetch_page: Callable[[int], tuple[Sequence[Row], int | None]],
             ahead: int) -> Generator[tuple[Sequence[Row], int | None], None, None]:
    """Page 1's answer, then those of the pages its total implies (``ahead`` at a time), then one page at
    a time; each asked for only once the caller wants it. Closed early, it sends nothing more."""
    rows, total = fetch_page(1)
    yield rows, total
    after = 2  # the first page not fetched yet
    last = min(MAX_PAGES, -(-total // len(rows))) if rows and total is not None else 0
    if ahead > 1 and last > after:
        with ThreadPoolExecutor(max_workers=min(ahead, last - 1), thread_name_prefix="listing") as pool:
            futures = [pool.submit(fetch_page, n) for n in range(after, last + 1)]
            try:
                for future in futures:
                    yield future.result()
            finally:  # ended early (a failed page, an empty one, the total covered): send nothing more
                for future in futures:
                    future.cancel()
        after = last + 1
    for page in range(after, MAX_PAGES + 1):
        yield fetch_page(page)


# --------------------------------------------------------------------------------------- login


class Session:
    """The cached token of one profile and the re-login-once flow, shared by threads.

    ``login(call, campaign)`` fetches a token and returns it with its lifetime
    in seconds (None: valid until refused). ``fixed`` is a ready token that
    cannot be renewed: when it is refused, ``cannot_renew(call, campaign)``
    is raised. Tokens are kept as :class:`Secret` values (no repr shows them).
    """

    def __init__(
        self,
        login: Callable[[str, str], tuple[str, float | None]] | None,
        *,
        fixed: Secret | None = None,
        clock: Callable[[], float] = time.monotonic,
        refresh_margin: float = 0.0,
        cannot_renew: Callable[[str, str], ProviderError] | None = None,
    ) -> None:
        if login is None and fixed is None:
            raise ValueError("a session needs a login or a fixed token")
        self._login = login
        self._fixed = fixed
        self._clock = clock
        self._margin = refresh_margin
        self._cannot_renew = cannot_renew
        self._lock = threading.Lock()
        self._token: Secret | None = fixed
        self._expires_at = float("inf")  # monotonic
        self._logins = 0

    @property
    def logins(self) -> int:
        """How many tokens were fetched so far (tests and diagnostics)."""
        return self._logins

    def token(self, call: str, campaign: str = "") -> str:
        """The current token, fetched (or renewed before it expires) when needed."""
        with self._lock:
            if self._token is None or (self._fixed is None and self._clock() >= self._expires_at):
                self._fetch(call, campaign)
            assert self._token is not None
            return self._token.reveal()

    def renew(self, stale: str, call: str, campaign: str = "") -> None:
        """The vendor refused ``stale``: fetch a new token, unless another thread already did."""
        with self._lock:
            if self._fixed is not None or self._login is None:
                if self._cannot_renew is not None:
                    raise self._cannot_renew(call, campaign)
                raise AuthError("the token was refused and cannot be renewed", call=call, campaign=campaign)
            if self._token is None or self._token.reveal() == stale:
                self._fetch(call, campaign)

    def send(self, attempt: Callable[[str], T], refused: Callable[[T], bool], call: str, campaign: str = "") -> T:
        """``attempt(token)``; when its answer says the token was refused, renew and re-send once."""
        token = self.token(call, campaign)
        answer = attempt(token)
        if refused(answer):
            self.renew(token, call, campaign)
            answer = attempt(self.token(call, campaign))
        return answer

    def _fetch(self, call: str, campaign: str) -> None:
        assert self._login is not None
        token, ttl = self._login(call, campaign)
        self._token = Secret(token)
        self._expires_at = float("inf") if ttl is None else self._clock() + max(0.0, ttl - self._margin)
        self._logins += 1


# --------------------------------------------------------------------------------------- the client


def credentials_for(profile: ProviderProfile, credentials: Mapping[str, Secret]) -> dict[str, Secret]:
    """The first complete credential set of the vendor's (in its order of preference), or an ``AuthError``."""
    spec = vendors.get(profile.type)
    given = {role: secret for role, secret in credentials.items() if secret}
    for roles in spec.credentials:
        if all(role in given for role in roles):
            return {role: given[role] for role in roles}
    partial = next((roles for roles in spec.credentials if any(r in given for r in roles)), spec.credentials[0])
    missing = [role for role in partial if role not in given]
    envs = ", ".join(profile.credentials_env.get(role, f"{role}_env") for role in missing)
    named = ", ".join(repr(role) for role in missing)
    raise AuthError(f"credential {named} is missing (set the environment variable {envs})", profile=profile.name)


class VendorClient:
    """The shape every provider shares; a vendor's client subclasses it.

    ``options`` holds every option of the profile's type with its default
    (the vendor spec is their one source), ``capabilities`` and ``limits``
    come from the spec, ``http`` is the one transport, ``session`` the login
    flow (the subclass builds it in ``_setup``, because what a login is
    differs). Every credential is registered as a secret with the transport.
    """

    def __init__(
        self,
        profile: ProviderProfile,
        *,
        credentials: Mapping[str, Secret],
        transport: httpx.BaseTransport | None = None,
        timezone: str = "Asia/Shanghai",
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
        retry: RetryPolicy | None = None,
        on_event: Callable[[CallEvent], None] | None = None,
    ) -> None:
        self.profile = profile
        self.spec = vendors.get(profile.type)
        self.options = self.spec.options(profile.options, profile.name_prefix)
        self.capabilities = self.spec.capabilities
        self.limits = self.spec.limits(self.options)
        self.tz = ZoneInfo(str(self.options.get("timezone") or timezone))
        self.listing_ahead = int(self.options.get("listing_parallelism") or 1)  # ``pages(ahead=)``
        self.prefix = profile.name_prefix
        self.credentials = credentials_for(profile, credentials)
        self._clock = clock
        self._wall = wall
        self.http = HttpTransport(profile, transport=transport, sleep=sleep, retry=retry, clock=clock, wall=wall,
                                  on_event=on_event)
        for secret in self.credentials.values():
            self.http.add_secret(secret.reveal())
        self.session = self._setup()

    def _setup(self) -> Session:
        """Read this vendor's own options and return its login flow (called once, last, by ``__init__``)."""
        raise NotImplementedError

    def __repr__(self) -> str:
        base_url = self.http.redact(self.profile.base_url)
        return f"{type(self).__name__}(profile={self.profile.name!r}, base_url={base_url!r})"

    @property
    def logins(self) -> int:
        """How many times this client logged in / fetched a token (tests and diagnostics)."""
        return self.session.logins

    def error(self, cls: type[E], message: str, call: str, *, campaign: str = "", **kwargs: Any) -> E:
        """A ``cls`` naming this profile, ``message`` redacted (see ``HttpTransport.error``)."""
        return self.http.error(cls, message, call, campaign=campaign, **kwargs)

    # --- naming: the vendor's rule -----------------------------------------------------------------

    def task_name(self, campaign: str, wave: int) -> str:
        return self.spec.task_name(self.prefix, campaign, wave)

    def wave_of(self, remote_name: str, campaign: str) -> int | None:
        return self.spec.wave_of(remote_name, self.prefix, campaign)

    def owns(self, task: ObservedTask) -> bool:
        return task.name.startswith(self.prefix)

    def close(self) -> None:
        self.http.close()
