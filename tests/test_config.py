"""Tests for gateway/config.py: defaults, HERALD_* overrides, upstream URLs, TOML errors."""

from __future__ import annotations

import dataclasses
import re
import socket
from collections.abc import Callable
from pathlib import Path

import pytest

from gateway import config
from gateway.config import (
    DEFAULT_STAGES,
    SHIPPED_TEMPLATES,
    Listen,
    QueueSettings,
    TypePolicy,
    Upstream,
)
from gateway.errors import ConfigError


@pytest.fixture(autouse=True)
def machine_name(monkeypatch: pytest.MonkeyPatch) -> None:
    """The default host name (and so the default sender) must not depend on this machine."""
    monkeypatch.setattr(socket, "gethostname", lambda: "machine.test")


def write_toml(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "herald.toml"
    path.write_text(text, encoding="utf-8")
    return path


def load_toml(tmp_path: Path, text: str, **env: str) -> config.Config:
    return config.load(write_toml(tmp_path, text), env=env)


# Defaults


def test_listeners_default_to_loopback() -> None:
    """Without a file or environment, SMTP listens on 127.0.0.1:2525 and HTTP on 127.0.0.1:8025."""
    cfg = config.load(None, env={})
    assert cfg.smtp.listen == Listen("127.0.0.1", 2525)
    assert cfg.http_listen == Listen("127.0.0.1", 8025)
    assert str(cfg.smtp.listen) == "127.0.0.1:2525"


def test_defaults_without_a_file() -> None:
    """With no file, every setting takes its documented default and nothing is relayed."""
    cfg = config.load(None, env={})
    assert cfg.source is None
    assert cfg.upstream.server is None
    assert cfg.stages == DEFAULT_STAGES
    assert cfg.stage_timeout == 10.0
    assert cfg.queue == QueueSettings()
    assert cfg.webhook_secrets == ()
    assert cfg.admin_token is None
    assert cfg.templates_dir == SHIPPED_TEMPLATES
    assert cfg.sender.address == "herald@machine.test"
    assert cfg.sender.name == "Herald"
    assert cfg.smtp.max_message_size == 25 * 1024 * 1024
    assert cfg.brand["name"] == "Herald"


def test_hostname_defaults_to_the_machine_name() -> None:
    """Without HERALD_HOSTNAME or [server] hostname, the machine's host name is used."""
    cfg = config.load(None, env={})
    assert cfg.hostname == "machine.test"
    assert cfg.sender.address == "herald@machine.test"


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"HERALD_STATE_DIR": "/srv/herald"}, Path("/srv/herald")),
        (
            {
                "HERALD_STATE_DIR": "/srv/herald",
                "STATE_DIRECTORY": "/var/lib/herald",
                "XDG_STATE_HOME": "/home/u/.state",
            },
            Path("/srv/herald"),
        ),
        ({"STATE_DIRECTORY": "/var/lib/herald"}, Path("/var/lib/herald")),
        ({"STATE_DIRECTORY": "/var/lib/herald:/var/lib/other"}, Path("/var/lib/herald")),
        (
            {"STATE_DIRECTORY": "/var/lib/herald", "XDG_STATE_HOME": "/home/u/.state"},
            Path("/var/lib/herald"),
        ),
        ({"XDG_STATE_HOME": "/home/u/.state"}, Path("/home/u/.state/herald")),
    ],
    ids=["herald", "herald-wins", "systemd", "systemd-first-of-list", "systemd-wins", "xdg"],
)
def test_state_dir_from_environment(env: dict[str, str], expected: Path) -> None:
    """The state directory is HERALD_STATE_DIR, else systemd's STATE_DIRECTORY, else XDG."""
    assert config.load(None, env=env).state_dir == expected


def test_state_dir_falls_back_to_home() -> None:
    """With no state variable at all, the state directory is ~/.local/state/herald."""
    assert config.load(None, env={}).state_dir == Path.home() / ".local" / "state" / "herald"


def test_state_dir_expands_the_home_directory() -> None:
    """A HERALD_STATE_DIR starting with ~ is expanded."""
    cfg = config.load(None, env={"HERALD_STATE_DIR": "~/herald-state"})
    assert cfg.state_dir == Path.home() / "herald-state"


def test_store_and_capture_live_in_the_state_dir() -> None:
    """The SQLite file and the capture Maildir default to files inside the state directory."""
    cfg = config.load(None, env={"HERALD_STATE_DIR": "/srv/herald"})
    assert cfg.store_url == "/srv/herald/herald.db"
    assert cfg.upstream.capture_dir == Path("/srv/herald/outbox")
    assert cfg.admin_token_file == Path("/srv/herald/admin-token")


