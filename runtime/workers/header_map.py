"""gunicorn's ``header_map`` and ``forwarder_headers`` settings, as a header name policy.

gunicorn (22.0 and later) decides what happens to a request header whose name contains
``_`` (why: :mod:`runtime.http.forwarded`):

- a name listed in ``forwarder_headers`` (compared with the name upper-cased; ``*`` lists every
  name), sent by a peer in ``forwarded_allow_ips`` (a unix-socket peer always is), is kept
  whatever ``header_map`` says;
- otherwise ``header_map = drop`` (the default) removes it as if it had never been sent,
  ``refuse`` answers the whole request with 400, and ``dangerous`` keeps it.

The worker applies the same rule to every request it serves, before the request object is
built, so the application, the ``pre_request``/``post_request`` hooks, the access log and StatsD
all see the same headers. Trailer fields are not filtered: they never reach an environ.
Settings: https://docs.gunicorn.org/en/stable/settings.html#header-map and
https://docs.gunicorn.org/en/stable/settings.html#forwarder-headers
"""

from __future__ import annotations

from typing import Any

from ..http.forwarded import HeaderNamePolicy

__all__ = ["header_name_policy"]


def header_name_policy(cfg: Any) -> HeaderNamePolicy | None:
    """The policy for gunicorn's settings; ``None`` for ``dangerous`` (keep everything).

    As in gunicorn, a value other than ``drop`` or ``dangerous`` refuses (its fail-safe).
    """
    mode = getattr(cfg, "header_map", "drop")
    if mode == "dangerous":
        return None
    forwarders = getattr(cfg, "forwarder_headers", None) or []
    if isinstance(forwarders, str):
        forwarders = [name.strip() for name in forwarders.split(",") if name.strip()]
    return HeaderNamePolicy(refuse=mode != "drop", forwarder_headers=forwarders)
