"""Load `model_catalog.json`, check every cross-record rule, and index it.

Decoding (types, enums, unknown fields) is msgspec's job; the rules that span records —
unique names, task references, plan graphs — are checked here, each failing with the JSON
path of the offending value. A catalog is either wholly valid or refused: nothing is served
from half of one.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import msgspec

from catalog.errors import CatalogError, problem_and_path
from catalog.model import Catalog
from catalog.plan_io import PlanProblem, check_bindings, check_graph, is_worker_step
from catalog.schema import CatalogFile, Model, Plan, Task

DEFAULT_CATALOG_PATH = Path(__file__).with_name("model_catalog.json")

_decoder = msgspec.json.Decoder(CatalogFile)


def load_catalog(path: Path | str = DEFAULT_CATALOG_PATH) -> Catalog:
    """Read, decode and check a catalog file; raise `CatalogError` on the first problem."""
    file_path = Path(path)
    try:
        raw = file_path.read_bytes()
    except OSError as exc:
        raise CatalogError(str(file_path), f"cannot read catalog: {exc.strerror}") from exc
    return parse_catalog(raw)


def parse_catalog(raw: bytes) -> Catalog:
    try:
        data = _decoder.decode(raw)
    except msgspec.ValidationError as exc:
        problem, path = problem_and_path(exc)
        raise CatalogError(path or "$", problem) from exc
    except msgspec.DecodeError as exc:
        raise CatalogError("$", f"not valid JSON: {exc}") from exc
    check_catalog(data)
    digest = hashlib.sha256(raw).hexdigest()[:12]
    return Catalog(data, digest=digest)


def check_catalog(data: CatalogFile) -> None:
    """Every rule that spans more than one record."""
    tasks = _check_tasks(data.tasks)
    _check_model_names(data.models)
    _check_model_tasks(data.models, tasks)
    _check_video_limits(data.models)
    _check_every_task_served(data.tasks, data.models)
    _check_plans(data.plans, tasks)


def _check_tasks(tasks: tuple[Task, ...]) -> dict[str, Task]:
    by_id: dict[str, Task] = {}
    for i, task in enumerate(tasks):
        if task.id in by_id:
            raise CatalogError(f"$.tasks[{i}].id", f"duplicate task id {task.id!r}")
        by_id[task.id] = task
    return by_id


def _check_model_names(models: tuple[Model, ...]) -> None:
    """Ids, provider_ids and aliases share one namespace: each name means one model."""
    owner: dict[str, tuple[int, str]] = {}
    for i, model in enumerate(models):
        names = [("id", model.id), ("provider_id", model.provider_id)]
        names += [(f"aliases[{k}]", alias) for k, alias in enumerate(model.aliases)]
        for field, name in names:
            seen = owner.get(name)
            if seen is not None and seen[0] != i:
                raise CatalogError(
                    f"$.models[{i}].{field}",
                    f"duplicate name {name!r}, already used at $.models[{seen[0]}].{seen[1]}",
                )
            if seen is not None and field.startswith("aliases") and seen[1].startswith("aliases"):
                raise CatalogError(f"$.models[{i}].{field}", f"alias {name!r} listed twice")
            owner.setdefault(name, (i, field))


def _check_model_tasks(models: tuple[Model, ...], tasks: dict[str, Task]) -> None:
    for i, model in enumerate(models):
        for k, task_id in enumerate(model.tasks):
            task = tasks.get(task_id)
            if task is None:
                raise CatalogError(f"$.models[{i}].tasks[{k}]", f"unknown task {task_id!r}")
            if task.modality != model.modality:
                raise CatalogError(
                    f"$.models[{i}].tasks[{k}]",
                    f"task {task_id!r} is {task.modality}, model {model.id!r} is {model.modality}",
                )
            missing = sorted(set(task.required_capabilities) - set(model.capabilities))
            if missing:
                raise CatalogError(
                    f"$.models[{i}].tasks[{k}]",
                    f"task {task_id!r} requires capabilities {missing} that model {model.id!r} lacks",
                )


def _check_video_limits(models: tuple[Model, ...]) -> None:
    """A video model says what it accepts (the submission checks rely on it); no other does."""
    for i, model in enumerate(models):
        limits = model.video
        if model.modality != "video":
            if limits is not None:
                raise CatalogError(
                    f"$.models[{i}].video", f"only video models have video limits, {model.id!r} is {model.modality}"
                )
            continue
        if limits is None:
            raise CatalogError(f"$.models[{i}]", f"video model {model.id!r} needs 'video' limits")
        if limits.default_seconds is not None and limits.default_seconds not in limits.seconds:
            raise CatalogError(
                f"$.models[{i}].video.default_seconds", f"{limits.default_seconds} is not one of 'seconds'"
            )
        if "image" in model.required_inputs and "image" not in model.inputs:
            raise CatalogError(f"$.models[{i}].required_inputs", f"{model.id!r} requires an image it does not take")


def _check_every_task_served(tasks: tuple[Task, ...], models: tuple[Model, ...]) -> None:
    served = {task_id for model in models if model.enabled for task_id in model.tasks}
    for i, task in enumerate(tasks):
        if task.id not in served:
            raise CatalogError(f"$.tasks[{i}]", f"task {task.id!r} is served by no enabled model")


def _check_plans(plans: tuple[Plan, ...], tasks: dict[str, Task]) -> None:
    for name in tasks:
        if is_worker_step(name):
            raise CatalogError("$.tasks", f"task id {name!r} is the name of a worker step")
    plan_ids: set[str] = set()
    for p, plan in enumerate(plans):
        where = f"$.plans[{p}]"
        if plan.id in plan_ids:
            raise CatalogError(f"{where}.id", f"duplicate plan id {plan.id!r}")
        if plan.id in tasks:
            raise CatalogError(f"{where}.id", f"plan id {plan.id!r} is also a task id")
        plan_ids.add(plan.id)
        try:
            check_graph(plan, tasks)
            check_bindings(plan, tasks, known_input=False)
        except PlanProblem as exc:
            raise CatalogError(f"{where}.{exc.where}", exc.message) from None