def test_file_state_dir_beats_systemd_but_not_herald_state_dir(tmp_path: Path) -> None:
    """[server] state_dir wins over STATE_DIRECTORY, and HERALD_STATE_DIR wins over the file."""
    text = '[server]\nstate_dir = "/opt/herald"\n'
    assert load_toml(tmp_path, text, STATE_DIRECTORY="/var/lib/h").state_dir == Path("/opt/herald")
    cfg = load_toml(tmp_path, text, HERALD_STATE_DIR="/srv/h")
    assert cfg.state_dir == Path("/srv/h")
    assert cfg.store_url == "/srv/h/herald.db"


# Environment overrides


FILE_WITH_EVERYTHING = """
[server]
hostname = "file.example.com"
state_dir = "/opt/from-file"
[smtp]
listen = "127.0.0.1:1025"
[http]
listen = "127.0.0.1:1080"
webhook_secrets = ["whsec_ZmlsZQ=="]
admin_token = "file-token"
[store]
url = "/opt/from-file/store.db"
[upstream]
url = "smtp://file.example.com"
"""

# (variable, value, how to read the setting, expected, the same key in a file)
OVERRIDES: list[tuple[str, str, Callable[[config.Config], object], object, str]] = [
    (
        "HERALD_HOSTNAME",
        "env.example.org",
        lambda c: c.hostname,
        "env.example.org",
        '[server]\nhostname = "file.example.com"\n',
    ),
    (
        "HERALD_STATE_DIR",
        "/srv/env",
        lambda c: c.state_dir,
        Path("/srv/env"),
        '[server]\nstate_dir = "/opt/from-file"\n',
    ),
    (
        "HERALD_SMTP_LISTEN",
        "0.0.0.0:2526",
        lambda c: c.smtp.listen,
        Listen("0.0.0.0", 2526),
        '[smtp]\nlisten = "127.0.0.1:1025"\n',
    ),
    (
        "HERALD_HTTP_LISTEN",
        "[::1]:8026",
        lambda c: c.http_listen,
        Listen("::1", 8026),
        '[http]\nlisten = "127.0.0.1:1080"\n',
    ),
    (
        "HERALD_STORE",
        "/srv/env/herald.db",
        lambda c: c.store_url,
        "/srv/env/herald.db",
        '[store]\nurl = "/opt/from-file/store.db"\n',
    ),
    (
        "HERALD_UPSTREAM",
        "smtps://mail.example.org",
        lambda c: (u := c.upstream.server) and (u.host, u.port, u.security),
        ("mail.example.org", 465, "tls"),
        '[upstream]\nurl = "smtp://file.example.com"\n',
    ),
    (
        "HERALD_WEBHOOK_SECRET",
        "whsec_bmV3 whsec_b2xk",
        lambda c: c.webhook_secrets,
        ("whsec_bmV3", "whsec_b2xk"),
        '[http]\nwebhook_secrets = ["whsec_ZmlsZQ=="]\n',
    ),
    (
        "HERALD_ADMIN_TOKEN",
        "env-token",
        lambda c: c.admin_token,
        "env-token",
        '[http]\nadmin_token = "file-token"\n',
    ),
    (
        "HERALD_SMTP_MAX_CONNECTIONS_PER_ADDRESS",
        "7",
        lambda c: c.smtp.max_connections_per_address,
        7,
        "[smtp]\nmax_connections_per_address = 3\n",
    ),
    (
        "HERALD_SMTP_PRE_MAIL_TIMEOUT",
        "2m",
        lambda c: c.smtp.pre_mail_timeout,
        120.0,
        '[smtp]\npre_mail_timeout = "10s"\n',
    ),
]


@pytest.mark.parametrize(
    ("variable", "value", "read", "expected"),
    [pytest.param(*case[:4], id=case[0]) for case in OVERRIDES],
)
def test_environment_sets_the_value(
    variable: str, value: str, read: Callable[[config.Config], object], expected: object
) -> None:
    """Each HERALD_* variable sets its setting when no file is given."""
    assert read(config.load(None, env={variable: value})) == expected


@pytest.mark.parametrize(
    ("variable", "value", "read", "expected", "text"),
    [pytest.param(*case, id=case[0]) for case in OVERRIDES],
)
def test_environment_overrides_the_file(
    tmp_path: Path,
    variable: str,
    value: str,
    read: Callable[[config.Config], object],
    expected: object,
    text: str,
) -> None:
    """A HERALD_* variable wins over the same key set in the configuration file."""
    cfg = config.load(write_toml(tmp_path, text), env={variable: value})
    assert read(cfg) == expected


