"""The analyst workbench over one link folder: FastAPI, Jinja2 templates rendered on the server, htmx.

==================================  =========================================================
route                               answer
==================================  =========================================================
``GET /``                           the ranked group list with its filters and search (an htmx
                                    request gets the rows alone)
``GET /groups/{gid}``               a group: why it exists, warnings, the ads side by side with
                                    their shared spans, timeline, cities and personas, the
                                    collapsed evidence graph, the decision and its history
``GET /groups/{gid}/edges``         the individual evidence edges (``?a=P&b=Q``: between two
                                    sub-groups), on demand
``POST /groups/{gid}/decision``     ``action`` = confirm / dismiss / split / note / reopen,
                                    ``note``, ``chosen`` (ad ids, for a split), ``analyst``; a
                                    form (htmx, or a plain browser: 303 back to the group) or
                                    JSON (the decision as JSON)
``GET /api/groups/{gid}``           the group's decision and history as JSON
``GET /groups/{gid}/dossier.html``  the group as one self-contained, masked HTML file
``GET /export/labels.csv``          every decision as must-link / cannot-link pairs (the file
                                    ``adowner prepare --owner-pairs`` reads)
``GET /health``                     ``{"status": "ok", ...}`` (no token needed)
==================================  =========================================================

Access: with a token (always, unless the app is made with ``token=None``) every route but
``/health`` and ``/static/`` needs ``Authorization: Bearer TOKEN`` (as ``adowner serve``), or the
cookie a browser gets on its first visit to ``/?token=TOKEN``: the app sets it (HttpOnly,
SameSite=Strict) and redirects to the same page without the token in the address. Errors: 401
without the token, 404 unknown group, 422 a malformed decision (JSON ``{"detail": ...}``, never
echoing the ads' text).

Decisions go to :class:`adowner.review.store.Store`; two clients deciding at once are serialised
by SQLite, the last write is the decision and both are in the history.
"""

from __future__ import annotations

import hmac
import json
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlencode

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup
from pydantic import BaseModel, ConfigDict, Field, StrictStr, ValidationError

from adowner.data.identifiers import mask_text
from adowner.defaults import REVIEW
from adowner.log import get_logger
from adowner.review.explain import (
    KIND_ORDER,
    cities_table,
    highlight,
    shared_phrases,
    shared_spans,
    short,
    timeline_svg,
)
from adowner.review.labels import export_pairs
from adowner.review.run import Filters, LinkRun
from adowner.review.store import Decision, Store, group_key

log = get_logger(__name__)

TOKEN_ENV = "ADOWNER_REVIEW_TOKEN"
COOKIE = "adowner_review"
ACTIONS = {"confirm": "confirmed", "dismiss": "dismissed", "split": "split", "reopen": "open"}


class DecisionIn(BaseModel):
    """A decision as posted (form fields or JSON)."""

    model_config = ConfigDict(extra="forbid")
    action: Literal["confirm", "dismiss", "split", "note", "reopen"]
    note: StrictStr | None = Field(default=None, max_length=10_000)
    chosen: list[StrictStr] = Field(default_factory=list, max_length=100_000)
    analyst: StrictStr = Field(default="", max_length=100)


class _NotFound(Exception):
    pass


class _Invalid(Exception):
    def __init__(self, detail: str) -> None:
        self.detail = detail


