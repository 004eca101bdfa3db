"""The server-rendered web page: login, the feed with filters, the case page and its forms.

No front-end build and no CDN: Jinja templates (autoescaped) and one stylesheet served
from the package. Forms post with the session's CSRF token and the alert's seq, so a
form filled in on a stale page is refused (409) instead of overwriting someone's work.
"""

from __future__ import annotations

import datetime
import hmac
import importlib.resources
import urllib.parse
from functools import cache
from typing import Any

import jinja2
from aiohttp import web

from alerts.access import AuthenticationError, may_act
from alerts.feed import api
from alerts.feed.chart import curve
from alerts.feed.context import BACKEND, CONFIG, SESSION, SESSION_COOKIE, user_of
from alerts.feed.errors import describe
from alerts.feed.query import alert_query
from alerts.feed.schemas import RequestInvalid
from alerts.lifecycle import Action, allowed_actions, event_label
from alerts.model import AlertState, Outcome, ReasonCode
from alerts.users import SESSION_TTL_MS
from detectors.threshold_schema import RULES
from dianyan.errors import DianyanError

CST = datetime.timezone(datetime.timedelta(hours=8))
_FORM_FIELDS = ("department", "owner", "outcome", "reason_code", "comment", "case_number")
_FORM_FIELDS += ("result", "text")


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/", _feed)
    router.add_get("/login", _login_form)
    router.add_post("/login", _login)
    router.add_post("/logout", _logout)
    router.add_get("/alerts/{alert_id}", _case)
    router.add_post("/alerts/{alert_id}/act", _act)
    static = importlib.resources.files("alerts.feed") / "static"
    router.add_static("/static", str(static), name="static", append_version=True)


@cache
def _templates() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("alerts.feed", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters["cst"] = _cst
    env.globals.update(
        states=list(AlertState),
        rules=RULES,
        outcomes=list(Outcome),
        reasons=list(ReasonCode),
        event_label=event_label,
        Action=Action,
    )
    return env


def render(request: web.Request, name: str, status: int = 200, **context: Any) -> web.Response:
    session = request.get(SESSION)
    text = (
        _templates()
        .get_template(name)
        .render(
            user=None if session is None else session.user,
            csrf="" if session is None else session.csrf,
            css_url=str(request.app.router["static"].url_for(filename="feed.css")),
            **context,
        )
    )
    return web.Response(text=text, status=status, content_type="text/html", charset="utf-8")


async def error_page(request: web.Request, status: int, body: dict[str, Any]) -> web.Response:
    """How the middleware shows an error on a page; 401 sends the browser to the login."""
    if status == 401:
        target = request.path_qs if request.method == "GET" else "/"
        raise web.HTTPSeeOther("/login?" + urllib.parse.urlencode({"next": target}))
    return render(request, "error.html", status=status, error=body)


async def _login_form(request: web.Request) -> web.Response:
    return render(request, "login.html", next=_safe_next(request.query.get("next")), error=None)


async def _login(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    token, target = str(form.get("token", "")).strip(), _safe_next(str(form.get("next", "/")))
    backend = request.app[BACKEND]
    try:
        session = await backend.users("login", token, request.app[CONFIG].clock())
    except AuthenticationError as exc:
        return render(request, "login.html", status=401, next=target, error=str(exc))
    response = web.HTTPSeeOther(target)
    response.set_cookie(
        SESSION_COOKIE,
        session.cookie,
        max_age=SESSION_TTL_MS // 1000,
        httponly=True,
        samesite="Strict",
        secure=request.app[CONFIG].secure_cookies,
        path="/",
    )
    raise response


async def _logout(request: web.Request) -> web.StreamResponse:
    session = request.get(SESSION)
    if session is not None:
        await _check_csrf(request)
        backend = request.app[BACKEND]
        await backend.users("logout", session.cookie)
    response = web.HTTPSeeOther("/login")
    response.del_cookie(SESSION_COOKIE, path="/")
    raise response


async def _feed(request: web.Request) -> web.Response:
    user = user_of(request)
    try:
        q = alert_query(request.query, user)
    except RequestInvalid as exc:
        return render(request, "feed.html", status=422, q=None, page=None, error=str(exc), query={})
    page = await api.page_of_alerts(request, q)
    query = {k: v for k, v in request.query.items() if k != "cursor" and v != ""}
    return render(
        request,
        "feed.html",
        q=q,
        page=page,
        error=None,
        query=query,
        next_url="/?" + urllib.parse.urlencode({**query, "cursor": page.next_cursor})
        if page.next_cursor
        else None,
        csv_url="/api/alerts.csv?" + urllib.parse.urlencode(query),
    )


async def _case(request: web.Request, error: str | None = None, status: int = 200) -> web.Response:
    user = user_of(request)
    alert, events = await api.load_case(request, request.match_info["alert_id"])
    evidence = alert.evidence.get("evidence", {}) if isinstance(alert.evidence, dict) else {}
    return render(
        request,
        "case.html",
        status=status,
        alert=alert,
        events=events,
        chart=curve(evidence if isinstance(evidence, dict) else {}),
        actions=[a for a in allowed_actions(alert) if may_act(user, a.value)],
        error=error,
        done=request.query.get("done"),
    )


async def _act(request: web.Request) -> web.StreamResponse:
    user_of(request)
    form = await _check_csrf(request)
    alert_id = request.match_info["alert_id"]
    action = str(form.get("action", ""))
    seq_text = str(form.get("expected_seq", ""))
    payload = {k: str(form[k]) for k in _FORM_FIELDS if str(form.get(k, "")).strip()}
    try:
        if not seq_text.isdigit():
            raise RequestInvalid("the form lost its expected_seq; reload the page.")
        await api.act(request, alert_id, action, int(seq_text), payload)
    except DianyanError as exc:
        described = describe(exc)
        if described is None or described[0] not in (409, 422):
            raise
        return await _case(request, error=described[1]["message"], status=described[0])
    quoted = urllib.parse.quote(alert_id, safe="")
    raise web.HTTPSeeOther(f"/alerts/{quoted}?" + urllib.parse.urlencode({"done": action}))


async def _check_csrf(request: web.Request) -> Any:
    form = await request.post()
    session = request.get(SESSION)
    if session is None:
        raise AuthenticationError("log in first.")
    if not hmac.compare_digest(str(form.get("csrf", "")), session.csrf):
        raise RequestInvalid("the form is out of date (CSRF check failed); reload the page.")
    return form


def _safe_next(target: str | None) -> str:
    """Only local paths: never redirect a login to another site."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def _cst(ms: int | None) -> str:
    if ms is None:
        return ""
    return datetime.datetime.fromtimestamp(ms / 1000, tz=CST).strftime("%Y-%m-%d %H:%M")