def test_file_values_apply_without_environment(tmp_path: Path) -> None:
    """Without HERALD_* variables, the file's values are used as written."""
    cfg = config.load(write_toml(tmp_path, FILE_WITH_EVERYTHING), env={})
    assert cfg.hostname == "file.example.com"
    assert cfg.smtp.listen == Listen("127.0.0.1", 1025)
    assert cfg.http_listen == Listen("127.0.0.1", 1080)
    assert cfg.webhook_secrets == ("whsec_ZmlsZQ==",)
    assert cfg.admin_token == "file-token"
    assert cfg.store_url == "/opt/from-file/store.db"
    assert cfg.upstream.server is not None
    assert cfg.upstream.server.host == "file.example.com"
    assert cfg.upstream.capture_dir == Path("/opt/from-file/outbox")


def test_herald_config_names_the_file(tmp_path: Path) -> None:
    """With no path argument, HERALD_CONFIG names the file to read."""
    path = write_toml(tmp_path, '[smtp]\nlisten = "127.0.0.1:1025"\n')
    cfg = config.load(None, env={"HERALD_CONFIG": str(path)})
    assert cfg.source == path
    assert cfg.smtp.listen.port == 1025


def test_path_argument_beats_herald_config(tmp_path: Path) -> None:
    """An explicit path wins over HERALD_CONFIG."""
    path = write_toml(tmp_path, '[smtp]\nlisten = "127.0.0.1:1025"\n')
    env = {"HERALD_CONFIG": str(tmp_path / "missing.toml")}
    assert config.load(path, env=env).smtp.listen.port == 1025


def test_bad_listen_in_environment_names_the_variable() -> None:
    """A malformed HERALD_SMTP_LISTEN is a ConfigError naming the variable."""
    with pytest.raises(ConfigError, match="HERALD_SMTP_LISTEN") as info:
        config.load(None, env={"HERALD_SMTP_LISTEN": "localhost"})
    assert "'localhost'" in str(info.value)


def test_bad_upstream_in_environment_names_the_variable() -> None:
    """A malformed HERALD_UPSTREAM is a ConfigError naming the variable."""
    with pytest.raises(ConfigError, match=r"^HERALD_UPSTREAM: "):
        config.load(None, env={"HERALD_UPSTREAM": "http://mail.example.com"})


# Upstream URLs


@pytest.mark.parametrize(
    ("url", "host", "port", "security"),
    [
        ("smtp://mail.example.com", "mail.example.com", 25, "none"),
        ("smtp://mail.example.com:2525", "mail.example.com", 2525, "none"),
        ("smtp+starttls://mail.example.com", "mail.example.com", 587, "starttls"),
        ("smtp+starttls://mail.example.com:2587", "mail.example.com", 2587, "starttls"),
        ("smtps://mail.example.com", "mail.example.com", 465, "tls"),
        ("smtps://127.0.0.1:4650", "127.0.0.1", 4650, "tls"),
    ],
)
def test_upstream_url_scheme_and_default_port(
    url: str, host: str, port: int, security: str
) -> None:
    """Each scheme selects its security and default port (25, 587, 465) unless a port is given."""
    upstream = Upstream.from_url(url, where="test")
    assert (upstream.host, upstream.port, upstream.security) == (host, port, security)
    assert upstream.username is None
    assert upstream.password is None


def test_upstream_url_with_credentials() -> None:
    """smtp+starttls://user:pass@host carries the login."""
    upstream = Upstream.from_url("smtp+starttls://herald:s3cret@mail.example.com", where="test")
    assert upstream.username == "herald"
    assert upstream.password == "s3cret"
    assert upstream.port == 587


def test_upstream_url_credentials_are_percent_decoded() -> None:
    """Percent-encoded user names and passwords are decoded, so '@', ':' and '/' can appear."""
    upstream = Upstream.from_url(
        "smtp+starttls://herald%40example.com:p%40ss%3Aw%2Fd%20x@mail.example.com:587",
        where="test",
    )
    assert upstream.username == "herald@example.com"
    assert upstream.password == "p@ss:w/d x"
    assert upstream.host == "mail.example.com"