def templates() -> Environment:
    """The Jinja2 environment over the packaged templates (``adowner/review/templates``)."""
    env = Environment(
        loader=PackageLoader("adowner.review", "templates"),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["short"] = short
    env.filters["date"] = lambda t: "" if t is None or t != t else t.strftime("%Y-%m-%d")
    env.filters["dt"] = lambda t: "" if t is None or t != t else t.strftime("%Y-%m-%d %H:%M")
    env.filters["list"] = lambda v: ", ".join(str(x) for x in (v if v is not None else []))
    env.filters["num"] = lambda v: "" if v is None or v != v else f"{float(v):,.2f}"
    return env


def _htmx_js() -> bytes:
    from importlib.resources import files

    return files("adowner.review").joinpath("static/htmx.min.js").read_bytes()


def group_context(
    run: LinkRun, gid: int, *, side_by_side: int = REVIEW.side_by_side
) -> dict[str, Any]:
    """What the group view and the dossier show of group ``gid``."""
    ads = run.group_ads(gid)
    ex = run.explain(gid)
    texts = ads["text"].tolist()
    spans = shared_spans(texts)
    part_of = {a: p.index for p in ex.parts for a in p.ad_ids}
    rows: list[dict[str, Any]] = []
    for (a, r), sp in zip(ads.iterrows(), spans, strict=True):
        rows.append(
            {
                "ad_id": a,
                "posted": r.get("posted_at"),
                "persona": r.get("persona") or "",
                "location": r.get("location") or "",
                "site": r.get("site") or "",
                "wallet": run.wallet.get(str(a), ""),
                "part": part_of.get(str(a), 0),
                "html": Markup(highlight(r["text"], sp)),
                "shared": sum(b - a_ for a_, b in sp),
            }
        )
    # side by side: the ads of the largest sub-groups first, the most shared text first
    side = sorted(rows, key=lambda r: (r["part"], -r["shared"]))[:side_by_side]
    kinds = sorted(
        {k for c in ex.collapsed for k in c["counts"]}, key=lambda k: ((*KIND_ORDER, k)).index(k)
    )
    return {
        "gid": gid,
        "ind": run.indicators(gid),
        "ex": ex,
        "ads": rows,
        "side": side,
        "phrases": shared_phrases(texts),
        "timeline": Markup(timeline_svg(ads["posted_at"])),
        "cities": cities_table(ads),
        "kinds": kinds,
        "collapsed": ex.collapsed[:60],
        "n_collapsed": len(ex.collapsed),
        "text_score": run.text_score,
    }


def create_app(
    run: LinkRun,
    store: Store,
    *,
    token: str | None = None,
    page: int = REVIEW.page,
) -> FastAPI:
    """The workbench app over ``run`` with its decisions in ``store``."""
    app = FastAPI(title="adowner review", docs_url=None, redoc_url=None, openapi_url=None)
    env = templates()
    htmx = _htmx_js()

    def render(name: str, **ctx: Any) -> str:
        return env.get_template(name).render(**ctx)

    def states() -> dict[int, Decision]:
        return store.match(run.members)

    def group_id(gid: str) -> int:
        try:
            g = int(gid)
        except ValueError:
            raise _NotFound() from None
        if g not in run:
            raise _NotFound()
        return g

    def authorised(request: Request) -> bool:
        if token is None:
            return True
        want = token.encode()
        given = request.headers.get("authorization", "")
        if given.startswith("Bearer ") and hmac.compare_digest(given[7:].encode(), want):
            return True
        cookie = request.cookies.get(COOKIE, "")
        return bool(cookie) and hmac.compare_digest(cookie.encode(), want)

    @app.middleware("http")
    async def guard(request: Request, call_next: Any) -> Any:
        path = request.url.path
        if token is not None and path != "/health" and not path.startswith("/static/"):
            query = request.query_params.get("token")
            if query is not None and hmac.compare_digest(query.encode(), token.encode()):
                rest = urlencode(
                    [(k, v) for k, v in request.query_params.multi_items() if k != "token"]
                )
                resp = RedirectResponse(path + (f"?{rest}" if rest else ""), status_code=303)
                resp.set_cookie(COOKIE, token, httponly=True, samesite="strict", path="/")
                return resp
            if not authorised(request):
                return JSONResponse(
                    {"detail": "missing or wrong token: open /?token=TOKEN once, or send "
                     "'Authorization: Bearer TOKEN'"},
                    status_code=401,
                    headers={"WWW-Authenticate": "Bearer"},
                )  # fmt: skip
        return await call_next(request)

    @app.exception_handler(_NotFound)
    async def not_found(request: Request, exc: _NotFound) -> JSONResponse:
        return JSONResponse({"detail": "no such group in this link run"}, status_code=404)

    @app.exception_handler(_Invalid)
    async def invalid_decision(request: Request, exc: _Invalid) -> JSONResponse:
        return JSONResponse({"detail": f"invalid decision: {exc.detail}"}, status_code=422)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        detail = "; ".join(
            f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg')}" for e in exc.errors()
        )  # the submitted values are dropped
        return JSONResponse({"detail": f"invalid request: {detail}"}, status_code=422)

    @app.get("/health")
    def health() -> dict[str, Any]:
        return {"status": "ok", "groups": len(run.members), "ads": len(run.ads)}

    @app.get("/static/htmx.min.js")
    def htmx_js() -> Response:
        return Response(htmx, media_type="text/javascript")

    @app.get("/", response_class=HTMLResponse)
    def index(
        request: Request,
        flag: str = "",
        evidence: str = "",
        city: str = "",
        site: str = "",
        min_size: str = "",
        max_size: str = "",
        since: str = "",
        until: str = "",
        state: str = "",
        q: str = "",
        offset: int = 0,
    ) -> HTMLResponse:
        def as_int(v: str) -> int | None:
            return int(v) if v.strip().isdigit() else None

        def as_date(v: str) -> str:
            try:
                return (
                    datetime.strptime(v.strip(), "%Y-%m-%d").strftime("%Y-%m-%d")
                    if v.strip()
                    else ""
                )
            except ValueError:
                return ""

        f = Filters(
            flag=flag, evidence=evidence, city=city, site=site, min_size=as_int(min_size),
            max_size=as_int(max_size), since=as_date(since), until=as_date(until), state=state,
            q=q[:200],
        )  # fmt: skip
        decided = {g: d.state for g, d in states().items()}
        rows = run.select(f, decided)
        offset = max(offset, 0)
        ctx = {
            "rows": rows[offset : offset + page],
            "n": len(rows),
            "offset": offset,
            "page": page,
            "f": f,
            "opts": run.options(),
            "n_groups": len(run.members),
            "n_ads": len(run.ads),
            "decided": sum(1 for s in decided.values() if s != "open"),
            "summary": run.summary,
            "more": urlencode({**{k: v for k, v in request.query_params.items() if k != "offset"},
                               "offset": offset + page}),
        }  # fmt: skip
        name = "_rows.html" if request.headers.get("hx-request") else "index.html"
        return HTMLResponse(render(name, **ctx))

    @app.get("/groups/{gid}", response_class=HTMLResponse)
    def group(gid: str) -> HTMLResponse:
        g = group_id(gid)
        ctx = group_context(run, g)
        ctx["decision"] = states().get(g)
        ctx["history"] = store.history(group_key(run.members[g]))
        return HTMLResponse(render("group.html", **ctx))

    @app.get("/groups/{gid}/edges", response_class=HTMLResponse)
    def edges(gid: str, a: int | None = None, b: int | None = None) -> HTMLResponse:
        g = group_id(gid)
        e = run.edges_of(g)
        ex = run.explain(g)
        part_of = {x: p.index for p in ex.parts for x in p.ad_ids}
        if a is not None and b is not None:
            pa, pb = e["src"].map(part_of), e["dst"].map(part_of)
            e = e[((pa == a) & (pb == b)) | ((pa == b) & (pb == a))]
        e = e.sort_values("score", ascending=False)
        rows = e.head(500).to_dict("records")
        return HTMLResponse(render("_edges.html", rows=rows, n=len(e), part_of=part_of))

    def apply(g: int, body: DecisionIn) -> Decision:
        ids = run.members[g]
        if body.action == "note":
            current = states().get(g)
            state = current.state if current is not None and not current.carried else "open"
            chosen: list[str] = (
                list(current.chosen) if current is not None and state == "split" else []
            )
            if body.note is None:
                raise _Invalid("a note needs 'note'")
        else:
            state, chosen = ACTIONS[body.action], list(body.chosen)
        if state == "split":
            unknown = sorted(set(chosen) - set(ids))
            if unknown:
                raise _Invalid(
                    f"{len(unknown)} chosen ads are not in the group (e.g. {unknown[0]})"
                )
            if not chosen or len(set(chosen)) >= len(ids):
                raise _Invalid("a split needs the chosen ads: some, not all, of the group's")
        # a note is masked as it is kept: a phone number typed into it never reaches a dossier
        note = mask_text(body.note) if body.note is not None else None
        return store.decide(ids, state, chosen=chosen, note=note, analyst=mask_text(body.analyst))

    @app.post("/groups/{gid}/decision")
    async def decide(gid: str, request: Request) -> Response:
        g = group_id(gid)
        kind = request.headers.get("content-type", "")
        form = not kind.startswith("application/json")
        try:
            if form:
                data = await request.form()
                raw: dict[str, Any] = {k: v for k, v in data.items() if k not in ("chosen",)}
                raw["chosen"] = [str(v) for v in data.getlist("chosen")]
                if not raw.get("note"):
                    raw.pop("note", None) if raw.get("action") != "note" else None
            else:
                raw = json.loads(await request.body() or b"null")
                if not isinstance(raw, dict):
                    raise _Invalid("the body must be a JSON object")
            body = DecisionIn.model_validate(raw)
        except json.JSONDecodeError:
            raise _Invalid("malformed JSON body") from None
        except ValidationError as exc:
            detail = "; ".join(
                f"{'.'.join(str(p) for p in e.get('loc', ())) or 'body'}: {e.get('msg')}"
                for e in exc.errors()
            )
            raise _Invalid(detail) from None
        d = apply(g, body)
        if request.headers.get("hx-request"):
            history = store.history(group_key(run.members[g]))
            return HTMLResponse(
                render("_decision.html", gid=g, decision=d, history=history, ads=[])
            )
        if form:
            return RedirectResponse(f"/groups/{g}", status_code=303)
        return JSONResponse(_decision_json(d))

    @app.get("/api/groups/{gid}")
    def group_json(gid: str) -> dict[str, Any]:
        g = group_id(gid)
        d = states().get(g)
        return {
            "group_id": g,
            "group_key": group_key(run.members[g]),
            "ad_ids": run.members[g],
            "summary": run.explain(g).summary,
            "warnings": run.explain(g).warnings,
            "decision": _decision_json(d) if d else None,
            "history": [_decision_json(h) for h in store.history(group_key(run.members[g]))],
        }

    @app.get("/groups/{gid}/dossier.html")
    def dossier(gid: str) -> HTMLResponse:
        g = group_id(gid)
        html = dossier_html(run, store, g, env)
        name = f"dossier-G{g}.html"
        return HTMLResponse(html, headers={"Content-Disposition": f'attachment; filename="{name}"'})

    @app.get("/export/labels.csv")
    def labels() -> Response:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "labels.csv"
            export_pairs(store.all(), path, run.edges)
            data = path.read_bytes()
        return Response(
            data,
            media_type="text/csv",
            headers={"Content-Disposition": 'attachment; filename="owner-pairs.csv"'},
        )

    return app


def _decision_json(d: Decision) -> dict[str, Any]:
    return {
        "group_key": d.group_key,
        "state": d.state,
        "chosen": list(d.chosen),
        "note": d.note,
        "analyst": d.analyst,
        "decided_at": d.decided_at.isoformat(),
        "revision": d.revision,
        "carried": d.carried,
    }


def dossier_html(run: LinkRun, store: Store, gid: int, env: Environment | None = None) -> str:
    """Group ``gid`` as one self-contained HTML page (no scripts, nothing fetched), masked."""
    env = env or templates()
    ctx = group_context(run, gid, side_by_side=10**9)
    ctx["decision"] = store.match(run.members).get(gid)
    ctx["history"] = store.history(group_key(run.members[gid]))
    ctx["made"] = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    ctx["edges"] = (
        run.edges_of(gid).sort_values("score", ascending=False).head(2000).to_dict("records")
    )
    ctx["source"] = str(run.dir)
    return env.get_template("dossier.html").render(**ctx)
