"""Configuration: a TOML file, overridden by ``HERALD_*`` environment variables.

Everything is validated once, at start-up, into frozen dataclasses. An error
names the file, the key and what was expected, so an operator can fix it
without reading code.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import re
import socket
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from importlib import resources
from pathlib import Path
from typing import Any, Literal
from urllib.parse import unquote, urlsplit

from gateway import brand as brand_settings
from gateway.addresses import check_address, check_header_text
from gateway.errors import ConfigError, InvalidInput

Security = Literal["none", "starttls", "tls"]
EventLoop = Literal["auto", "asyncio", "uvloop"]
EVENT_LOOPS: tuple[EventLoop, ...] = ("auto", "asyncio", "uvloop")

DEFAULT_STAGES = ("render-template", "substitute-tags", "delivery-policy")
# The shipped templates are package data of ``herald_templates``: found the
# same way in a wheel, an editable install and a source checkout.
SHIPPED_TEMPLATES = Path(str(resources.files("herald_templates")))


def shipped_file(name: str) -> str:
    """A file Herald ships beside its code (``etc/herald.toml``,
    ``systemd/herald.service``): package data in a wheel (setup.py copies it
    under ``gateway/_shipped/``), the source tree's own file in a checkout."""
    packaged = resources.files("gateway").joinpath("_shipped", *name.split("/"))
    if packaged.is_file():
        return packaged.read_text(encoding="utf-8")
    return (Path(__file__).resolve().parent.parent / name).read_text(encoding="utf-8")


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}
_SCHEMES: dict[str, tuple[Security, int]] = {
    "smtp": ("none", 25),
    "smtp+starttls": ("starttls", 587),
    "smtps": ("tls", 465),
}


@dataclass(frozen=True)
class Listen:
    host: str
    port: int

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


@dataclass(frozen=True)
class UpstreamLimits:
    """How hard Herald may press one upstream."""

    max_connections: int = 4
    rate: float | None = None  # messages per second; None: no limit
    idle_timeout: float = 10.0  # an unused connection is closed after this
    breaker_threshold: int = 5  # consecutive connection failures that open the breaker
    breaker_cooldown: float = 30.0  # how long an open breaker defers without connecting


@dataclass(frozen=True)
class Upstream:
    """The operator's SMTP server that Herald relays to."""

    host: str
    port: int
    security: Security = "none"
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    verify: bool = True
    ca_file: Path | None = None
    timeout: float = 30.0
    connect_timeout: float | None = None  # None: the same as timeout
    limits: UpstreamLimits = field(default_factory=lambda: UpstreamLimits())

    @property
    def identity(self) -> str:
        """``host:port``: what per-upstream limits and the breaker are keyed by."""
        return str(Listen(self.host, self.port))

    @classmethod
    def from_url(cls, url: str, *, where: str) -> Upstream:
        """Parse ``smtp://``, ``smtp+starttls://user:pass@`` or ``smtps://`` URLs."""
        parts = urlsplit(url)
        if parts.scheme not in _SCHEMES:
            raise ConfigError(
                f"{where}: expected a URL starting smtp://, smtp+starttls:// or smtps://"
            )
        security, default_port = _SCHEMES[parts.scheme]
        try:
            port = parts.port if parts.port is not None else default_port
        except ValueError:
            port = 0
        if not 1 <= port <= 65535:
            raise ConfigError(f"{where}: the port is not a number from 1 to 65535")
        if not parts.hostname:
            raise ConfigError(f"{where}: the URL names no host")
        return cls(
            host=parts.hostname,
            port=port,
            security=security,
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
        )

    def __str__(self) -> str:
        return describe_upstream(self.security, self.host, self.port, self.username)