def test_upstream_string_never_shows_the_password() -> None:
    """str() and repr() of an upstream show the user and host but never the password."""
    upstream = Upstream.from_url(
        "smtp+starttls://herald:Hunter2Secret@mail.example.com", where="test"
    )
    assert str(upstream) == "smtp+starttls://herald@mail.example.com:587"
    assert "Hunter2Secret" not in repr(upstream)


def test_config_repr_hides_secrets() -> None:
    """repr() of a Config shows no webhook secret, admin token or upstream password."""
    cfg = config.load(
        None,
        env={
            "HERALD_UPSTREAM": "smtp://u:UpstreamPw9@mail.example.com",
            "HERALD_WEBHOOK_SECRET": "whsec_U2VjcmV0U2VjcmV0",
            "HERALD_ADMIN_TOKEN": "AdminTok3n",
        },
    )
    text = repr(cfg)
    assert "mail.example.com" in text
    for secret in ("UpstreamPw9", "whsec_U2VjcmV0U2VjcmV0", "AdminTok3n"):
        assert secret not in text


@pytest.mark.parametrize(
    ("url", "complaint"),
    [
        ("http://mail.example.com", "expected a URL starting smtp://"),
        ("mail.example.com:25", "expected a URL starting smtp://"),
        ("smtp+tls://mail.example.com", "expected a URL starting smtp://"),
        ("smtp://mail.example.com:99999", "port"),
        ("smtp://mail.example.com:twenty-five", "port"),
        ("smtp://", "names no host"),
        ("smtp://user:pw@:25", "names no host"),
    ],
)
def test_bad_upstream_url(url: str, complaint: str) -> None:
    """A wrong scheme, a bad port or a missing host is a ConfigError naming where it came from."""
    with pytest.raises(ConfigError) as info:
        Upstream.from_url(url, where="herald.toml: [upstream] url")
    message = str(info.value)
    assert message.startswith("herald.toml: [upstream] url: ")
    assert complaint in message


def test_upstream_port_zero_is_refused() -> None:
    """Port 0 is outside 1-65535 and is refused rather than silently replaced by the default."""
    try:
        upstream = Upstream.from_url("smtp://mail.example.com:0", where="test")
    except ConfigError:
        return
    raise AssertionError(f"port 0 was accepted as {upstream.port}")


def test_upstream_settings_from_the_file(tmp_path: Path) -> None:
    """[upstream] verify, ca_file and timeout reach the Upstream; the URL's password is kept."""
    cfg = load_toml(
        tmp_path,
        '[upstream]\nurl = "smtps://u:pw@mail.example.com"\nverify = false\n'
        'ca_file = "/etc/ca.pem"\ntimeout = "1m"\n',
    )
    assert cfg.upstream.server == Upstream(
        host="mail.example.com",
        port=465,
        security="tls",
        username="u",
        password="pw",
        verify=False,
        ca_file=Path("/etc/ca.pem"),
        timeout=60.0,
    )


def test_connect_timeout_defaults_to_the_command_timeout(tmp_path: Path) -> None:
    """[upstream] connect_timeout is optional; unset, connecting waits as long as a command."""
    url = '[upstream]\nurl = "smtp://mail.example.com"\n'
    unset = load_toml(tmp_path, url).upstream.server
    assert unset is not None
    assert unset.connect_timeout is None
    given = load_toml(tmp_path, url + 'connect_timeout = "5s"\n').upstream.server
    assert given is not None
    assert given.connect_timeout == 5.0


def test_password_file_replaces_the_url_password(tmp_path: Path) -> None:
    """[upstream] password_file is read, stripped of its newline, and wins over the URL."""
    secret = tmp_path / "password"
    secret.write_text("from-file-pw\n", encoding="utf-8")
    cfg = load_toml(
        tmp_path,
        f'[upstream]\nurl = "smtp://u:url-pw@mail.example.com"\npassword_file = "{secret}"\n',
    )
    assert cfg.upstream.server is not None
    assert cfg.upstream.server.password == "from-file-pw"


def test_unreadable_password_file_names_the_key(tmp_path: Path) -> None:
    """A password_file that cannot be read is a ConfigError naming the file and the key."""
    path = write_toml(
        tmp_path,
        f'[upstream]\nurl = "smtp://u@mail.example.com"\npassword_file = "{tmp_path / "nope"}"\n',
    )
    with pytest.raises(ConfigError, match=r"\[upstream\] password_file") as info:
        config.load(path, env={})
    assert str(path) in str(info.value)


# The file


