"""The one exception tree of campaignctl, and the exit codes.

Every error a user can meet is a :class:`CampaignctlError` carrying a message
written for that user. Lower-level errors (httpx, sqlite3, psycopg, yaml) are
translated where they are met, with ``raise ... from exc``, so the CLI never
shows a traceback; tracebacks go to the debug log only.

    CampaignctlError
    ├── ConfigError              invalid files (carries every Problem)
    ├── ProviderError            a vendor call failed (profile, call, campaign, vendor_code)
    │   ├── TransportError       connect / timeout / unreadable answer
    │   ├── VendorError          the vendor answered with an error code
    │   ├── AuthError            credentials missing, refused or expired
    │   └── OutcomeUnknown       a mutating call whose effect is unknown
    ├── StateError               the state store failed or is inconsistent
    │   ├── StateMissing         no initialised state there (missing, empty, no lineage)
    │   ├── LockTimeout          another apply holds the lock
    │   └── LockHeld             unlock refused: the lock's holder is alive
    ├── PlanError                the plan cannot be made or applied
    │   └── StalePlan            a saved plan no longer matches
    └── Aborted                  the user declined, or no terminal to ask
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

__all__ = [
    "Aborted",
    "AuthError",
    "CampaignctlError",
    "ConfigError",
    "ExitCode",
    "LockHeld",
    "LockTimeout",
    "NotSent",
    "OutcomeUnknown",
    "PlanError",
    "Problem",
    "ProviderError",
    "StalePlan",
    "StateError",
    "StateMissing",
    "TransportError",
    "VendorError",
]


class ExitCode(enum.IntEnum):
    OK = 0
    ERROR = 1
    CHANGES = 2  # only with --detailed-exitcode
    INTERNAL = 3  # a bug: the traceback is in the debug log
    INTERRUPTED = 130


@dataclass(frozen=True, order=True)
class Problem:
    """One thing wrong with the input, located as precisely as known.

    Sorted by file, then line, so reports read top to bottom. ``line`` is
    1-based; 0 means "the file as a whole".
    """

    file: str
    line: int
    field: str
    message: str
    severity: str = "error"  # "error" | "warning"

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        field = f" {self.field}:" if self.field else ""
        prefix = "warning: " if self.severity == "warning" else ""
        return f"{where}:{field} {prefix}{self.message}"


class CampaignctlError(Exception):
    """Base of every error shown to a user; ``str(err)`` is the message."""

    exit_code: ExitCode = ExitCode.ERROR

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class ConfigError(CampaignctlError):
    """The config directory is invalid; ``problems`` lists every fault."""

    def __init__(self, problems: Iterable[Problem], message: str | None = None) -> None:
        self.problems: Sequence[Problem] = tuple(sorted(problems))
        errors = [p for p in self.problems if p.severity == "error"]
        super().__init__(message or f"{len(errors)} problem(s) in the configuration")


class ProviderError(CampaignctlError):
    """A vendor call failed. Names the profile, the call and the campaign.

    ``vendor_code`` is the code the vendor answered with ("" when no vendor
    answer is behind the error); when set, the message says ``vendor error
    CODE: ...``. ``detail`` is the message without that prefix and without
    the profile/call/campaign names.
    """

    def __init__(
        self,
        message: str,
        *,
        profile: str = "",
        call: str = "",
        campaign: str = "",
        retryable: bool = False,
        vendor_code: str = "",
    ) -> None:
        self.profile = profile
        self.call = call
        self.campaign = campaign
        self.retryable = retryable
        self.vendor_code = vendor_code
        self.detail = message
        where = " ".join(
            part
            for part in (
                f"profile {profile!r}" if profile else "",
                f"call {call}" if call else "",
                f"campaign {campaign!r}" if campaign else "",
            )
            if part
        )
        text = f"vendor error {vendor_code}: {message}" if vendor_code else message
        super().__init__(f"{where}: {text}" if where else text)

    def with_campaign(self, campaign: str) -> ProviderError:
        """Return a copy of this error (same class) that also names the campaign."""
        clone = type(self).__new__(type(self))
        clone.__dict__.update(self.__dict__)
        ProviderError.__init__(
            clone,
            self.detail,
            profile=self.profile,
            call=self.call,
            campaign=campaign,
            retryable=self.retryable,
            vendor_code=self.vendor_code,
        )
        return clone


class TransportError(ProviderError):
    """No usable answer: connection refused, timeout, non-JSON body, 5xx."""


class VendorError(ProviderError):
    """The vendor answered with a business error code (``vendor_code``)."""


class AuthError(ProviderError):
    """Credentials missing, refused or expired beyond one refresh.

    ``vendor_code`` is set when the vendor refused them, empty when they were
    missing before any call was made.
    """


class OutcomeUnknown(ProviderError):
    """A mutating call was sent and no answer came back.

    The call may or may not have taken effect. It must never be re-sent
    blindly: the engine observes the platform to learn what happened.
    """


class NotSent(ProviderError):
    """A call was stopped right before it would have been sent (its ``gate`` refused it, e.g. the
    calling hours closed while it waited for a token, a retry or the rate limit).

    Nothing of it reached the vendor: safe to send later, and nothing to settle.
    """


class StateError(CampaignctlError):
    """The state store cannot be read or written, or is inconsistent."""


class StateMissing(StateError):
    """No initialised state at ``location``: it does not exist, is empty, or has
    no lineage. Never read as "nothing was sent": plan and apply stop and say
    how to init, restore or rebuild.

    ``location`` names where the state was looked for (a file path, or
    ``PostgreSQL schema NAME at host:port/db``), never a DSN; ``missing`` says
    what is not there (``"does not exist"``, ``"is empty"``, ...).
    """

    def __init__(self, message: str, *, location: str = "", missing: str = "") -> None:
        super().__init__(message)
        self.location = location
        self.missing = missing


class LockTimeout(StateError):
    """Another apply holds the state lock past ``--lock-timeout``."""


class LockHeld(StateError):
    """``force_unlock`` without ``force`` on a lock whose holder is still alive.

    ``holder`` is ``user@host pid N``; ``since`` the ISO time it took the lock.
    """

    def __init__(
        self, message: str, *, lock_id: str = "", holder: str = "", operation: str = "", since: str = ""
    ) -> None:
        super().__init__(message)
        self.lock_id = lock_id
        self.holder = holder
        self.operation = operation
        self.since = since


class PlanError(CampaignctlError):
    """The plan cannot be made, or cannot be applied as it stands."""


class StalePlan(PlanError):
    """A saved plan was made against a platform or state that has changed."""


class Aborted(CampaignctlError):
    """The user declined the confirmation, or there was no terminal to ask."""
