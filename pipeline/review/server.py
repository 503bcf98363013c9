"""The review page: a small Starlette app served by uvicorn.

Security, in order of the request's path through the app:
* request bodies over ``max_body`` bytes get 413 before they are read in full;
* bound to a loopback address, the Host header must name a loopback host (no DNS
  rebinding); bound anywhere else, a token is required and checked on every request
  (``?token=`` once, then an HttpOnly SameSite=Strict cookie, or an
  ``Authorization: Bearer`` header);
* state-changing requests are JSON POSTs carrying ``X-CSRF-Token``, an HMAC of the
  per-browser session cookie (SameSite=Strict);
* the only routes are fixed: the page, two in-memory assets, an empty icon and the JSON
  API (the codebook help is read once at start), so no path reaches the file system;
* all passage text goes to the page as JSON and is rendered with ``textContent``.
"""
from __future__ import annotations

import hashlib
import hmac
import html
import ipaddress
import re
import secrets
from importlib import resources

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from pipeline.errors import IntcapError, StoreError
from pipeline import safejson
from pipeline.review.answers import ReviewError, validate_reviewer
from pipeline.review.codebook_help import codebook_help
from pipeline.review.session import ReviewSession, Visit

MAX_BODY = 64 * 1024
MAX_VISITS = 10_000
SESSION_COOKIE = "intcap_session"
TOKEN_COOKIE = "intcap_token"
LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1", "[::1]"}