def test_missing_file_is_named() -> None:
    """A configuration file that does not exist is a ConfigError naming it."""
    with pytest.raises(ConfigError, match=r"/nonexistent/herald\.toml: no such configuration file"):
        config.load("/nonexistent/herald.toml", env={})


def test_invalid_toml_is_named(tmp_path: Path) -> None:
    """A file that is not TOML is a ConfigError naming the file."""
    path = write_toml(tmp_path, "[smtp\nlisten = \n")
    with pytest.raises(ConfigError, match="not valid TOML") as info:
        config.load(path, env={})
    assert str(info.value).startswith(str(path))


@pytest.mark.parametrize(
    ("text", "fragments"),
    [
        ("[bogus]\nx = 1\n", ["[top level]", "unknown key 'bogus'"]),
        ("smtp = 3\n", ["[top level] smtp", "a table"]),
        ('[smtp]\nlisten_on = "127.0.0.1:25"\n', ["[smtp]", "unknown key 'listen_on'"]),
        ('[brand]\ncolour = "red"\n', ["[brand]", "unknown key 'colour'"]),
        ('[queue]\nworkers = "four"\n', ["[queue] workers", "whole number", "'four'"]),
        ("[queue]\nworkers = 0\n", ["[queue] workers", "at least 1", "got 0"]),
        ("[queue]\nworkers = true\n", ["[queue] workers", "whole number"]),
        ("[smtp]\nmax_message_size = 1.5\n", ["[smtp] max_message_size", "whole number"]),
        ('[upstream]\nverify = "yes"\n', ["[upstream] verify", "true or false"]),
        ("[server]\nhostname = 42\n", ["[server] hostname", "a string", "got 42"]),
        ('[server]\nevent_loop = "trio"\n', ["[server] event_loop", "auto, asyncio or uvloop"]),
        ('[pipeline]\nstages = "render-template"\n', ["[pipeline] stages", "list of strings"]),
        ("[pipeline]\nstages = [1, 2]\n", ["[pipeline] stages", "list of strings"]),
        ('[queue]\nlease = "5 weeks"\n', ["[queue] lease", "positive duration", "'5 weeks'"]),
        ('[queue]\nlease = "-5m"\n', ["[queue] lease", "positive duration"]),
        ("[queue]\nlease = 0\n", ["[queue] lease", "positive duration"]),
        ('[queue]\nretry_max = "0s"\n', ["[queue] retry_max", "positive duration"]),
        ("[pipeline]\nstage_timeout = true\n", ["[pipeline] stage_timeout", "positive duration"]),
        ('[smtp]\nlisten = "localhost"\n', ["[smtp] listen", "host:port", "'localhost'"]),
        ('[smtp]\nlisten = "127.0.0.1:70000"\n', ["[smtp] listen", "host:port"]),
        ('[http]\nlisten = ":8025"\n', ["[http] listen", "host:port"]),
        ("[http]\nlisten = 8025\n", ["[http] listen", "a string"]),
        ('[upstream]\nurl = "http://mail.example.com"\n', ["[upstream] url", "smtp://"]),
        ('[sender]\naddress = "noreply"\n', ["[sender] address", "'noreply'"]),
        (
            '[delivery]\nadmin = "ops at example.com"\n',
            ["[delivery] admin", "'ops at example.com'"],
        ),
        (
            '[delivery.types."invoice.issued"]\nbcc = ["finance@example.com", "finance"]\n',
            ["[delivery.types.'invoice.issued'] bcc", "'finance'"],
        ),
        (
            '[delivery.types."invoice.issued"]\nbcc_amdin = true\n',
            ["[delivery.types.'invoice.issued']", "unknown key 'bcc_amdin'"],
        ),
        (
            '[delivery.types."invoice.issued"]\nbcc_admin = "yes"\n',
            ["[delivery.types.'invoice.issued'] bcc_admin", "true or false"],
        ),
        (
            '[delivery]\ntypes = { "invoice.issued" = 3 }\n',
            ["[delivery.types.'invoice.issued']", "expected a table"],
        ),
    ],
)
def test_file_errors_name_the_file_and_the_key(
    tmp_path: Path, text: str, fragments: list[str]
) -> None:
    """Every invalid setting is a ConfigError that names the file, the key and what was wrong."""
    path = write_toml(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        config.load(path, env={})
    message = str(info.value)
    assert message.startswith(f"{path}: ")
    for fragment in fragments:
        assert fragment in message


def test_config_error_is_a_value_error() -> None:
    """ConfigError also inherits ValueError, so generic callers can catch it."""
    with pytest.raises(ValueError, match="host:port"):
        config.load(None, env={"HERALD_HTTP_LISTEN": "nope"})


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ('"90s"', 90.0),
        ('"5m"', 300.0),
        ('"1h"', 3600.0),
        ('"5d"', 432000.0),
        ('"250ms"', 0.25),
        ('"1.5h"', 5400.0),
        ('"30"', 30.0),
        ('" 2m "', 120.0),
        ("45", 45.0),
        ("2.5", 2.5),
    ],
)
def test_durations(tmp_path: Path, value: str, seconds: float) -> None:
    """Durations are numbers of seconds or strings with an ms, s, m, h or d unit."""
    cfg = load_toml(tmp_path, f"[queue]\nlease = {value}\n")
    assert cfg.queue.lease == seconds
    assert isinstance(cfg.queue.lease, float)


