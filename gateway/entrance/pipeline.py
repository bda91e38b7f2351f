"""The pipeline: configured stages in order, then the fixed core step.

Stages are named in ``[pipeline] stages`` and loaded through the
``herald.stages`` entry-point group, the built-in ones exactly like third-party
ones. ``herald check`` prints the resolved order.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from email.headerregistry import Address
from importlib.metadata import entry_points
from typing import Any, ClassVar, Protocol

import structlog

from gateway import brand as branding
from gateway.config import Config
from gateway.content import mime
from gateway.content.catalog import Catalog, EmailType
from gateway.content.composer import Composed, Composer
from gateway.content.templating import Templates
from gateway.context import Context
from gateway.entrance.delivery import SavedSettings
from gateway.errors import ConfigError, Decision, Defer, Drop, StageError
from gateway.store import SettingsStore, Store, TemplateParts

ENTRY_POINT_GROUP = "herald.stages"

log = structlog.get_logger(__name__)


class Rendering(Protocol):
    """What a stage may ask of the composer: the templates in force and
    rendering with them, never a save."""

    @property
    def templates(self) -> Templates: ...

    @property
    def catalog(self) -> Catalog: ...

    def entry(self, email_type: str) -> EmailType: ...

    def require(self, email_type: str, data: Mapping[str, Any]) -> None: ...

    async def parts(self, email_type: str) -> tuple[TemplateParts, int | None]: ...

    async def subject(self, email_type: str, variables: Mapping[str, Any]) -> str: ...

    async def brand(self) -> dict[str, Any]: ...

    async def compose(
        self,
        email_type: str,
        variables: Mapping[str, Any],
        *,
        to: list[Address],
        message_id: str,
        parts: TemplateParts | None = None,
    ) -> Composed: ...

    async def wrap(
        self, variables: Mapping[str, Any], *, html: str, text: str
    ) -> tuple[str, str, branding.Logo | None]: ...


class _ReadOnlySettings:
    """The store's saved settings, to read and nothing else."""

    def __init__(self, store: SettingsStore) -> None:
        self._read = store.read_settings

    async def read_settings(self, prefix: str) -> dict[str, dict[str, Any]]:
        return await self._read(prefix)


@dataclass(frozen=True)
class StageServices:
    """What a stage is handed when it is built: the configuration, rendering
    and the saved settings, all read-only.

    It holds no relay and nothing that writes the store, so a stage cannot
    send or queue mail: the contract in ``gateway.context`` holds by
    construction, and relaying stays the queue's job.
    """

    config: Config
    composer: Rendering
    settings: SavedSettings

    @property
    def templates(self) -> Templates:
        return self.composer.templates

    @property
    def catalog(self) -> Catalog:
        return self.composer.catalog


@dataclass(frozen=True)
class Services:
    """What the pipeline is built from; the faces use the whole of it,
    the stages only what ``for_stages`` hands them."""

    config: Config
    store: Store
    composer: Composer

    @classmethod
    def build(cls, config: Config, store: Store) -> Services:
        return cls(config, store, Composer.for_config(config, store))

    @property
    def templates(self) -> Templates:
        return self.composer.templates

    def for_stages(self) -> StageServices:
        return StageServices(self.config, self.composer, _ReadOnlySettings(self.store))


class Stage(Protocol):
    name: ClassVar[str]
    description: ClassVar[str]

    async def process(self, ctx: Context) -> None: ...


class StageFactory(Protocol):
    name: ClassVar[str]
    description: ClassVar[str]

    def __call__(self, services: StageServices) -> Stage: ...


def available() -> dict[str, StageFactory]:
    """Every installed stage, by name."""
    return {ep.name: ep.load() for ep in entry_points(group=ENTRY_POINT_GROUP)}


def resolve(names: Sequence[str], where: str = "[pipeline] stages") -> list[StageFactory]:
    """The factories for ``names``, in order; unknown names are a ``ConfigError``."""
    installed = available()
    factories = []
    for name in names:
        if name not in installed:
            known = ", ".join(sorted(installed))
            raise ConfigError(f"{where}: unknown stage {name!r} (installed: {known})")
        factories.append(installed[name])
    return factories


class Pipeline:
    def __init__(self, stages: Sequence[Stage], *, timeout: float, hostname: str) -> None:
        self.stages = list(stages)
        self.timeout = timeout
        self.hostname = hostname

    @classmethod
    def build(cls, services: Services) -> Pipeline:
        config = services.config
        handed = services.for_stages()
        return cls(
            [factory(handed) for factory in resolve(config.stages)],
            timeout=config.stage_timeout,
            hostname=config.hostname,
        )

    @property
    def composes_later(self) -> bool:
        """Whether a message may be composed after the commit: only when every
        stage knows ``Context.later`` (a third-party stage may read the message)."""
        return all(getattr(stage, "later_aware", False) for stage in self.stages)

    def message_id(self, ctx: Context) -> str:
        """The Message-ID of the run's message, unless it brought one."""
        return f"<{ctx.run_id}@{self.hostname}>"

    async def run(self, ctx: Context) -> None:
        """Run every stage on ``ctx``, then prepare the message to leave.

        Raises ``Reject``, ``Defer`` or ``Drop`` as a stage decided, and
        ``StageError`` when a stage crashed: a half-built message never goes out.
        """
        for stage in self.stages:
            try:
                await asyncio.wait_for(stage.process(ctx), self.timeout)
            except Decision:
                raise
            except TimeoutError as exc:
                raise Defer(f"stage {stage.name} timed out after {self.timeout:g}s") from exc
            except Exception as exc:
                log.exception("stage_failed", stage=stage.name, run_id=ctx.run_id)
                raise StageError(f"stage {stage.name} failed: {exc}") from exc
        if ctx.message is None and ctx.later is None:
            raise StageError(f"no stage produced a message for email type {ctx.email_type!r}")
        # The intake's cleanup, the queue's entrance, checks every header
        # after this, for this message and every other producer's alike.
        if ctx.message is not None:
            mime.finalize(ctx.message, message_id=self.message_id(ctx))
        if not ctx.deliverable:
            reasons = sorted({r.suppressed or "" for r in ctx.recipients}) or ["no recipients"]
            raise Drop("; ".join(reasons))


class InForce:
    """The services and the pipeline in force, held in one place.

    Everything that runs the pipeline or reads the services built with it
    (intake, the admin API, definition runs) reads them through this holder,
    so a reload that replaces them reaches every reader at once.
    """

    def __init__(self, services: Services, pipeline: Pipeline) -> None:
        self.services = services
        self.pipeline = pipeline

    @classmethod
    def build(cls, config: Config, store: Store) -> InForce:
        services = Services.build(config, store)
        return cls(services, Pipeline.build(services))

    def replace(self, other: InForce) -> None:
        """Put ``other``'s services and pipeline in force, both together."""
        self.services, self.pipeline = other.services, other.pipeline
