"""``herald serve``: the HTTP server, the SMTP listener and the queue on one loop."""

from __future__ import annotations

import asyncio
import signal
from dataclasses import dataclass

import structlog
from aiohttp import web

from gateway import _systemd, admin, problems, relay, smtpd
from gateway.batches import Batches
from gateway.config import Config
from gateway.errors import GatewayError
from gateway.intake import Intake
from gateway.pipeline import Pipeline, Services
from gateway.qmgr import QueueManager
from gateway.scheduler import Scheduler
from gateway.store import Store, open_store, redact_url
from gateway.webhook import Webhook

log = structlog.get_logger(__name__)

SHUTDOWN_GRACE = 20.0  # seconds in-flight deliveries get on SIGTERM
MAX_BODY = 10 * 1024 * 1024


@dataclass
class Gateway:
    """Everything ``serve`` starts, built from one ``Config``."""

    config: Config
    store: Store
    pipeline: Pipeline
    qmgr: QueueManager
    intake: Intake
    batches: Batches
    scheduler: Scheduler
    app: web.Application

    @classmethod
    def build(cls, config: Config, store: Store) -> Gateway:
        services = Services.build(config, store)
        pipeline = Pipeline.build(services)
        qmgr = QueueManager(store, relay.Router(config, store), config.queue)
        intake = Intake(store, pipeline, on_queued=qmgr.wake)
        batches = Batches(
            store,
            services.composer.templates,
            config.runs,
            hostname=config.hostname,
            on_queued=qmgr.wake,
            brand=services.composer.brand,
        )
        scheduler = Scheduler(store, batches, config.runs.spool_dir)
        app = web.Application(middlewares=[problems.middleware], client_max_size=MAX_BODY)
        app.add_routes(Webhook(intake, config.webhook_secrets, config.sender.address).routes())
        token = admin.admin_token(config.admin_token, config.admin_token_file)
        app.add_routes(admin.routes(admin.Api(services, token, pipeline, batches)))
        return cls(config, store, pipeline, qmgr, intake, batches, scheduler, app)


async def serve(config: Config) -> None:
    store = open_store(config.store_url)
    await store.open()
    gateway = Gateway.build(config, store)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)

    runner = web.AppRunner(gateway.app, access_log=None, handle_signals=False)
    await runner.setup()
    http = web.TCPSite(runner, config.http_listen.host, config.http_listen.port)
    await http.start()
    smtp = await loop.create_server(
        smtpd.listener(config, gateway.intake),
        host=config.smtp_listen.host,
        port=config.smtp_listen.port,
    )
    queue = asyncio.create_task(gateway.qmgr.run(), name="qmgr")
    try:
        upstream = (await gateway.qmgr.router.relay_for(config.sender.address)).describe()
    except GatewayError as exc:
        upstream = f"unusable: {exc}"
    schedule = asyncio.create_task(gateway.scheduler.run(), name="scheduler")
    await gateway.batches.resume()

    log.info(
        "herald_started",
        smtp=str(config.smtp_listen),
        http=str(config.http_listen),
        store=redact_url(config.store_url),
        upstream=upstream,
        spool=str(config.runs.spool_dir),
        templates=str(config.templates_dir),
        stages=[stage.name for stage in gateway.pipeline.stages],
        admin_token_file=None if config.admin_token else str(config.admin_token_file),
        settings_key_file=str(config.settings_key_file),
        webhook_signatures="required" if config.webhook_secrets else "off",
        config=str(config.source) if config.source else "defaults",
    )
    _systemd.notify("READY=1\nSTATUS=accepting mail")
    await stop.wait()

    # Stop taking new work first, then let deliveries finish, then close the store.
    _systemd.notify("STOPPING=1")
    log.info("herald_stopping")
    smtp.close()
    await runner.cleanup()
    schedule.cancel()
    await gateway.batches.stop()
    await gateway.qmgr.stop(SHUTDOWN_GRACE)
    queue.cancel()
    await asyncio.gather(queue, schedule, return_exceptions=True)
    await smtp.wait_closed()
    await store.close()
    log.info("herald_stopped")
