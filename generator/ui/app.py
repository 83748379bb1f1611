"""``aiar ui``: the Dashboard, Deployer, Scheduler and Storage pages over one workspace.

Every action calls the function the matching command calls (see ``workspace.py``); the pages only
show what those return. State changes are POSTs checked for CSRF by ``security.Guard``.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, UploadFile
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from ..errors import AiarError, Problem
from .jobs import Job, Jobs
from .security import CSRF_FIELD, Access, Guard, csrf_ok
from .workspace import Workspace, model_of_bundle, safe_filename, temporary_directory

HERE = Path(__file__).parent
DAYS = ("MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN")
MAX_RULES = 8
"""Start or stop entries a schedule form offers (one blank row beyond those the manifest has)."""

T = TypeVar("T")


@dataclass(frozen=True)
class Limits:
    bundle_bytes: int = 64 * 2**20
    """An uploaded bundle ZIP (then read_bundle's own limits on what it holds)."""
    dataset_bytes: int = 2 * 2**30
    form_bytes: int = 2 * 2**20
    """Any other POST: a manifest, a schedule, a button."""
    apply_timeout: float = 600.0


def size(amount: float | None) -> str:
    if amount is None:
        return "-"
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if amount < 1024 or unit == "TiB":
            return f"{amount:.0f} {unit}" if unit == "B" else f"{amount:.1f} {unit}"
        amount /= 1024
    raise AssertionError("unreachable")


def create_app(workspace: Workspace, access: Access, limits: Limits | None = None) -> Starlette:
    limits = limits or Limits()
    templates = Jinja2Templates(directory=HERE / "templates")
    templates.env.filters["size"] = size
    templates.env.globals["DAYS"] = DAYS
    jobs = Jobs()

    def page(request: Request, name: str, status: int = 200, **context: Any) -> Response:
        state = request.scope.get("state") or {}
        context |= {"csrf": state.get("csrf", ""), "user": state.get("user"), "workspace": workspace}
        return templates.TemplateResponse(request, name, context, status_code=status)

    async def call(fn: Callable[..., T], *args: Any) -> T:
        return await run_in_threadpool(fn, *args)

    async def checked_form(request: Request, **limits_: Any) -> FormData:
        form = await request.form(**limits_)
        given = form.get(CSRF_FIELD)
        if not csrf_ok(request.scope, given if isinstance(given, str) else None):
            raise HTTPException(403, "CSRF check failed: the form's token does not match this session")
        return form

    def problems_of(exc: Exception) -> list[Problem]:
        if isinstance(exc, AiarError):
            return list(exc.problems)
        if isinstance(exc, OSError):
            return [Problem(str(exc.filename or ""), "", exc.strerror or str(exc))]
        return [Problem("", "", f"{type(exc).__name__}: {exc}")]

    # --- Dashboard ---------------------------------------------------------------------------------

    async def statuses() -> tuple[list[Any], list[Problem]]:
        if not (workspace.out / "index.json").is_file():
            return [], [Problem(str(workspace.out), "", "no artifact set yet: deploy a bundle first")]
        try:
            return await call(workspace.statuses), []
        except Exception as exc:
            return [], problems_of(exc)

    async def dashboard(request: Request) -> Response:
        models, problems = await statuses()
        return page(request, "dashboard.html", models=models, problems=problems, notice=request.query_params.get("m"))

    async def dashboard_rows(request: Request) -> Response:
        models, problems = await statuses()
        return page(request, "_rows.html", models=models, problems=problems)

    async def lifecycle(request: Request) -> Response:
        await checked_form(request)
        model, action = request.path_params["model"], request.path_params["action"]
        user = (request.scope.get("state") or {}).get("user")
        try:
            if action == "start":
                result = await call(workspace.start, model)
                notice = f"started {model} with {result.replicas} replica(s)"
            elif action == "stop":
                result = await call(workspace.stop, model, user)
                notice = f"stopped {model} (by {result.stopped_by})"
            elif action == "delete":
                deleted = await call(workspace.delete, model)
                notice = f"deleted {len(deleted)} object(s) of {model}"
            else:
                return PlainTextResponse(f"no action {action!r}", 404)
        except Exception as exc:
            models, _ = await statuses()
            return page(request, "dashboard.html", 409, models=models, problems=problems_of(exc), notice=None)
        return RedirectResponse(f"/?m={quote(notice)}", 303)

    # --- Deployer ----------------------------------------------------------------------------------

    async def deploy_index(request: Request, problems: list[Problem] | None = None, status: int = 200) -> Response:
        names = await call(workspace.bundle_names)
        return page(request, "deploy.html", status, bundles=names, problems=problems or [])

    async def deploy_index_get(request: Request) -> Response:
        return await deploy_index(request)

    async def upload_bundle(request: Request) -> Response:
        form = await checked_form(request, max_files=1, max_fields=10)
        upload = form.get("bundle")
        if not isinstance(upload, UploadFile) or not upload.filename:
            return await deploy_index(request, [Problem("bundle", "", "choose a bundle ZIP to upload")], 400)
        filename = safe_filename(upload.filename)
        if not filename.endswith(".zip") or filename == ".zip":
            return await deploy_index(request, [Problem(upload.filename, "", "not a .zip file name")], 400)
        name = safe_filename(str(form.get("name") or "")) or filename.removesuffix(".zip")
        with temporary_directory() as tmp:
            path = Path(tmp) / filename
            await call(_copy, upload, path)
            try:
                await call(workspace.add_bundle, name, path, form.get("replace") == "on")
            except Exception as exc:
                problems = [
                    Problem(p.source.replace(f"{tmp}/", ""), p.pointer, p.message, p.line, p.col)
                    for p in problems_of(exc)
                ]
                return await deploy_index(request, problems, 422)
        return RedirectResponse(f"/deploy/{name}", 303)

    async def bundle_page(request: Request, name: str | None = None, **extra: Any) -> Response:
        name = name or request.path_params["bundle"]
        try:
            text = await call(workspace.manifest_text, name)
        except Exception as exc:
            return await deploy_index(request, problems_of(exc), 404)
        problems = await call(workspace.bundle_problems, name)
        diffs, compile_problems, model = None, [], None
        if not problems:
            model = await call(model_of_bundle, workspace, name)
            try:
                compiled = await call(workspace.compile)
                diffs = await call(workspace.diff, compiled)
                artifacts = sorted(f for f in compiled.files if f.startswith(f"{model}/"))
                extra.setdefault("artifacts", artifacts)
            except Exception as exc:
                compile_problems = problems_of(exc)
        return page(
            request,
            "bundle.html",
            extra.pop("status", 200),
            bundle=name,
            text=extra.pop("text", text),
            problems=extra.pop("problems", problems),
            compile_problems=compile_problems,
            diffs=diffs,
            model=model,
            **extra,
        )

    async def bundle_get(request: Request) -> Response:
        return await bundle_page(request)

    async def validate(request: Request) -> Response:
        form = await checked_form(request, max_files=0, max_fields=5)
        name = request.path_params["bundle"]
        try:
            problems = await call(workspace.check_manifest, name, str(form.get("manifest") or ""))
        except Exception as exc:
            problems = problems_of(exc)
        return JSONResponse({"ok": not problems, "problems": [p.as_dict() | {"text": p.render()} for p in problems]})

    async def save_manifest(request: Request) -> Response:
        form = await checked_form(request, max_files=0, max_fields=5)
        name = request.path_params["bundle"]
        text = str(form.get("manifest") or "")
        try:
            problems = await call(workspace.save_manifest, name, text)
        except Exception as exc:
            return await bundle_page(request, name, problems=problems_of(exc), text=text, status=422)
        if problems:
            return await bundle_page(request, name, status=422, saved=True)
        return RedirectResponse(f"/deploy/{name}?saved=1", 303)

    async def generate(request: Request) -> Response:
        await checked_form(request)
        name = request.path_params["bundle"]
        try:
            compiled = await call(workspace.generate)
        except Exception as exc:
            return await bundle_page(request, name, generate_problems=problems_of(exc), status=422)
        return RedirectResponse(f"/deploy/{name}/plan?files={len(compiled.files)}", 303)

    async def plan_page(request: Request) -> Response:
        name = request.path_params["bundle"]
        model = await call(model_of_bundle, workspace, name)
        if model is None:
            return RedirectResponse(f"/deploy/{name}", 303)
        try:
            result = await call(workspace.plan, [model])
        except Exception as exc:
            return page(request, "plan.html", 409, bundle=name, model=model, plan=None, problems=problems_of(exc))
        return page(request, "plan.html", bundle=name, model=model, plan=result, problems=[])

    async def apply(request: Request) -> Response:
        await checked_form(request)
        name = request.path_params["bundle"]
        model = await call(model_of_bundle, workspace, name)
        if model is None:
            return RedirectResponse(f"/deploy/{name}", 303)

        def work(job: Job) -> dict[str, Any]:
            from ..apply.run import apply as run_apply

            session = workspace.session([model], job.progress())
            report = run_apply(session, True, limits.apply_timeout, False)
            return report.as_dict()

        job = jobs.start(f"apply {model}", work)
        return RedirectResponse(f"/jobs/{job.id}", 303)

    async def job_page(request: Request) -> Response:
        job = jobs.get(request.path_params["job"])
        if job is None:
            raise HTTPException(404, "no such job")
        return page(request, "job.html", job=job.snapshot())

    async def job_json(request: Request) -> Response:
        job = jobs.get(request.path_params["job"])
        if job is None:
            raise HTTPException(404, "no such job")
        since = request.query_params.get("since", "0")
        return JSONResponse(job.snapshot(int(since) if since.isdigit() else 0))

    # --- Scheduler ---------------------------------------------------------------------------------

    async def schedule_page(request: Request, problems: list[Problem] | None = None, status: int = 200) -> Response:
        found = await call(workspace.schedules)
        return page(
            request,
            "schedule.html",
            status,
            schedules=found,
            problems=problems or [],
            notice=request.query_params.get("m"),
            max_rules=MAX_RULES,
        )

    async def schedule_get(request: Request) -> Response:
        return await schedule_page(request)

    async def schedule_post(request: Request) -> Response:
        form = await checked_form(request, max_files=0, max_fields=200)
        name = request.path_params["bundle"]
        entries: dict[str, list[dict[str, Any]]] = {"start": [], "stop": []}
        for action, found in entries.items():
            for i in range(MAX_RULES):
                at = str(form.get(f"{action}-{i}-at") or "").strip()
                if not at:
                    continue
                days = [d for d in form.getlist(f"{action}-{i}-days") if isinstance(d, str)]
                found.append({"days": days, "at": at} if days else {"at": at})
        schedule: dict[str, Any] | None = None
        if entries["start"] or entries["stop"]:
            schedule = {"timezone": str(form.get("timezone") or "UTC").strip()}
            schedule |= {k: v for k, v in entries.items() if v}
        try:
            problems = await call(workspace.set_schedule, name, schedule)
        except Exception as exc:
            problems = problems_of(exc)
        if problems:
            return await schedule_page(request, problems, 422)
        what = "removed the schedule of" if schedule is None else "saved the schedule of"
        return RedirectResponse(f"/schedule?m={quote(f'{what} {name}; out/ re-generated: apply to deploy it')}", 303)

    # --- Storage -----------------------------------------------------------------------------------

    async def storage_page(request: Request, problems: list[Problem] | None = None, status: int = 200) -> Response:
        listing, listing_problems = None, []
        try:
            listing = await call(workspace.stored)
        except Exception as exc:
            listing_problems = problems_of(exc)
        return page(
            request,
            "storage.html",
            status,
            listing=listing,
            problems=(problems or []) + listing_problems,
            notice=request.query_params.get("m"),
        )

    async def storage_get(request: Request) -> Response:
        return await storage_page(request)

    async def dataset_upload(request: Request) -> Response:
        form = await checked_form(request, max_files=1, max_fields=10)
        upload = form.get("file")
        if not isinstance(upload, UploadFile) or not upload.filename:
            return await storage_page(request, [Problem("file", "", "choose a file to upload")], 400)
        name = str(form.get("name") or "").strip() or upload.filename.replace("\\", "/").rsplit("/", 1)[-1]
        with temporary_directory() as tmp:
            path = Path(tmp) / "upload"
            await call(_copy, upload, path)
            try:
                result = await call(workspace.put_dataset, path, name, form.get("force") == "on")
            except Exception as exc:
                return await storage_page(request, problems_of(exc), 422)
        notice = (
            f"{'replaced' if result.replaced else 'stored'} {result.uri} ({size(result.size)}, sha256 {result.sha256})"
        )
        if request.headers.get("accept") == "application/json":
            return JSONResponse({"ok": True, "redirect": f"/storage?m={quote(notice)}", **result.as_dict()})
        return RedirectResponse(f"/storage?m={quote(notice)}", 303)

    async def download(request: Request) -> Response:
        ref = request.query_params.get("ref", "")
        tmp = temporary_directory()
        try:
            result = await call(workspace.get_object, ref, Path(tmp.name))
        except Exception as exc:
            tmp.cleanup()
            return await storage_page(request, problems_of(exc), 404)
        return FileResponse(result.file, filename=result.file.name, background=BackgroundTask(tmp.cleanup))

    async def storage_delete(request: Request) -> Response:
        form = await checked_form(request)
        ref = str(form.get("ref") or "")
        try:
            deleted = await call(workspace.remove, ref)
        except Exception as exc:
            return await storage_page(request, problems_of(exc), 422)
        return RedirectResponse(f"/storage?m={quote('deleted ' + ', '.join(deleted))}", 303)

    async def healthz(request: Request) -> Response:
        return JSONResponse({"ok": True})

    routes = [
        Route("/", dashboard),
        Route("/healthz", healthz),
        Route("/dashboard/rows", dashboard_rows),
        Route("/models/{model}/{action:str}", lifecycle, methods=["POST"]),
        Route("/deploy", deploy_index_get),
        Route("/deploy/upload", upload_bundle, methods=["POST"]),
        Route("/deploy/{bundle}", bundle_get),
        Route("/deploy/{bundle}/validate", validate, methods=["POST"]),
        Route("/deploy/{bundle}/manifest", save_manifest, methods=["POST"]),
        Route("/deploy/{bundle}/generate", generate, methods=["POST"]),
        Route("/deploy/{bundle}/plan", plan_page),
        Route("/deploy/{bundle}/apply", apply, methods=["POST"]),
        Route("/jobs/{job}", job_page),
        Route("/jobs/{job}/log", job_json),
        Route("/schedule", schedule_get),
        Route("/schedule/{bundle}", schedule_post, methods=["POST"]),
        Route("/storage", storage_get),
        Route("/storage/datasets", dataset_upload, methods=["POST"]),
        Route("/storage/download", download),
        Route("/storage/delete", storage_delete, methods=["POST"]),
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
    ]
    caps = {"/deploy/upload": limits.bundle_bytes, "/storage/datasets": limits.dataset_bytes}

    async def http_error(request: Request, exc: Exception) -> Response:
        status, detail = (exc.status_code, exc.detail) if isinstance(exc, HTTPException) else (500, str(exc))
        return page(request, "error.html", status, message=detail)

    return Starlette(
        routes=routes,
        middleware=[Middleware(Guard, access=access, caps=caps, default_cap=limits.form_bytes)],
        exception_handlers={HTTPException: http_error},
    )


def _copy(upload: UploadFile, path: Path) -> None:
    upload.file.seek(0)
    with path.open("wb") as out:
        shutil.copyfileobj(upload.file, out, 1 << 20)