def test_every_queue_duration_is_read(tmp_path: Path) -> None:
    """Each [queue] and [pipeline] duration key reaches its setting."""
    cfg = load_toml(
        tmp_path,
        '[queue]\nworkers = 8\nlease = "2m"\npoll_interval = "1s"\nretry_initial = "30s"\n'
        'retry_max = "2h"\nlifetime = "1d"\n[pipeline]\nstage_timeout = "3s"\n',
    )
    assert cfg.queue == QueueSettings(
        workers=8,
        lease=120.0,
        poll_interval=1.0,
        retry_initial=30.0,
        retry_max=7200.0,
        lifetime=86400.0,
    )
    assert cfg.stage_timeout == 3.0


def test_delivery_settings(tmp_path: Path) -> None:
    """[delivery] admin and per-type policies are read; other types get the default policy."""
    cfg = load_toml(
        tmp_path,
        '[delivery]\nadmin = "ops@example.com"\n'
        '[delivery.types."invoice.issued"]\ncustomers = false\nbcc_admin = true\n'
        'bcc = ["finance@example.com"]\n',
    )
    assert cfg.delivery.admin == "ops@example.com"
    assert cfg.delivery.policy("invoice.issued") == TypePolicy(
        customers=False, bcc_admin=True, bcc=("finance@example.com",)
    )
    assert cfg.delivery.policy("account.created") == TypePolicy()


def test_stage_tables_are_left_to_their_stages(tmp_path: Path) -> None:
    """[stage.NAME] tables are accepted as they are, for third-party stages to read."""
    cfg = load_toml(tmp_path, '[stage.spam-check]\nthreshold = 5\nmode = "strict"\n')
    assert cfg.raw["stage"]["spam-check"] == {"threshold": 5, "mode": "strict"}


def test_brand_overrides_merge_with_defaults(tmp_path: Path) -> None:
    """A [brand] key replaces its default while the other brand defaults stay."""
    cfg = load_toml(tmp_path, '[brand]\nname = "Acme Cloud"\n')
    assert cfg.brand["name"] == "Acme Cloud"
    assert cfg.brand["primary_color"] == "#2563eb"


def test_shipped_example_configuration_loads() -> None:
    """The commented etc/herald.toml that ships with Herald is itself a valid configuration."""
    example = Path(__file__).resolve().parent.parent / "etc" / "herald.toml"
    cfg = config.load(example, env={})
    assert cfg.stages == DEFAULT_STAGES
    assert cfg.queue.lease == 300.0


def test_the_settings_key_file_lives_in_the_state_directory_unless_moved(
    tmp_path: Path,
) -> None:
    """Default <state_dir>/settings-key; [server] settings_key_file moves it, and
    HERALD_SETTINGS_KEY_FILE wins over the file."""
    state = {"HERALD_STATE_DIR": str(tmp_path / "state")}
    assert load_toml(tmp_path, "", **state).settings_key_file == tmp_path / "state" / "settings-key"
    toml = '[server]\nsettings_key_file = "/etc/herald/key"\n'
    assert load_toml(tmp_path, toml, **state).settings_key_file == Path("/etc/herald/key")
    moved = load_toml(tmp_path, toml, HERALD_SETTINGS_KEY_FILE="/run/key", **state)
    assert moved.settings_key_file == Path("/run/key")


