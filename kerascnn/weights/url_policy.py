"""Where downloads may come from: https only (``http``/``file`` on loopback hosts or with
``KERASCNN_ALLOW_INSECURE=1``), ``KERASCNN_MIRROR`` rewriting, ``KERASCNN_OFFLINE``."""

from __future__ import annotations

import ipaddress
import os
import re
import urllib.request
from urllib.parse import urlsplit

from kerascnn.errors import UserError

__all__ = ["CheckedRedirects", "check_origin", "mirror_url", "offline"]


def offline() -> bool:
    """Whether ``KERASCNN_OFFLINE`` forbids network access."""
    return os.environ.get("KERASCNN_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def mirror_url(url: str) -> str:
    """``url`` rewritten by ``KERASCNN_MIRROR``: ``https://mirror.lan/weights`` maps
    ``https://host/a/b.h5`` to ``https://mirror.lan/weights/a/b.h5``; ``FROM=TO`` rules replace
    a URL prefix."""
    for rule in os.environ.get("KERASCNN_MIRROR", "").split():
        m = re.fullmatch(r"(\w+://[^=]*)=(\w+://.*)", rule)
        if m and url.startswith(m.group(1)):
            return m.group(2) + url[len(m.group(1)) :]
        if not m and "://" in rule:
            return rule.rstrip("/") + "/" + urlsplit(url).path.lstrip("/")
    return url


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_origin(url: str) -> None:
    """Refuse anything but ``https``, except ``http``/``file`` on loopback or when allowed."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.scheme == "https" or (parts.scheme == "file" and host in ("", "localhost")):
        return
    allowed = _loopback(host) or os.environ.get("KERASCNN_ALLOW_INSECURE") == "1"
    if parts.scheme in ("http", "file") and allowed:
        return
    raise UserError(
        f"{url}: refusing to download over {parts.scheme or 'no scheme'}; only https "
        "(http/file only from a loopback host, or with KERASCNN_ALLOW_INSECURE=1)"
    )


class CheckedRedirects(urllib.request.HTTPRedirectHandler):
    """Redirects must obey the same scheme rule (no https -> http downgrade)."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):  # noqa: ANN001
        check_origin(newurl)
        return super().redirect_request(req, fp, code, msg, headers, newurl)