def describe_upstream(security: Security, host: str, port: int, login: str | None) -> str:
    """``smtp+starttls://login@[2001:db8::1]:587``: an upstream as every log
    line, command and answer names it, never with its password.

    RFC 3986 §3.2.2: an IPv6 address in a URL is written in brackets, else
    its last group would read as the port.
    """
    scheme = next(name for name, (kind, _) in _SCHEMES.items() if kind == security)
    user = f"{login}@" if login else ""
    return f"{scheme}://{user}{Listen(host, port)}"


Network = ipaddress.IPv4Network | ipaddress.IPv6Network

LOOPBACK_NETWORKS = ("127.0.0.0/8", "::1/128")


@dataclass(frozen=True)
class UpstreamSettings:
    """``[upstream]``: the server Herald relays to while no saved settings
    choose another, the limits that hold for whichever upstream is chosen,
    and the Maildir that catches the mail when there is none."""

    capture_dir: Path
    # None: no ``url``; saved settings, or else the capture, decide.
    server: Upstream | None = None
    limits: UpstreamLimits = field(default_factory=lambda: UpstreamLimits())


@dataclass(frozen=True)
class SMTPSettings:
    """``[smtp]``: where the SMTP listener listens, who may use it, how, and how much."""

    listen: Listen = Listen("127.0.0.1", 2525)
    # The largest message DATA accepts (RFC 1870 SIZE).
    max_message_size: int = 25 * 1024 * 1024
    # Connections at once; one more is greeted with 421.
    max_connections: int = 100
    # Clients from these networks may relay without AUTH; all others must
    # authenticate, so Herald is never an open relay.
    allow: tuple[Network, ...] = tuple(ipaddress.ip_network(n) for n in LOOPBACK_NETWORKS)
    tls_cert: Path | None = None
    tls_key: Path | None = None
    # An implicit-TLS listener (RFC 8314), beside the plain one with STARTTLS.
    tls_listen: Listen | None = None
    max_recipients: int = 100
    # How many times one connection may send each command (421 after that).
    command_limit: int = 1000
    idle_timeout: float = 300.0
    # Connections at once from one client address, so that one client cannot
    # take every slot of ``[smtp] max_connections``.
    max_connections_per_address: int = 20
    # How long a client may take from connecting to its first MAIL FROM.
    pre_mail_timeout: float = 30.0

    @property
    def tls(self) -> bool:
        return self.tls_cert is not None

    def allows(self, peer: str) -> bool:
        """Whether a client at ``peer`` may relay without authenticating."""
        address = client_ip(peer)
        return address is not None and any(address in network for network in self.allow)


