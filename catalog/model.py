"""The loaded, checked catalog with its look-up indexes, built once per load."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from catalog.schema import CatalogFile, Model, Plan, Provider, Task


class Catalog:
    """Read-only view of a valid catalog. Build it only through `catalog.loader`."""

    __slots__ = ("_by_task", "_names", "data", "digest", "models", "plans", "tasks")

    def __init__(self, data: CatalogFile, *, digest: str) -> None:
        self.data = data
        self.digest = digest
        self.tasks: Mapping[str, Task] = MappingProxyType({t.id: t for t in data.tasks})
        self.models: Mapping[str, Model] = MappingProxyType({m.id: m for m in data.models})
        self.plans: Mapping[str, Plan] = MappingProxyType({p.id: p for p in data.plans})
        names: dict[str, str] = {}
        for model in data.models:
            for name in (model.id, model.provider_id, *model.aliases):
                names[name] = model.id
        self._names = MappingProxyType(names)
        by_task: dict[str, list[Model]] = {t.id: [] for t in data.tasks}
        for model in data.models:
            for task_id in model.tasks:
                by_task[task_id].append(model)
        self._by_task = MappingProxyType({k: tuple(v) for k, v in by_task.items()})

    @property
    def version(self) -> str:
        """`version` from the file plus a digest of its bytes: changes with every edit."""
        return f"{self.data.version}+{self.digest}"

    def resolve(self, name: str) -> Model | None:
        """A model by canonical id, alias or LiteLLM provider_id."""
        model_id = self._names.get(name)
        return None if model_id is None else self.models[model_id]

    def models_for_task(self, task_id: str) -> tuple[Model, ...]:
        """Every model (enabled or not) that declares `task_id`, in catalog order."""
        return self._by_task.get(task_id, ())

    @property
    def providers(self) -> frozenset[Provider]:
        return frozenset(m.provider for m in self.data.models)

    def provider_ids(self) -> frozenset[str]:
        return frozenset(m.provider_id for m in self.data.models)
