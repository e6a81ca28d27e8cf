"""The vendor registry: every vendor campaignctl speaks, one spec module each.

``get(type)`` is the :class:`~reconciler.vendors.base.VendorSpec` of a
profile type, ``types()`` the registered type names. A vendor is a module
``reconciler/vendors/<type>.py`` defining ``SPEC``; its client is
``reconciler/providers/<type>.py`` (``CLIENT``) and its emulator
``reconciler/emulator/<type>.py`` (``EMULATOR``). The registry finds the spec
modules itself, so adding a vendor touches no list here.

The config loader (profile types, defaults, credentials, campaign rules), the
providers (defaults, capabilities, naming), the CLI (``--provider`` choices)
and the JSON Schemas (``reconciler.vendors.schema``) read this registry.
"""

from __future__ import annotations

import functools
import importlib
import pkgutil

from reconciler.vendors.base import VendorSpec

__all__ = ["UnknownVendor", "VendorSpec", "all_specs", "get", "types"]

_NOT_VENDORS = frozenset({"base"})


class UnknownVendor(LookupError):
    """No vendor of that type is registered."""

    def __init__(self, type_: object) -> None:
        super().__init__(f"unknown provider type {type_!r} (known: {', '.join(types())})")


@functools.cache
def _registry() -> dict[str, VendorSpec]:
    found: dict[str, VendorSpec] = {}
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name):
        if info.name.startswith("_") or info.name in _NOT_VENDORS:
            continue
        spec = getattr(importlib.import_module(f"{__name__}.{info.name}"), "SPEC", None)
        if isinstance(spec, VendorSpec):
            if spec.type != info.name:
                raise RuntimeError(f"vendor module {info.name!r} declares type {spec.type!r}; they must be equal")
            found[spec.type] = spec
    return found


def types() -> tuple[str, ...]:
    """The registered vendor types, sorted."""
    return tuple(_registry())


def all_specs() -> tuple[VendorSpec, ...]:
    return tuple(_registry().values())


def get(type_: object) -> VendorSpec:
    """The spec of a profile type; :class:`UnknownVendor` when none is registered."""
    spec = _registry().get(type_) if isinstance(type_, str) else None
    if spec is None:
        raise UnknownVendor(type_)
    return spec