def client_ip(peer: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """A client's IP address as Herald's rules see it: an IPv4-mapped IPv6
    address as IPv4, without an IPv6 zone; None when ``peer`` is no address."""
    try:
        address = ipaddress.ip_address(peer.split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return address.ipv4_mapped
    return address


@dataclass(frozen=True)
class Sender:
    address: str
    name: str = "Herald"


@dataclass(frozen=True)
class QueueSettings:
    workers: int = 16
    lease: float = 300.0
    poll_interval: float = 5.0
    retry_initial: float = 300.0
    retry_max: float = 3600.0
    lifetime: float = 5 * 86400.0
    max_depth: int = 100_000
    max_intake: int = 256


@dataclass(frozen=True)
class NotifySettings:
    """Where permanent failures are reported."""

    callback_url: str | None = None
    callback_secrets: tuple[str, ...] = field(default=(), repr=False)
    bounce_to: str | None = None


@dataclass(frozen=True)
class RunSettings:
    """Definition runs: where batches of invoices are spooled, how large a
    message may grow, how many messages are committed at a time."""

    spool_dir: Path
    max_message_size: int = 10 * 1024 * 1024
    batch_size: int = 500


@dataclass(frozen=True)
class RetentionSettings:
    """How long what Herald recorded is kept, each on its own clock. A clock
    of None keeps that kind for ever. Nothing still queued, deferred, held or
    being sent is ever pruned, whatever its age."""

    # A message's bytes, counted from when its run became final (sent,
    # failed, ...); until then a resend can still use them.
    bodies: float | None = 30 * 86400.0
    # A final run with its recipients, counts and history, counted the same way.
    runs: float | None = 365 * 86400.0
    # Entries of the settings audit log, counted from the change.
    audit: float | None = 730 * 86400.0
    # How often the daemon prunes, and how many rows one transaction removes.
    interval: float = 600.0
    batch_size: int = 500


@dataclass(frozen=True)
class BounceSettings:
    """Bounces that come back: with ``enabled``, every message leaves with a
    return path of its own (VERP), ``<local_part>+<token>@<domain>``, and the
    SMTP listener takes delivery status notifications sent to it."""

    enabled: bool = False
    # The domain whose mail reaches Herald's listener (its MX); by default the host name.
    domain: str | None = None
    local_part: str = "bounces"


@dataclass(frozen=True)
class TypePolicy:
    """Who receives one email type, besides the addressees of the message."""

    customers: bool = True
    bcc_admin: bool = False
    bcc: tuple[str, ...] = ()
    # Send to suppressed recipients too (a password reset, say, that the
    # recipient asked for even though an old bounce suppressed them).
    ignore_suppressions: bool = False


@dataclass(frozen=True)
class DeliverySettings:
    admin: str | None = None
    types: Mapping[str, TypePolicy] = field(default_factory=dict)

    def policy(self, email_type: str) -> TypePolicy:
        return self.types.get(email_type, TypePolicy())


@dataclass(frozen=True, kw_only=True)
class Config:
    source: Path | None
    hostname: str
    state_dir: Path
    # The key that seals secrets saved in the store (``gateway.settings.vault``).
    settings_key_file: Path
    http_listen: Listen = Listen("127.0.0.1", 8025)
    store_url: str
    store_max_bytes: int | None
    upstream: UpstreamSettings
    webhook_secrets: tuple[str, ...] = field(repr=False)
    admin_token: str | None = field(repr=False)
    sender: Sender
    queue: QueueSettings
    notify: NotifySettings
    shutdown_grace: float = 20.0
    # "auto": uvloop when it is installed, else asyncio's own loop.
    event_loop: EventLoop = "auto"
    stages: tuple[str, ...] = DEFAULT_STAGES
    stage_timeout: float = 10.0
    templates_dir: Path
    render_timeout: float = 2.0
    max_render_size: int = 1_000_000
    max_template_size: int = 262_144
    brand_layout: tuple[str, ...] = ()
    brand: Mapping[str, Any]
    logo: brand_settings.Logo | None = field(repr=False)
    delivery: DeliverySettings
    runs: RunSettings
    retention: RetentionSettings = field(default_factory=RetentionSettings)
    bounces: BounceSettings = field(default_factory=BounceSettings)
    raw: Mapping[str, Any] = field(repr=False)
    smtp: SMTPSettings = field(default_factory=SMTPSettings)
    max_event_size: int = 1024 * 1024

    @property
    def admin_token_file(self) -> Path:
        return self.state_dir / "admin-token"


DEFAULT_BRAND = brand_settings.DEFAULTS


def default(model: type[Any], name: str) -> Any:
    """The default that dataclass ``model`` declares for its field ``name``.

    Each default is written once, on its field; the loader reads it from
    there, so the file's default and the type's cannot drift apart.
    """
    for item in dataclasses.fields(model):
        if item.name != name:
            continue
        if item.default is not dataclasses.MISSING:
            return item.default
        if item.default_factory is not dataclasses.MISSING:
            return item.default_factory()
        break
    raise LookupError(f"{model.__name__}.{name} declares no default")


class _Section:
    """Reads one table of the file, naming ``file: [table] key`` in errors."""

    def __init__(
        self, data: Mapping[str, Any], where: str, name: str, model: type[Any] | None = None
    ) -> None:
        self.data = data
        self.where = where
        self.name = name
        # The settings type this table fills: a key's default, when a read
        # names none, is the default of the model's field of the same name.
        self.model = model
        self.seen: set[str] = set()

    def default(self, key: str) -> Any:
        """The default of ``key``: its model's field default."""
        if self.model is None:
            raise LookupError(f"[{self.name}] {key}: no model to take a default from")
        return default(self.model, key)

    def fail(self, key: str, expected: str) -> ConfigError:
        got = self.data.get(key)
        return ConfigError(f"{self.where}: [{self.name}] {key}: expected {expected}, got {got!r}")

    def get(self, key: str, default: Any = None) -> Any:
        self.seen.add(key)
        return self.data.get(key, default)

    def string(self, key: str, default: str | None = None) -> str | None:
        value = self.get(key, default)
        if value is not None and not isinstance(value, str):
            raise self.fail(key, "a string")
        return value

    def overridden(
        self, key: str, env: Mapping[str, str], variable: str, default: str | None = None
    ) -> tuple[str | None, str]:
        """``variable``'s value when set, else the file's; and where it came from.
        The file's value is read (and checked) either way."""
        value = self.string(key, default)
        if env.get(variable):
            return env[variable], variable
        return value, f"{self.where}: [{self.name}] {key}"

    def boolean(self, key: str, default: bool | None = None) -> bool:
        value = self.get(key, self.default(key) if default is None else default)
        if not isinstance(value, bool):
            raise self.fail(key, "true or false")
        return value

    def integer(
        self,
        key: str,
        default: int | None = None,
        minimum: int = 1,
        *,
        env: Mapping[str, str] | None = None,
    ) -> int:
        """The whole number at ``key`` (by default its model's default); with
        ``env``, its ``HERALD_<TABLE>_<KEY>`` variable wins over the file."""
        value, fail = self._value(key, default, env)
        if isinstance(value, str) and value.strip().isdecimal():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise fail(f"a whole number of at least {minimum}")
        return value

    def duration(
        self, key: str, default: float | None = None, *, env: Mapping[str, str] | None = None
    ) -> float:
        """The duration at ``key`` in seconds; ``default`` and ``env`` as for ``integer``."""
        value, fail = self._value(key, default, env)
        if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
            return float(value)
        match = _DURATION.match(value) if isinstance(value, str) else None
        if match is None or float(match[1]) <= 0:
            raise fail('a positive duration such as 30, "90s", "5m", "1h" or "5d"')
        return float(match[1]) * _UNITS[match[2]]

    def _value(
        self, key: str, default: Any, env: Mapping[str, str] | None
    ) -> tuple[Any, Callable[[str], ConfigError]]:
        """The file's value at ``key`` (read and checked either way), or its
        environment variable's text when set; and how to complain about it,
        naming the variable or the file and key it came from."""
        value = self.get(key, self.default(key) if default is None else default)
        variable = f"HERALD_{self.name}_{key}".upper()
        if env is not None and env.get(variable):
            text = env[variable]
            return text, lambda expected: ConfigError(
                f"{variable}: expected {expected}, got {text!r}"
            )
        return value, partial(self.fail, key)

    def strings(self, key: str, default: tuple[str, ...] = ()) -> tuple[str, ...]:
        value = self.get(key, list(default))
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self.fail(key, "a list of strings")
        return tuple(value)

    def table(self, key: str) -> Mapping[str, Any]:
        value = self.get(key, {})
        if not isinstance(value, dict):
            raise self.fail(key, "a table")
        return value

    def finish(self) -> None:
        unknown = sorted(set(self.data) - self.seen)
        if unknown:
            raise ConfigError(f"{self.where}: [{self.name}] unknown key {unknown[0]!r}")


def parse_listen(value: str | None, where: str) -> Listen:
    """Parse ``host:port`` or ``[v6]:port``."""
    host, sep, port = (value or "").rpartition(":")
    host = host.strip("[]")
    if not (sep and host and port.isascii() and port.isdigit() and int(port) <= 65535):
        raise ConfigError(f"{where}: expected host:port such as 127.0.0.1:2525, got {value!r}")
    return Listen(host, int(port))


def default_state_dir(env: Mapping[str, str]) -> Path:
    """systemd's StateDirectory, else the XDG state directory."""
    if env.get("HERALD_STATE_DIR"):
        return Path(env["HERALD_STATE_DIR"]).expanduser()
    if env.get("STATE_DIRECTORY"):
        return Path(env["STATE_DIRECTORY"].split(":")[0])
    base = env.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base).expanduser() / "herald"


def load(path: str | Path | None = None, env: Mapping[str, str] | None = None) -> Config:
    """Read the file (``path``, else ``HERALD_CONFIG``, else none) and the environment."""
    env = os.environ if env is None else env
    named = path or env.get("HERALD_CONFIG")
    source = Path(named) if named else None
    data: dict[str, Any] = {}
    where = str(source) if source else "defaults"
    if source is not None:
        try:
            data = tomllib.loads(source.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise ConfigError(f"{source}: no such configuration file") from exc
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{source}: cannot be read ({exc})") from exc
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{source}: not valid TOML ({exc})") from exc
    return _build(data, where, source, env)


def _build(
    data: Mapping[str, Any], where: str, source: Path | None, env: Mapping[str, str]
) -> Config:
    top = _Section(data, where, "top level")
    # Each table with the settings type whose defaults it reads; the tables
    # without one fill fields of ``Config`` itself and name them.
    models: dict[str, type[Any] | None] = {
        "server": None,
        "smtp": SMTPSettings,
        "http": None,
        "store": None,
        "upstream": UpstreamLimits,
        "sender": Sender,
        "queue": QueueSettings,
        "notify": NotifySettings,
        "pipeline": None,
        "templates": None,
        "brand": None,
        "delivery": DeliverySettings,
        "runs": RunSettings,
        "retention": RetentionSettings,
        "bounces": BounceSettings,
    }
    sections = {
        name: _Section(top.table(name), where, name, model) for name, model in models.items()
    }
    top.table("stage")  # third-party stages read their own [stage.NAME] tables
    top.finish()

    server = sections["server"]
    hostname = server.overridden("hostname", env, "HERALD_HOSTNAME")[0] or socket.gethostname()
    state_value = server.string("state_dir")
    state_dir = Path(state_value).expanduser() if state_value else default_state_dir(env)
    if env.get("HERALD_STATE_DIR"):
        state_dir = default_state_dir(env)
    key_value = server.overridden("settings_key_file", env, "HERALD_SETTINGS_KEY_FILE")[0]
    settings_key_file = Path(key_value).expanduser() if key_value else state_dir / "settings-key"
    shutdown_grace = server.duration("shutdown_grace", default(Config, "shutdown_grace"))
    loop_value, loop_where = server.overridden(
        "event_loop", env, "HERALD_EVENT_LOOP", default(Config, "event_loop")
    )
    event_loop = next((name for name in EVENT_LOOPS if name == loop_value), None)
    if event_loop is None:
        raise ConfigError(f"{loop_where}: expected auto, asyncio or uvloop, got {loop_value!r}")

    smtp_settings = _smtp(sections["smtp"], env, where)

    http = sections["http"]
    http_listen = parse_listen(
        *http.overridden("listen", env, "HERALD_HTTP_LISTEN", str(default(Config, "http_listen")))
    )
    secrets = http.strings("webhook_secrets")
    if env.get("HERALD_WEBHOOK_SECRET"):
        # Several secrets, space separated, let an operator rotate without downtime.
        secrets = tuple(env["HERALD_WEBHOOK_SECRET"].split())
    admin_token = http.overridden("admin_token", env, "HERALD_ADMIN_TOKEN")[0]
    max_event_size = http.integer("max_event_size", default(Config, "max_event_size"))

    store = sections["store"]
    store_url = store.overridden("url", env, "HERALD_STORE")[0] or str(state_dir / "herald.db")
    max_size = store.get("max_size")
    store_max_bytes = store.integer("max_size", 1, minimum=65536) if max_size is not None else None

    upstream = _upstream(sections["upstream"], env, where, state_dir)

    sender_section = sections["sender"]
    address = sender_section.string("address")
    if address:
        _checked(address, f"{where}: [sender] address")
    else:
        # A host name is not always a valid mail domain (underscores, say).
        address = f"herald@{hostname}"
        if not _valid(address):
            address = "herald@localhost"
    name = sender_section.string("name", sender_section.default("name")) or ""
    try:
        # The display name of every email's From.
        check_header_text(name, "the name")
    except ValueError as exc:
        raise ConfigError(f"{where}: [sender] name: {exc}") from exc
    sender = Sender(address=address, name=name)

    q = sections["queue"]
    queue = QueueSettings(
        workers=q.integer("workers"),
        lease=q.duration("lease"),
        poll_interval=q.duration("poll_interval"),
        retry_initial=q.duration("retry_initial"),
        retry_max=q.duration("retry_max"),
        lifetime=q.duration("lifetime"),
        max_depth=q.integer("max_depth"),
        max_intake=q.integer("max_intake"),
    )

    n = sections["notify"]
    bounce_to = n.string("bounce_to")
    if bounce_to:
        _checked(bounce_to, f"{where}: [notify] bounce_to")
    callback_url = n.string("callback_url")
    if callback_url and urlsplit(callback_url).scheme not in ("http", "https"):
        raise n.fail("callback_url", "an http:// or https:// URL")
    notify = NotifySettings(
        callback_url=callback_url or None,
        callback_secrets=n.strings("callback_secrets"),
        bounce_to=bounce_to or None,
    )

    pipeline = sections["pipeline"]
    stages = pipeline.strings("stages", default(Config, "stages"))
    stage_timeout = pipeline.duration("stage_timeout", default(Config, "stage_timeout"))

    templates = sections["templates"]
    templates_value = templates.string("dir")
    templates_dir = Path(templates_value).expanduser() if templates_value else SHIPPED_TEMPLATES
    render_timeout = templates.duration("render_timeout", default(Config, "render_timeout"))
    max_render_size = templates.integer(
        "max_render_size", default(Config, "max_render_size"), minimum=1000
    )
    max_template_size = templates.integer(
        "max_template_size", default(Config, "max_template_size"), minimum=1000
    )
    brand_layout = templates.strings("brand_layout", default(Config, "brand_layout"))

    brand, logo = _brand(sections["brand"], where)

    delivery = _delivery(sections["delivery"], where)

    runs_section = sections["runs"]
    spool = runs_section.string("spool_dir")
    runs = RunSettings(
        spool_dir=Path(spool).expanduser() if spool else state_dir / "spool",
        max_message_size=runs_section.integer("max_message_size"),
        batch_size=runs_section.integer("batch_size"),
    )

    retention = _retention(sections["retention"])
    bounces = _bounces(sections["bounces"], hostname)

    for section in sections.values():
        section.finish()

    return Config(
        source=source,
        hostname=hostname,
        state_dir=state_dir,
        settings_key_file=settings_key_file,
        http_listen=http_listen,
        store_url=store_url,
        store_max_bytes=store_max_bytes,
        upstream=upstream,
        webhook_secrets=secrets,
        admin_token=admin_token,
        sender=sender,
        queue=queue,
        notify=notify,
        shutdown_grace=shutdown_grace,
        event_loop=event_loop,
        stages=stages,
        stage_timeout=stage_timeout,
        templates_dir=templates_dir,
        render_timeout=render_timeout,
        max_render_size=max_render_size,
        max_template_size=max_template_size,
        brand_layout=brand_layout,
        brand=brand,
        logo=logo,
        delivery=delivery,
        runs=runs,
        retention=retention,
        bounces=bounces,
        raw=data,
        smtp=smtp_settings,
        max_event_size=max_event_size,
    )


def _smtp(section: _Section, env: Mapping[str, str], where: str) -> SMTPSettings:
    named = list(section.strings("allow", LOOPBACK_NETWORKS))
    allow_where = f"{where}: [smtp] allow"
    if env.get("HERALD_SMTP_ALLOW") is not None:
        named, allow_where = env["HERALD_SMTP_ALLOW"].split(","), "HERALD_SMTP_ALLOW"
    networks = []
    for text in (n.strip() for n in named):
        if not text:
            continue
        try:
            networks.append(ipaddress.ip_network(text, strict=False))
        except ValueError as exc:
            raise ConfigError(
                f"{allow_where}: expected networks such as 127.0.0.1/32 or ::1/128, got {text!r}"
            ) from exc
    cert, key = section.string("tls_cert"), section.string("tls_key")
    if bool(cert) != bool(key):
        raise section.fail("tls_cert" if key else "tls_key", "tls_cert and tls_key set together")
    tls_listen_text = section.string("tls_listen")
    tls_listen = None
    if tls_listen_text:
        if not cert:
            raise section.fail("tls_listen", "tls_cert and tls_key for the TLS listener")
        tls_listen = parse_listen(tls_listen_text, f"{where}: [smtp] tls_listen")
    return SMTPSettings(
        listen=parse_listen(
            *section.overridden("listen", env, "HERALD_SMTP_LISTEN", str(section.default("listen")))
        ),
        max_message_size=section.integer("max_message_size"),
        max_connections=section.integer("max_connections"),
        allow=tuple(networks),
        tls_cert=Path(cert).expanduser() if cert else None,
        tls_key=Path(key).expanduser() if key else None,
        tls_listen=tls_listen,
        max_recipients=section.integer("max_recipients"),
        command_limit=section.integer("command_limit"),
        idle_timeout=section.duration("idle_timeout"),
        max_connections_per_address=section.integer("max_connections_per_address", env=env),
        pre_mail_timeout=section.duration("pre_mail_timeout", env=env),
    )


def _retention(section: _Section) -> RetentionSettings:
    """``[retention]``: each clock a duration, or ``"forever"`` to keep that kind."""

    def clock(key: str) -> float | None:
        if section.get(key) == "forever":
            return None
        try:
            return section.duration(key)
        except ConfigError:
            raise section.fail(key, 'a duration such as "30d" or "365d", or "forever"') from None

    return RetentionSettings(
        bodies=clock("bodies"),
        runs=clock("runs"),
        audit=clock("audit"),
        interval=section.duration("interval"),
        batch_size=section.integer("batch_size"),
    )


_LOCAL_PART = re.compile(r"^[a-z0-9][a-z0-9._-]{0,29}$")


def _bounces(section: _Section, hostname: str) -> BounceSettings:
    """``[bounces]``: the return path's local part and domain must make a valid address."""
    enabled = section.boolean("enabled")
    local_part = section.string("local_part", section.default("local_part")) or ""
    if not _LOCAL_PART.match(local_part):
        raise section.fail("local_part", "lower-case letters, digits, '.', '_' or '-' (at most 30)")
    domain = (section.string("domain") or hostname).lower()
    if not _valid(f"{local_part}+x@{domain}"):
        raise section.fail("domain", "a mail domain that routes to Herald's SMTP listener")
    return BounceSettings(enabled=enabled, domain=domain, local_part=local_part)


def _limits(section: _Section) -> UpstreamLimits:
    """``[upstream]`` limits: they apply to whichever upstream the settings choose."""
    return UpstreamLimits(
        max_connections=section.integer("max_connections"),
        rate=_rate(section, "rate_limit"),
        idle_timeout=section.duration("idle_timeout"),
        breaker_threshold=section.integer("breaker_threshold"),
        breaker_cooldown=section.duration("breaker_cooldown"),
    )


def _upstream(
    section: _Section, env: Mapping[str, str], where: str, state_dir: Path
) -> UpstreamSettings:
    limits = _limits(section)
    capture = section.string("capture_dir")
    return UpstreamSettings(
        server=_server(section, env, where, limits),
        limits=limits,
        capture_dir=Path(capture).expanduser() if capture else state_dir / "outbox",
    )


def _server(
    section: _Section, env: Mapping[str, str], where: str, limits: UpstreamLimits
) -> Upstream | None:
    """The upstream that ``[upstream] url`` (or ``HERALD_UPSTREAM``) names, if any."""
    url, url_where = section.overridden("url", env, "HERALD_UPSTREAM")
    verify = section.boolean("verify", default(Upstream, "verify"))
    ca_file = section.string("ca_file")
    timeout = section.duration("timeout", default(Upstream, "timeout"))
    # Unset, the connection waits as long as any reply (``Upstream.connect_timeout``).
    connect_timeout = (
        section.duration("connect_timeout", timeout) if "connect_timeout" in section.data else None
    )
    password_file = section.string("password_file")
    if not url:
        return None
    upstream = Upstream.from_url(url, where=url_where)
    password = upstream.password
    if password_file:
        try:
            password = Path(password_file).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(f"{where}: [upstream] password_file: cannot be read ({exc})") from exc
    return Upstream(
        host=upstream.host,
        port=upstream.port,
        security=upstream.security,
        username=upstream.username,
        password=password,
        verify=verify,
        ca_file=Path(ca_file) if ca_file else None,
        timeout=timeout,
        connect_timeout=connect_timeout,
        limits=limits,
    )


def _brand(section: _Section, where: str) -> tuple[dict[str, Any], brand_settings.Logo | None]:
    values = {key: section.get(key, value) for key, value in DEFAULT_BRAND.items()}
    try:
        checked = brand_settings.check(values)
    except InvalidInput as exc:
        raise ConfigError(
            f"{where}: [brand] {exc.field.removeprefix('#/').replace('/', '.')}: {exc.detail}"
        ) from exc
    logo_file = section.string("logo_file")
    if not logo_file:
        return checked, None
    try:
        return checked, brand_settings.load_logo(Path(logo_file).expanduser())
    except ValueError as exc:
        raise ConfigError(f"{where}: [brand] logo_file: {exc}") from exc


_RATE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*/\s*(s|m|h)\s*$")


def _rate(section: _Section, key: str) -> float | None:
    """``"10/s"``, ``"600/m"`` or ``"5000/h"`` as messages per second; unset: no limit."""
    value = section.get(key)
    if value is None:
        return None
    match = _RATE.match(value) if isinstance(value, str) else None
    if match is None or float(match[1]) <= 0:
        raise section.fail(key, 'a rate such as "10/s", "600/m" or "5000/h"')
    return float(match[1]) / _UNITS[match[2]]


def _delivery(section: _Section, where: str) -> DeliverySettings:
    admin = section.string("admin")
    if admin:
        _checked(admin, f"{where}: [delivery] admin")
    types: dict[str, TypePolicy] = {}
    for email_type, table in section.table("types").items():
        if not isinstance(table, dict):
            raise ConfigError(f"{where}: [delivery.types.{email_type!r}] expected a table")
        policy = _Section(table, where, f"delivery.types.{email_type!r}", TypePolicy)
        bcc = policy.strings("bcc")
        for address in bcc:
            _checked(address, f"{where}: [delivery.types.{email_type!r}] bcc")
        types[email_type] = TypePolicy(
            customers=policy.boolean("customers"),
            bcc_admin=policy.boolean("bcc_admin"),
            bcc=bcc,
            ignore_suppressions=policy.boolean("ignore_suppressions"),
        )
        policy.finish()
    return DeliverySettings(admin=admin or None, types=types)


def _valid(address: str) -> bool:
    try:
        check_address(address)
    except ValueError:
        return False
    return True


def _checked(address: str, where: str) -> str:
    try:
        return check_address(address)
    except ValueError as exc:
        raise ConfigError(f"{where}: {exc}") from exc
