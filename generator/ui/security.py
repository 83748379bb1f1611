"""Who may use the web app, and which requests may change anything.

- **Access**: bound to a loopback address, the app serves this machine's user (the Host header must
  name the loopback address, against DNS rebinding). Bound elsewhere it needs either an access token
  (``Authorization: Bearer <token>``, or once ``?token=<token>`` which sets an HttpOnly, SameSite=Strict
  cookie) or a trusted identity header set by an OIDC reverse proxy; anything else is refused 401.
- **CSRF**: every state-changing request is a POST carrying the per-session token (form field
  ``csrf`` or header ``X-CSRF-Token``) equal to the ``aiar_csrf`` cookie (SameSite=Strict); else 403.
- **Size**: a request body over its cap is refused 413 before or while it is read.
"""

from __future__ import annotations

import hmac
import ipaddress
import secrets
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode

from starlette.datastructures import URL, Headers
from starlette.responses import PlainTextResponse, RedirectResponse, Response

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

CSRF_COOKIE = "aiar_csrf"
CSRF_FIELD = "csrf"
CSRF_HEADER = "x-csrf-token"
TOKEN_COOKIE = "aiar_token"  # noqa: S105 (the cookie's name, not a secret)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class Access:
    host: str
    port: int
    token: str | None = None
    trust_header: str | None = None
    """A header (``X-Forwarded-User``) an authenticating reverse proxy sets; its value is the user."""
    allowed_hosts: tuple[str, ...] = ()
    """Host names served besides the loopback ones, on a loopback bind (a proxy on this machine that
    passes the public name on)."""

    def problem(self) -> str | None:
        """Why this configuration may not serve; None when it may."""
        if not is_loopback(self.host) and not self.token and not self.trust_header:
            return (
                f"binding {self.host} (not a loopback address) needs an access token "
                "(--token or AIAR_UI_TOKEN) or --trust-header of an authenticating reverse proxy"
            )
        return None

    def hosts(self) -> set[str] | None:
        """Host header names accepted on a loopback bind (None off loopback, where a token or a proxy's
        header is required). Always checked on loopback, token or not: a page that rebinds its own name
        to 127.0.0.1 is same-origin with itself and could otherwise set any header and read any page."""
        if not is_loopback(self.host):
            return None
        own = self.host if ":" not in self.host else f"[{self.host}]"
        return {"127.0.0.1", "localhost", "[::1]", own, *(h.lower() for h in self.allowed_hosts)}


class Guard:
    """ASGI middleware: access, then the Host header, then CSRF for POSTs, then body size caps."""

    def __init__(self, app: ASGIApp, access: Access, caps: dict[str, int], default_cap: int) -> None:
        self.app = app
        self.access = access
        self.caps = caps
        """Body cap in bytes by path prefix (uploads); ``default_cap`` for every other POST."""
        self.default_cap = default_cap

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        refused = self._refuse_access(scope, headers)
        if refused is not None:
            await refused(scope, receive, send)
            return
        cookies = _cookies(headers)
        csrf = cookies.get(CSRF_COOKIE) or ""
        new_csrf = "" if len(csrf) >= 32 else secrets.token_urlsafe(32)
        scope.setdefault("state", {})["csrf"] = csrf or new_csrf
        if new_csrf:
            scope["state"]["csrf"] = new_csrf
        if scope["method"] not in ("GET", "HEAD"):
            if scope["method"] != "POST":
                await PlainTextResponse("method not allowed", 405)(scope, receive, send)
                return
            cap = self.caps.get(scope["path"], self.default_cap)  # the upload routes' own paths, exactly
            length = headers.get("content-length")
            if length is not None and (not length.isdigit() or int(length) > cap):
                await PlainTextResponse(f"request body over the limit of {cap} bytes", 413)(scope, receive, send)
                return
            receive = _capped(receive, cap)
            if not csrf or new_csrf:
                await PlainTextResponse("CSRF check failed: no session cookie; reload the page", 403)(
                    scope, receive, send
                )
                return
            scope["state"]["csrf_expected"] = csrf  # the form field is compared in the route's form reader
            header = headers.get(CSRF_HEADER)
            if header is not None and not hmac.compare_digest(header.encode(), csrf.encode()):
                await PlainTextResponse("CSRF check failed", 403)(scope, receive, send)
                return
            scope["state"]["csrf_header_ok"] = header is not None

        async def send_with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start" and new_csrf:
                cookie = f"{CSRF_COOKIE}={new_csrf}; Path=/; HttpOnly; SameSite=Strict"
                message.setdefault("headers", []).append((b"set-cookie", cookie.encode()))
            await send(message)

        try:
            await self.app(scope, receive, send_with_cookie)
        except BodyTooLarge:
            await PlainTextResponse("request body over the limit", 413)(scope, receive, send)

    def _refuse_access(self, scope: Scope, headers: Headers) -> Response | None:
        access = self.access
        hosts = access.hosts()
        if hosts is not None and _host_name(headers.get("host", "")).lower() not in hosts:
            return PlainTextResponse("this Host is not served (bound to a loopback address; see --allow-host)", 421)
        if access.trust_header:
            user = headers.get(access.trust_header, "").strip()
            if not user:
                return PlainTextResponse(f"unauthenticated: no {access.trust_header} header", 401)
            # the proxy's word on who it is; with a token too, the token is still required below
            scope.setdefault("state", {})["user"] = user[:200]
        if not access.token:
            return None
        given = ""
        auth = headers.get("authorization", "")
        if auth.lower().startswith("bearer "):
            given = auth[7:].strip()
        cookie = _cookies(headers).get(TOKEN_COOKIE, "")
        query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
        if hmac.compare_digest(given.encode(), access.token.encode()) or hmac.compare_digest(
            cookie.encode(), access.token.encode()
        ):
            return None
        if scope["method"] == "GET" and hmac.compare_digest(query.get("token", "").encode(), access.token.encode()):
            # the token once in a link: remembered in a cookie, and taken out of the address bar
            rest = {k: v for k, v in query.items() if k != "token"}
            # a local path only ("//evil.example/x" would send the browser elsewhere)
            path = "/" + URL(scope=scope).path.lstrip("/")
            url = path + (f"?{urlencode(rest)}" if rest else "")
            response = RedirectResponse(url, 303)
            response.set_cookie(TOKEN_COOKIE, access.token, httponly=True, samesite="strict", path="/")
            return response
        return PlainTextResponse("unauthenticated: an access token is needed (Authorization: Bearer ...)", 401)


def _host_name(value: str) -> str:
    """The Host header without its port (``[::1]:8080`` is ``[::1]``)."""
    if value.startswith("["):
        return value.split("]", 1)[0] + "]"
    return value.rsplit(":", 1)[0]


class BodyTooLarge(Exception):
    pass


def _capped(receive: Receive, cap: int) -> Receive:
    seen = 0

    async def wrapped() -> Message:
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > cap:
                raise BodyTooLarge
        return message

    return wrapped


def _cookies(headers: Headers) -> dict[str, str]:
    from http.cookies import SimpleCookie

    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(headers.get("cookie", ""))
    except Exception:  # a malformed Cookie header is no cookie
        return {}
    return {k: v.value for k, v in jar.items()}


def csrf_ok(scope: Scope, given: str | None) -> bool:
    """The POST's form field matches the session's cookie (or its X-CSRF-Token header did)."""
    state = scope.get("state") or {}
    if state.get("csrf_header_ok"):
        return True
    expected = state.get("csrf_expected") or ""
    return bool(expected) and given is not None and hmac.compare_digest(given.encode(), expected.encode())
