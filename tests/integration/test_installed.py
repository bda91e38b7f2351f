"""The installed package is the product: a wheel in a fresh virtual
environment, started from a folder with no source tree in it.

The wheel is built from this checkout (``pip wheel``), installed without
``-e`` into a new virtual environment outside it, and every command runs
from an empty directory, so nothing can be found through the source tree.
"""

from __future__ import annotations

import email
import email.policy
import json
import subprocess
import sys
import tomllib
import uuid
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from tests.integration.harness import ROOT, Capture, Herald

EVENTS = ROOT / "tests" / "fixtures" / "events"
CATALOG_TYPES = sorted(
    tomllib.loads((ROOT / "templates" / "catalog.toml").read_text(encoding="utf-8"))["types"]
)
SHIPPED_TYPES = sorted(
    path.name for path in (ROOT / "templates").iterdir() if (path / "subject.txt").is_file()
)


Completed = subprocess.CompletedProcess[str]


@dataclass(frozen=True)
class Installed:
    wheel: Path
    herald: Path
    python: Path
    home: Path  # an empty directory: the working directory of every command

    def run(
        self, *args: str, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.herald), *args],
            cwd=self.home,
            env={"PATH": "/usr/bin:/bin", "HOME": str(self.home), **(env or {})},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )


def _run(*command: str | Path, cwd: Path) -> None:
    done = subprocess.run(
        [str(part) for part in command], cwd=cwd, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, f"{command} failed:\n{done.stdout}\n{done.stderr}"


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    base = tmp_path_factory.mktemp("installed")
    dist, venv, home = base / "dist", base / "venv", base / "home"
    home.mkdir()
    _run(sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", dist, ROOT, cwd=base)
    [wheel] = dist.glob("*.whl")
    # The base interpreter, not this virtual environment's: a fresh venv.
    _run(sys._base_executable, "-m", "venv", venv, cwd=base)  # type: ignore[attr-defined]  # CPython's, not in typeshed
    _run(venv / "bin" / "python", "-m", "pip", "install", "-q", wheel, cwd=base)
    return Installed(wheel, venv / "bin" / "herald", venv / "bin" / "python", home)


@pytest.fixture(scope="module")
def daemon(installed: Installed, capture: Capture) -> Iterator[Herald]:
    workdir = installed.home / "daemon"
    workdir.mkdir()
    herald = Herald(
        workdir,
        upstream=capture.url,
        config='[sender]\naddress = "notify@herald.test"\n',
        command=(str(installed.herald),),
        cwd=installed.home,
    ).start()
    yield herald
    herald.stop()


def test_the_wheel_carries_templates_catalog_licence_and_no_generic_name(
    installed: Installed,
) -> None:
    """The wheel holds every shipped template, the catalog and layouts, the
    migrations, the example files and the licence, and no top-level
    ``plugins`` package that another distribution could own."""
    names = zipfile.ZipFile(installed.wheel).namelist()
    tops = {name.split("/")[0] for name in names if not name.endswith(".dist-info")}
    assert "plugins" not in tops
    assert {"gateway", "herald_plugins", "herald_templates"} <= tops
    for email_type in SHIPPED_TYPES:
        assert f"herald_templates/{email_type}/subject.txt" in names
        assert f"herald_templates/{email_type}/body.html" in names
    for shared in ("catalog.toml", "_layout.html", "_layout.txt", "_macros.html"):
        assert f"herald_templates/{shared}" in names
    assert any(name.startswith("gateway/store/migrations/sqlite/") for name in names)
    assert any(name.startswith("gateway/store/migrations/postgresql/") for name in names)
    assert any(name.endswith(".dist-info/licenses/LICENSE") for name in names)
    for page in ("base.html", "signin.html", "overview.html", "smtp.html", "delivery.html"):
        assert f"gateway/console/templates/{page}" in names
    assert "gateway/console/static/console.css" in names
    assert "gateway/console/static/console.js" in names
    for page in ("email_templates.html", "email_template.html", "brand.html"):
        assert f"gateway/console/templates/{page}" in names
    for name in ("email_templates.js", "email_templates.css", "brand.js"):
        assert f"gateway/console/static/{name}" in names
    assert "gateway/_shipped/etc/herald.toml" in names
    assert "gateway/_shipped/systemd/herald.service" in names


def _event(email_type: str) -> dict[str, Any]:
    body: dict[str, Any] = json.loads((EVENTS / f"{email_type}.json").read_text())
    body["id"] = f"evt_{uuid.uuid4().hex}"
    return body


def _parts(message: EmailMessage) -> tuple[str, str]:
    text, html = message.get_body(("plain",)), message.get_body(("html",))
    assert isinstance(text, EmailMessage)
    assert isinstance(html, EmailMessage)
    return text.get_content(), html.get_content()


@pytest.mark.parametrize(
    "email_type", [t for t in SHIPPED_TYPES if (EVENTS / f"{t}.json").exists()]
)
def test_every_shipped_email_type_arrives_rendered(
    daemon: Herald, capture: Capture, email_type: str
) -> None:
    """Each shipped email type, sent as an event to the installed daemon,
    reaches the upstream with a subject and rendered text and HTML parts."""
    answer = daemon.post_event(_event(email_type))
    assert answer.status == 202, answer.body
    [mail] = capture.wait_for_run(answer.json["run_id"])
    message = mail.message
    assert message["Subject"].strip()
    text, html = _parts(message)
    assert text.strip()
    assert "<html" in html.lower()
    for rendered in (message["Subject"], text, html):
        assert "{{" not in rendered
        assert "{%" not in rendered


def test_the_console_is_served_from_the_installed_package(daemon: Herald) -> None:
    """The installed daemon serves the sign-in page and the console's own files."""
    page = daemon.request("GET", "/sign-in")
    assert page.status == 200
    assert b"Sign in to Herald" in page.body
    for name, kind in (("console.css", "text/css"), ("console.js", "text/javascript")):
        served = daemon.request("GET", f"/static/{name}")
        assert served.status == 200
        assert served.headers["Content-Type"].startswith(kind)


def test_a_legacy_message_is_relayed(daemon: Herald, capture: Capture) -> None:
    """Raw mail to the installed daemon's SMTP listener reaches the upstream."""
    marker = uuid.uuid4().hex
    with daemon.smtp() as client:
        client.sendmail(
            "app@example.com",
            ["bob@example.com"],
            f"From: app@example.com\r\nTo: bob@example.com\r\nSubject: {marker}\r\n\r\nHi\r\n",
        )
    [mail] = capture.wait_for(lambda m: m.message["Subject"] == marker)
    assert mail.rcpt_tos == ["bob@example.com"]
    assert mail.message.get_content().strip() == "Hi"


def test_tags_render_and_check_work_from_the_installed_package(installed: Installed) -> None:
    """``herald tags``, ``herald render`` and ``herald check`` find the shipped
    templates and catalog through the package, not through a source tree."""
    state = {"HERALD_STATE_DIR": str(installed.home / "cli-state")}
    tags = installed.run("tags", "--json", env=state)
    assert tags.returncode == 0, tags.stderr
    assert sorted(entry["type"] for entry in json.loads(tags.stdout)) == CATALOG_TYPES

    rendered = installed.run("render", "invoice.issued", env=state)
    assert rendered.returncode == 0, rendered.stderr
    message = email.message_from_string(rendered.stdout, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    assert message["Subject"]
    text, html = _parts(message)
    assert "{{" not in text + html

    check = installed.run("check", env=state)
    assert check.returncode == 0, check.stderr
    assert f"herald_templates (tags for {len(CATALOG_TYPES)} email types)" in check.stdout


def test_config_prints_the_shipped_example_and_unit(installed: Installed) -> None:
    """``herald config example`` and ``herald config unit`` print the files
    of the source tree, from the installed package."""
    example = installed.run("config", "example")
    assert example.returncode == 0, example.stderr
    assert example.stdout == (ROOT / "etc" / "herald.toml").read_text(encoding="utf-8")
    unit = installed.run("config", "unit")
    assert unit.returncode == 0, unit.stderr
    assert unit.stdout == (ROOT / "systemd" / "herald.service").read_text(encoding="utf-8")