def test_delivery_guarantee_settings_from_the_file(tmp_path: Path) -> None:
    """Backpressure, store cap, shutdown grace, upstream limits and notify keys are read."""
    cfg = load_toml(
        tmp_path,
        '[server]\nshutdown_grace = "5s"\n[smtp]\nmax_connections = 7\n'
        "[store]\nmax_size = 1048576\n[queue]\nmax_depth = 10\nmax_intake = 3\n"
        '[upstream]\nurl = "smtp://mail.example.com"\nmax_connections = 2\n'
        'rate_limit = "120/m"\nidle_timeout = "3s"\nbreaker_threshold = 2\n'
        'breaker_cooldown = "1m"\n'
        '[notify]\ncallback_url = "https://platform.example.com/hook"\n'
        'callback_secrets = ["whsec_c2VjcmV0"]\nbounce_to = "postmaster@example.com"\n',
    )
    assert (cfg.shutdown_grace, cfg.smtp.max_connections, cfg.store_max_bytes) == (5, 7, 1048576)
    assert (cfg.queue.max_depth, cfg.queue.max_intake) == (10, 3)
    assert cfg.upstream.server is not None
    assert cfg.upstream.server.identity == "mail.example.com:25"
    limits = cfg.upstream.server.limits
    assert limits == cfg.upstream.limits
    assert (limits.max_connections, limits.rate, limits.idle_timeout) == (2, 2.0, 3.0)
    assert (limits.breaker_threshold, limits.breaker_cooldown) == (2, 60.0)
    assert cfg.notify.callback_url == "https://platform.example.com/hook"
    assert cfg.notify.bounce_to == "postmaster@example.com"
    assert "c2VjcmV0" not in repr(cfg)


def test_delivery_guarantee_defaults() -> None:
    """Without settings: 100 000 messages deep, no store cap, 20 s grace, no reports."""
    cfg = config.load(None, env={"HERALD_UPSTREAM": "smtp://mail.example.com"})
    assert cfg.queue.max_depth == 100_000
    assert cfg.store_max_bytes is None
    assert cfg.shutdown_grace == 20.0
    assert cfg.upstream.server is not None
    assert cfg.upstream.server.limits.rate is None
    assert cfg.notify.callback_url is None
    assert cfg.notify.bounce_to is None


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ('[upstream]\nrate_limit = "fast"\n', "[upstream] rate_limit: expected a rate"),
        ('[upstream]\nrate_limit = "0/s"\n', "[upstream] rate_limit: expected a rate"),
        ('[notify]\ncallback_url = "ftp://x"\n', "[notify] callback_url: expected an http"),
        ('[notify]\nbounce_to = "postmaster"\n', "[notify] bounce_to"),
        ("[store]\nmax_size = 100\n", "[store] max_size: expected a whole number of at least"),
        ("[queue]\nmax_depth = 0\n", "[queue] max_depth: expected a whole number"),
    ],
)
def test_bad_delivery_guarantee_settings_are_named(
    tmp_path: Path, text: str, fragment: str
) -> None:
    """A wrong rate, callback URL, bounce address or limit names its key."""
    with pytest.raises(ConfigError, match=re.escape(fragment)):
        load_toml(tmp_path, text)


def test_smtp_allow_and_tls_keys_are_validated(tmp_path: Path) -> None:
    """A bad network, a cert without a key, or a TLS listener without a cert name the key."""
    for text, expected in [
        ('[smtp]\nallow = ["300.1.1.1/8"]\n', "[smtp] allow: expected networks"),
        ('[smtp]\ntls_cert = "/x.pem"\n', "[smtp] tls_key"),
        ('[smtp]\ntls_listen = "127.0.0.1:4650"\n', "[smtp] tls_listen"),
        ('[smtp]\nidle_timeout = "soon"\n', "[smtp] idle_timeout"),
        ("[smtp]\nmax_connections_per_address = 0\n", "[smtp] max_connections_per_address"),
        ('[smtp]\npre_mail_timeout = "never"\n', "[smtp] pre_mail_timeout"),
    ]:
        with pytest.raises(ConfigError, match=re.escape(expected)):
            config.load(write_toml(tmp_path, text), env={})
    env = {"HERALD_SMTP_ALLOW": "nonsense"}
    with pytest.raises(ConfigError, match="HERALD_SMTP_ALLOW"):
        config.load(env=env)


def test_connection_slot_defaults() -> None:
    """Without settings one address may hold 20 connections, and has 30 s to send MAIL."""
    smtp = config.load(None, env={}).smtp
    assert (smtp.max_connections_per_address, smtp.pre_mail_timeout) == (20, 30.0)


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("HERALD_SMTP_MAX_CONNECTIONS_PER_ADDRESS", "many"),
        ("HERALD_SMTP_MAX_CONNECTIONS_PER_ADDRESS", "0"),
        ("HERALD_SMTP_PRE_MAIL_TIMEOUT", "soon"),
    ],
)
def test_bad_connection_slot_variables_are_named(variable: str, value: str) -> None:
    """A malformed HERALD_SMTP_* limit is a ConfigError naming the variable and its value."""
    with pytest.raises(ConfigError, match=rf"^{variable}: expected .*, got {value!r}$"):
        config.load(None, env={variable: value})


