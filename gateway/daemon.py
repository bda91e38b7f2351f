"""``herald serve``: the HTTP server, the SMTP listener and the queue on one loop."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import signal
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

import structlog
from aiohttp import web

from gateway import _systemd, admin, problems
from gateway import config as configuration
from gateway.billing.batches import Batches
from gateway.billing.scheduler import Scheduler
from gateway.config import Config, Listen
from gateway.console import Console, secure_headers
from gateway.content import workers
from gateway.entrance.intake import Intake
from gateway.entrance.pipeline import InForce
from gateway.errors import GatewayError, ListenError
from gateway.ingress import smtpd
from gateway.ingress.webhook import Webhook
from gateway.metrics import Metrics
from gateway.queue.bounces import Bounces
from gateway.queue.notify import Notifier
from gateway.queue.pool import Guards
from gateway.queue.qmgr import QueueManager
from gateway.queue.retention import Pruner
from gateway.queue.routing import Router
from gateway.settings.smtp import vault_for
from gateway.store import Store, open_store, redact_url

log = structlog.get_logger(__name__)

T = TypeVar("T")

MAX_BODY = 10 * 1024 * 1024

# What SIGHUP cannot change: sockets and the store are open, and the host
# name and the admin token are already handed out. Everything else applies
# to the next message.
NEEDS_RESTART = frozenset(
    {
        "hostname",
        "state_dir",
        "http_listen",
        "store_url",
        "store_max_bytes",
        "admin_token",
        "settings_key_file",
        # The SMTP listener: its address, who may relay, TLS, its limits and timeouts.
        "smtp",
    }
)


@dataclass
class Gateway:
    """Everything ``serve`` starts, built from one ``Config``."""

    config: Config
    store: Store
    # The services and pipeline in force: intake, the admin API and
    # definition runs all read them here, so a reload reaches each of them.
    in_force: InForce
    qmgr: QueueManager
    intake: Intake
    batches: Batches
    scheduler: Scheduler
    notifier: Notifier
    pruner: Pruner
    bounces: Bounces
    webhook: Webhook
    guards: Guards
    metrics: Metrics
    app: web.Application
    api: admin.Api
    console: Console

    @classmethod
    def build(cls, config: Config, store: Store) -> Gateway:
        in_force = InForce.build(config, store)
        services = in_force.services
        metrics = Metrics()
        guards = Guards()
        qmgr = QueueManager(
            store,
            Router(config, store, guards),
            config.queue,
            notify=config.notify,
            metrics=metrics,
        )
        notifier = Notifier(store, config, on_queued=qmgr.wake)
        qmgr.on_notice = notifier.wake
        pruner = Pruner(store, config.retention)
        bounces = Bounces(store, config)
        intake = Intake(store, in_force, qmgr.wake, config.queue, metrics)
        qmgr.compose = intake.compose
        batches = Batches(
            store,
            services.composer.templates,
            config.runs,
            hostname=config.hostname,
            on_queued=qmgr.wake,
            in_force=in_force,
        )
        scheduler = Scheduler(store, batches, config.runs.spool_dir)
        app = web.Application(
            middlewares=[secure_headers, problems.middleware], client_max_size=MAX_BODY
        )
        webhook = Webhook(
            intake, config.webhook_secrets, config.sender.address, max_size=config.max_event_size
        )
        app.add_routes(webhook.routes())
        token = admin.admin_token(config.admin_token, config.admin_token_file)
        api = admin.Api(in_force, token, batches, metrics, qmgr.wake)
        app.add_routes(admin.routes(api))
        console = Console(api, vault_for(config), router=lambda: qmgr.router, guards=guards)
        console.install(app)
        return cls(
            config,
            store,
            in_force,
            qmgr,
            intake,
            batches,
            scheduler,
            notifier,
            pruner,
            bounces,
            webhook,
            guards,
            metrics,
            app,
            api,
            console,
        )

    def reload(self, new: Config) -> None:
        """Apply what can change in a running daemon; name what needs a restart.

        Submissions and deliveries under way finish with what they started with.
        """
        old = self.config
        changed = [
            f.name
            for f in dataclasses.fields(Config)
            if f.name not in ("raw", "source") and getattr(old, f.name) != getattr(new, f.name)
        ]
        # Kept: the sockets, the store, the token and the key stay as opened.
        new = dataclasses.replace(new, **{k: getattr(old, k) for k in NEEDS_RESTART})
        # Build everything first: a stage that fails to build leaves all as it was.
        in_force = InForce.build(new, self.store)
        router = Router(new, self.store, self.guards)
        self.in_force.replace(in_force)
        self.qmgr.configure(new.queue, new.notify, router)
        self.intake.settings = new.queue
        self.webhook.secrets = new.webhook_secrets
        self.webhook.mail_from = new.sender.address
        self.notifier.configure(new)
        self.pruner.configure(new.retention)
        self.bounces.configure(new)
        self.config = new
        log.info(
            "config_reloaded",
            changed=[name for name in changed if name not in NEEDS_RESTART],
            needs_restart=[name for name in changed if name in NEEDS_RESTART],
        )


async def serve(config: Config) -> None:
    store = open_store(config.store_url, max_bytes=config.store_max_bytes)
    await store.open()
    try:
        await _run(config, store)
    finally:
        # Closed on every way out, a failed start included: the store's
        # worker thread would otherwise keep the process alive; the worker
        # processes that compose are stopped with it.
        await asyncio.to_thread(workers.shutdown)
        await store.close()


async def _listen(
    address: Listen, setting: str, variable: str | None, start: Callable[[], Awaitable[T]]
) -> T:
    """Open one listener, or raise ``ListenError`` naming its address and setting."""
    try:
        return await start()
    except OSError as exc:
        where = f"{setting} / {variable}" if variable else setting
        # asyncio wraps the bind error's text in its own words; the errno's
        # own text is the one line an operator needs.
        if isinstance(exc, socket.gaierror) or not exc.errno:
            reason = exc.strerror or str(exc) or type(exc).__name__
        else:
            reason = os.strerror(exc.errno)
        raise ListenError(f"cannot listen on {address} ({where}): {reason.lower()}") from None


async def _run(config: Config, store: Store) -> None:
    gateway = Gateway.build(config, store)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()

    runner = web.AppRunner(
        gateway.app,
        access_log=None,
        handle_signals=False,
        shutdown_timeout=config.shutdown_grace,
        logger=problems.server_logger(),
    )
    await runner.setup()
    listeners: list[asyncio.Server] = []
    try:
        http = web.TCPSite(runner, config.http_listen.host, config.http_listen.port)
        await _listen(config.http_listen, "[http] listen", "HERALD_HTTP_LISTEN", http.start)
        context = smtpd.tls_context(config.smtp)
        listeners.append(
            await _listen(
                config.smtp.listen,
                "[smtp] listen",
                "HERALD_SMTP_LISTEN",
                lambda: loop.create_server(
                    smtpd.Listener(config, gateway.intake, store, context, bounces=gateway.bounces),
                    host=config.smtp.listen.host,
                    port=config.smtp.listen.port,
                ),
            )
        )
        tls_listen = config.smtp.tls_listen
        if tls_listen is not None and context is not None:
            listeners.append(
                await _listen(
                    tls_listen,
                    "[smtp] tls_listen",
                    None,
                    lambda: loop.create_server(
                        smtpd.Listener(
                            config,
                            gateway.intake,
                            store,
                            context,
                            implicit_tls=True,
                            bounces=gateway.bounces,
                        ),
                        host=tls_listen.host,
                        port=tls_listen.port,
                        ssl=context,
                    ),
                )
            )
    except ListenError:
        for server in listeners:
            server.close()
        await runner.cleanup()
        raise
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    loop.add_signal_handler(signal.SIGHUP, _reload, gateway)

    queue = asyncio.create_task(gateway.qmgr.run(), name="qmgr")
    try:
        upstream = (await gateway.qmgr.router.relay_for(config.sender.address)).describe()
    except GatewayError as exc:
        upstream = f"unusable: {exc}"
    schedule = asyncio.create_task(gateway.scheduler.run(), name="scheduler")
    await gateway.batches.resume()
    notices = asyncio.create_task(gateway.notifier.run(), name="notifier")
    pruning = asyncio.create_task(gateway.pruner.run(), name="pruner")

    log.info(
        "herald_started",
        smtp=str(config.smtp.listen),
        smtp_tls=str(config.smtp.tls_listen) if config.smtp.tls_listen else None,
        smtp_starttls=context is not None,
        smtp_allow=[str(network) for network in config.smtp.allow],
        http=str(config.http_listen),
        store=redact_url(config.store_url),
        upstream=upstream,
        spool=str(config.runs.spool_dir),
        templates=str(config.templates_dir),
        stages=[stage.name for stage in gateway.in_force.pipeline.stages],
        admin_token_file=None if config.admin_token else str(config.admin_token_file),
        settings_key_file=str(config.settings_key_file),
        webhook_signatures="required" if config.webhook_secrets else "off",
        config=str(config.source) if config.source else "defaults",
    )
    _systemd.notify("READY=1\nSTATUS=accepting mail")
    await stop.wait()

    # Stop taking new work first, then let deliveries finish (for at most
    # shutdown_grace; the rest stay queued for the next start), then close.
    _systemd.notify("STOPPING=1")
    log.info("herald_stopping", grace=gateway.config.shutdown_grace)
    for server in listeners:
        server.close()
    await runner.cleanup()
    schedule.cancel()
    await gateway.batches.stop()
    gateway.notifier.stop()
    gateway.pruner.stop()
    # A pass cut short loses nothing: each batch is its own transaction.
    pruning.cancel()
    await gateway.qmgr.stop(gateway.config.shutdown_grace)
    queue.cancel()
    notices.cancel()
    await asyncio.gather(queue, schedule, notices, pruning, return_exceptions=True)
    await gateway.guards.close()
    for server in listeners:
        await server.wait_closed()
    log.info("herald_stopped")


def _reload(gateway: Gateway) -> None:
    source = gateway.config.source
    try:
        gateway.reload(configuration.load(source))
    except Exception as exc:
        # A broken file must not take down a running daemon: keep the old settings.
        log.error("config_reload_failed", error=str(exc))