HEADERS = {
    "Content-Security-Policy": ("default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
                                "img-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def _asset(name: str) -> str:
    return resources.files("pipeline.review").joinpath("assets", name).read_text(encoding="utf-8")


#: the only files served, read once into memory
ASSETS = {"app.js": ("text/javascript; charset=utf-8", _asset("app.js")),
          "app.css": ("text/css; charset=utf-8", _asset("app.css"))}
PAGE = _asset("page.html")


def is_loopback(host: str) -> bool:
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def require_token(host: str, token: str | None) -> None:
    """Refuse a non-loopback bind without a token."""
    if not is_loopback(host) and not token:
        raise IntcapError(f"binding {host} exposes the review page beyond this machine; expected a token "
                          "(pass --token SECRET, or let `intcap review serve` generate one), found none")


class Guard:
    """ASGI middleware: body size limit, Host check, token check, security headers."""

    def __init__(self, app, *, host: str, token: str | None, max_body: int):
        require_token(host, token)
        self.app, self.token, self.max_body, self.loopback = app, token, max_body, is_loopback(host)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        request = Request(scope)

        async def send_headers(message):
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] += [(k.lower().encode(), v.encode()) for k, v in HEADERS.items()]
            await send(message)

        length = request.headers.get("content-length", "")
        if length and (not length.isdigit() or int(length) > self.max_body):
            return await self._reply(PlainTextResponse(f"request body over {self.max_body} bytes", 413),
                                     scope, receive, send_headers)
        if self.loopback and not is_loopback(_host_name(request.headers.get("host", ""))):
            return await self._reply(PlainTextResponse("unexpected Host header; open the page at 127.0.0.1", 421),
                                     scope, receive, send_headers)
        if self.token:
            given = (request.query_params.get("token") or request.cookies.get(TOKEN_COOKIE)
                     or request.headers.get("authorization", "").removeprefix("Bearer ").strip())
            if not given or not hmac.compare_digest(given.encode(), self.token.encode()):
                return await self._reply(PlainTextResponse(
                    "a token is required: open the URL printed by `intcap review serve`", 401),
                    scope, receive, send_headers)
            if "token" in request.query_params:  # move the token from the URL into a cookie
                response = RedirectResponse(request.url.path, 303)
                response.set_cookie(TOKEN_COOKIE, self.token, httponly=True, samesite="strict")
                return await self._reply(response, scope, receive, send_headers)
        received = 0

        async def limited_receive():
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body:
                    raise BodyTooLarge()
            return message

        await self.app(scope, limited_receive, send_headers)

    @staticmethod
    async def _reply(response, scope, receive, send):
        await response(scope, receive, send)


class BodyTooLarge(Exception):
    """Raised while reading a request body that outgrows the limit (answered with 413)."""


_HOST = re.compile(r"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(?::[0-9]{1,5})?")


def _host_name(header: str) -> str:
    """The host part of a Host header, or "" when the header is not strictly host[:port]
    (so "127.0.0.1:80@evil.example" names no host at all)."""
    m = _HOST.fullmatch(header.strip())
    return m.group(1) if m else ""


class ReviewApp:
    """The routes; one instance per served corpus."""

    def __init__(self, session: ReviewSession, reviewer: str):
        self.session = session
        self.reviewer = validate_reviewer(reviewer)
        self.secret = secrets.token_bytes(32)
        self.visits: dict[str, Visit] = {}
        self.help = codebook_help()

    def csrf_for(self, sid: str) -> str:
        return hmac.new(self.secret, sid.encode(), hashlib.sha256).hexdigest()

    def visit(self, request: Request) -> tuple[str, Visit]:
        sid = request.cookies.get(SESSION_COOKIE, "")
        if not sid or sid not in self.visits:
            raise ReviewError("no review session: reload the page")
        return sid, self.visits[sid]

    async def page(self, request: Request) -> Response:
        sid = request.cookies.get(SESSION_COOKIE, "")
        if sid not in self.visits:
            sid = secrets.token_urlsafe(32)
            if len(self.visits) >= MAX_VISITS:  # forget the oldest browser session
                self.visits.pop(next(iter(self.visits)))
            self.visits[sid] = Visit()
        body = (PAGE.replace("{{csrf}}", html.escape(self.csrf_for(sid)))
                .replace("{{reviewer}}", html.escape(self.reviewer))
                .replace("{{corpus}}", html.escape(self.session.corpus.name)))
        response = Response(body, media_type="text/html; charset=utf-8")
        response.set_cookie(SESSION_COOKIE, sid, httponly=True, samesite="strict")
        return response

    async def asset(self, request: Request) -> Response:
        media, text = ASSETS[request.url.path.rsplit("/", 1)[-1]]
        return Response(text, media_type=media)

    async def no_icon(self, request: Request) -> Response:
        """The browser asks for an icon on every page load; answering 204 keeps its console free of 404s."""
        return Response(status_code=204)

    async def codebook(self, request: Request) -> Response:
        """Code names, definitions and an example of each valence, for the page's side panel."""
        return JSONResponse(self.help)

    async def next(self, request: Request) -> Response:
        """The passage to show; ``given`` carries the reviewer's own answer when it was just undone."""
        sid, visit = self.visit(request)
        coding = await run_in_threadpool(self.session.next_coding, visit, sid)
        item = self.session.describe(coding) if coding else None
        if item is not None:
            item["given"] = visit.restored_for(item["id"])
        return JSONResponse({"passage": item, **await self.figures()})

    async def figures(self) -> dict:
        """progress (reviewed, queued, agreement) and how many answers the next retrain will use."""
        return {"progress": await run_in_threadpool(self.session.progress),
                "retrain": {"answers": await run_in_threadpool(self.session.retrain_answers)}}

    async def post(self, request: Request) -> Response:
        """answer / skip / undo: JSON body, CSRF header checked against the session cookie."""
        sid, visit = self.visit(request)
        if not hmac.compare_digest(request.headers.get("x-csrf-token", "").encode(), self.csrf_for(sid).encode()):
            return JSONResponse({"error": "missing or wrong CSRF token: reload the page"}, 403)
        if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
            return JSONResponse({"error": "expected Content-Type: application/json"}, 415)
        try:
            body = safejson.loads(await request.body())
        except ValueError as exc:
            raise ReviewError(f"request body: {exc}") from exc
        if not isinstance(body, dict):
            raise ReviewError("expected a JSON object")
        action = request.url.path.rsplit("/", 1)[-1]
        reviewer = validate_reviewer(body.get("reviewer") or self.reviewer)
        if action == "answer":
            stored = await run_in_threadpool(self.session.answer, str(body.get("passage_id", "")),
                                             body.get("codes"), reviewer, visit)
            result = {"ok": True, "answer_id": stored.id, "passage_id": stored.passage_id}
        elif action == "skip":
            self.session.skip(str(body.get("passage_id", "")), visit, sid)
            result = {"ok": True}
        else:
            undone = await run_in_threadpool(self.session.undo, reviewer, visit)
            result = {"ok": True, "undone": undone.passage_id if undone else None,
                      "codes": dict(undone.codes) if undone else None}
        result.update(await self.figures())
        return JSONResponse(result)


async def _too_large(request: Request, exc: Exception) -> Response:
    return PlainTextResponse("request body too large", 413)


async def _review_error(request: Request, exc: Exception) -> Response:
    return JSONResponse({"error": str(exc)}, 503 if isinstance(exc, StoreError) else 400)


def create_app(session: ReviewSession, *, host: str = "127.0.0.1", token: str | None = None,
               reviewer: str = "reviewer", max_body: int = MAX_BODY) -> Guard:
    """The ASGI app for one corpus; refuses a non-loopback ``host`` without a token."""
    require_token(host, token)
    routes = ReviewApp(session, reviewer)
    app = Starlette(routes=[
        Route("/", routes.page, methods=["GET"]),
        Route("/assets/app.js", routes.asset, methods=["GET"]),
        Route("/assets/app.css", routes.asset, methods=["GET"]),
        Route("/api/next", routes.next, methods=["GET"]),
        Route("/api/codebook", routes.codebook, methods=["GET"]),
        Route("/favicon.ico", routes.no_icon, methods=["GET"]),
        Route("/api/answer", routes.post, methods=["POST"]),
        Route("/api/skip", routes.post, methods=["POST"]),
        Route("/api/undo", routes.post, methods=["POST"]),
    ], exception_handlers={ReviewError: _review_error, IntcapError: _review_error, BodyTooLarge: _too_large})
    return Guard(app, host=host, token=token, max_body=max_body)


def serve(session: ReviewSession, *, host: str = "127.0.0.1", port: int = 8765, token: str | None = None,
          reviewer: str = "reviewer", announce=print) -> None:
    """Bind, print the URL (with the token when one is needed), and serve until interrupted."""
    import socket

    import uvicorn

    app = create_app(session, host=host, token=token, reviewer=reviewer)
    family = socket.AF_INET6 if ":" in host.strip("[]") else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host.strip("[]"), port))
        sock.listen(128)  # before the URL is printed: a client that connects at once is queued, not refused
    except OSError as exc:
        sock.close()
        raise IntcapError(f"cannot listen on {host}:{port} ({exc}); pick another --port (0 = any free port)") from exc
    bound = sock.getsockname()[1]
    shown = f"[{host.strip('[]')}]" if family == socket.AF_INET6 else host
    url = f"http://{shown}:{bound}/" + (f"?token={token}" if token else "")
    announce(f"reviewing {session.corpus.name} ({len(session.corpus)} passages) at {url}")
    config = uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False)
    uvicorn.Server(config).run(sockets=[sock])