@pytest.mark.parametrize(
    "name", ["Herald\\nBcc: x@y.example", "=?utf-8?q?Herald=0D=0ABcc:_x@y.example?="]
)
def test_a_sender_name_that_would_break_every_from_is_refused(tmp_path: Path, name: str) -> None:
    """[sender] name is the display name of every email's From: a line break in
    it, written or hidden in an encoded word, is refused at start-up."""
    path = write_toml(tmp_path, f'[sender]\nname = "{name}"\n')
    with pytest.raises(ConfigError, match=r"\[sender\] name: the name must not contain CR, LF"):
        config.load(path, env={})


def test_without_a_file_every_setting_is_its_types_declared_default() -> None:
    """With no file and no environment, each setting equals the default its dataclass
    field declares, since the loader reads its defaults from those fields."""
    cfg = config.load(None, env={})
    declared = [
        f for f in dataclasses.fields(config.Config) if f.default is not dataclasses.MISSING
    ]
    assert {f.name for f in declared} >= {"stage_timeout", "http_listen", "max_event_size"}
    for item in declared:
        assert getattr(cfg, item.name) == item.default, item.name
    assert cfg.smtp == config.SMTPSettings()
    assert cfg.upstream == config.UpstreamSettings(capture_dir=cfg.state_dir / "outbox")
    assert cfg.queue == QueueSettings()
    assert cfg.notify == config.NotifySettings()
    assert cfg.runs == config.RunSettings(spool_dir=cfg.state_dir / "spool")
    assert cfg.sender.name == config.Sender(address="x@y.test").name


def test_a_policy_table_fills_its_unset_keys_with_the_types_defaults(tmp_path: Path) -> None:
    """A delivery type that sets only its BCC takes customers and bcc_admin from TypePolicy."""
    cfg = load_toml(tmp_path, '[delivery.types."a.b"]\nbcc = ["x@y.test"]\n')
    assert cfg.delivery.policy("a.b") == TypePolicy(bcc=("x@y.test",))


def test_a_default_is_read_from_its_field() -> None:
    """``config.default`` answers a field's default or factory and refuses a field without one."""
    assert config.default(QueueSettings, "workers") == QueueSettings().workers
    assert config.default(config.DeliverySettings, "types") == {}
    with pytest.raises(LookupError):
        config.default(config.RunSettings, "spool_dir")


def test_retention_clocks_default_and_read_durations_or_forever(tmp_path: Path) -> None:
    """[retention] keeps bodies 30 days, runs 365 and audit entries 730 by
    default; each clock takes a duration or "forever"."""
    defaults = config.load(None, env={}).retention
    assert (defaults.bodies, defaults.runs, defaults.audit) == (
        30 * 86400,
        365 * 86400,
        730 * 86400,
    )
    loaded = load_toml(tmp_path, '[retention]\nbodies = "12h"\nruns = "forever"\ninterval = "1m"\n')
    assert (loaded.retention.bodies, loaded.retention.runs) == (12 * 3600, None)
    assert loaded.retention.interval == 60


def test_a_bad_retention_clock_names_its_key(tmp_path: Path) -> None:
    """A clock that is neither a duration nor "forever" is refused with its key."""
    with pytest.raises(ConfigError, match=r"\[retention\] bodies: expected a duration such as"):
        load_toml(tmp_path, '[retention]\nbodies = "never"\n')


def test_bounces_default_to_off_on_the_host_name_and_check_the_address(tmp_path: Path) -> None:
    """[bounces] is off by default; its domain defaults to the host name, and a
    local part or domain that makes no address is refused with its key."""
    defaults = config.load(None, env={"HERALD_HOSTNAME": "mail.example.com"}).bounces
    assert (defaults.enabled, defaults.domain, defaults.local_part) == (
        False,
        "mail.example.com",
        "bounces",
    )
    on = load_toml(tmp_path, '[bounces]\nenabled = true\ndomain = "B.example.com"\n').bounces
    assert (on.enabled, on.domain) == (True, "b.example.com")
    with pytest.raises(ConfigError, match=r"\[bounces\] local_part"):
        load_toml(tmp_path, '[bounces]\nlocal_part = "no way"\n')
