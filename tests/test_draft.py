"""Tests for gateway/draft.py: the MIME Herald writes itself reads, in a mail
client, as what the email package wrote for the same message, for every
shipped template and for hostile values; and it is refused where the email
package's message was."""

from __future__ import annotations

import email.policy
import email.utils
import re
from collections.abc import Sequence
from email.headerregistry import Address
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from gateway import config
from gateway.brand import LOGO_CID, Logo
from gateway.content import mime
from gateway.content.composer import Composer
from gateway.content.templating import Templates
from gateway.errors import UnsafeHeader
from gateway.store import Store
from tests.encoded_words import EVIL, payloads

FIXTURES = Path(__file__).resolve().parent / "fixtures"
TYPES = Templates(config.SHIPPED_TEMPLATES).types()
MESSAGE_ID = "<run_1@herald.test>"
LOGO = Logo((FIXTURES / "logo.png").read_bytes(), "png", "logo.png")


def reference(
    *,
    sender: Address,
    to: Sequence[Address],
    subject: str,
    text: str,
    html: str | None,
    logo: Logo | None = None,
    attachments: Sequence[mime.Attachment] = (),
) -> EmailMessage:
    """The message as Herald built it with the email package before it had
    its own writer: the same structure, which the writer must keep."""
    message = EmailMessage(policy=email.policy.default)
    message["From"] = sender
    message["To"] = to
    message["Subject"] = mime.decoded(subject)
    message["Date"] = email.utils.formatdate(localtime=False, usegmt=True)
    message["Message-ID"] = MESSAGE_ID
    mime.set_body(message, text=text, html=html, logo=logo)
    for attachment in attachments:
        message.add_attachment(
            attachment.content,
            maintype=attachment.maintype,
            subtype=attachment.subtype,
            filename=attachment.filename,
        )
    return message


def received(content: bytes) -> EmailMessage:
    """Bytes as a mail client reads them."""
    message = BytesParser(policy=email.policy.default).parsebytes(content)
    assert isinstance(message, EmailMessage)
    return message


def spaced(text: str) -> str:
    return " ".join(text.split())


def same_name(shown: str, meant: str) -> bool:
    """Whether a display name reads as meant. A name too long for one
    encoded word is cut after a space where it has one; where a run of
    text has none, the email package's reader puts a space at the cut,
    which RFC 2047 §6.2 readers do not."""
    if spaced(shown) == spaced(meant):
        return True
    return "".join(shown.split()) == "".join(meant.split()) and any(
        len(run.encode()) > 20 for run in meant.split()
    )


def reading(message: EmailMessage) -> list[tuple[str, object]]:
    """What a mail client shows of ``message``: the decoded headers, and each
    part's type, disposition, file name, Content-ID and decoded content."""
    shown: list[tuple[str, object]] = [
        ("from", [(a.display_name, a.addr_spec) for a in message["From"].addresses]),
        ("to", [(spaced(a.display_name), a.addr_spec) for a in message["To"].addresses]),
        ("subject", spaced(str(message["Subject"]))),
        ("message-id", str(message["Message-ID"])),
        ("defects", [type(d).__name__ for p in message.walk() for d in p.defects]),
    ]
    for part in message.walk():
        shown.append(("type", part.get_content_type()))
        if part.is_multipart():
            continue
        shown.append(("disposition", part.get_content_disposition()))
        shown.append(("filename", part.get_filename()))
        shown.append(("cid", part["Content-ID"]))
        content = part.get_content()
        # A text part's line ends as a reader shows them: RFC 2045 §6.7's
        # CRLF hard breaks in quoted-printable and the email package's LF
        # inside base64 are both line ends.
        if isinstance(content, str):
            content = content.replace("\r\n", "\n")
        shown.append(("content", content))
    return shown


def wire_rules(content: bytes) -> None:
    """What every message Herald writes keeps: ASCII, CRLF line ends, lines
    within RFC 5322's 998 characters, header lines within 78 where the
    value has room to fold."""
    assert content.isascii()
    assert b"\r" not in content.replace(b"\r\n", b"")
    assert b"\n" not in content.replace(b"\r\n", b"")
    head = content.partition(b"\r\n\r\n")[0]
    for line in content.split(b"\r\n"):
        assert len(line) <= 998
    for line in head.split(b"\r\n"):
        value = line if line.startswith(b" ") else line.partition(b":")[2]
        assert len(line) <= 78 or b" " not in value.strip(), line


def both(**values: object) -> tuple[EmailMessage, bytes]:
    """The reference message and Herald's writing of the same values."""
    draft = mime.compose(message_id=MESSAGE_ID, **values)  # type: ignore[arg-type]
    content = mime.cleanup(draft, message_id=MESSAGE_ID)
    return reference(**values), content  # type: ignore[arg-type]


@pytest.fixture
def composer(tmp_path: Path, store: Store) -> Composer:
    path = tmp_path / "herald.toml"
    path.write_text(
        f'[brand]\nname = "Acme Cloud"\nlogo_file = "{FIXTURES / "logo.png"}"\n',
        encoding="utf-8",
    )
    cfg = config.load(path, env={"HERALD_STATE_DIR": str(tmp_path), "HERALD_HOSTNAME": "h.test"})
    return Composer.for_config(cfg, store)


@pytest.mark.parametrize("email_type", TYPES)
async def test_every_shipped_template_reads_as_the_email_package_wrote_it(
    composer: Composer, email_type: str
) -> None:
    """Each shipped template with the catalog's samples and the brand's logo:
    a mail client reads the same headers, parts and decoded contents from
    Herald's writing as from the email package's."""
    variables = composer.sample(email_type)
    to = [mime.mailbox("ada@example.com", "Ada Lovelace")]
    composed = await composer.compose(email_type, variables, to=to, message_id=MESSAGE_ID)
    _, logo = await composer.brand_and_logo()
    sender = composer.config.sender
    old = reference(
        sender=mime.mailbox(sender.address, sender.name),
        to=to,
        subject=composed.subject,
        text=composed.text,
        html=composed.html,
        logo=logo,
    )
    content = mime.cleanup(composed.message, message_id=MESSAGE_ID)
    wire_rules(content)
    new = received(content)
    assert reading(new) == reading(received(mime.to_bytes(old)))
    assert [p.get_content_type() for p in new.walk()] == [
        "multipart/alternative",
        "text/plain",
        "multipart/related",
        "text/html",
        "image/png",
    ]


NAMES = st.one_of(
    st.text(max_size=40),
    st.sampled_from(
        [
            "Ada Lovelace",
            "Lovelace, Ada",
            'Ada "the Countess" Lovelace',
            "back\\slash",
            "Zoë Ünïcødé",
            "日本語の名前",
            "=?utf-8?q?Zo=C3=AB?=",
            "=?utf-8?q?not closed",
            "=?x?q?unknown charset?=",
            "a" * 200,
            "word " * 40,
            "<evil@evil.example>",
            "Ada; Bcc: evil@evil.example",
            "  spaced   out  ",
        ]
    ),
)
TEXTS = st.text(st.characters(exclude_categories=["Cs"]), max_size=400)
FILENAMES = st.one_of(
    st.text(st.characters(exclude_categories=["Cs"]), min_size=1, max_size=90),
    st.sampled_from(["invoice.zip", 'q"uote.pdf', "ünïcødé.pdf", "=?utf-8?q?a?=.zip", "x" * 300]),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    name=NAMES,
    subject=st.one_of(NAMES, TEXTS),
    text=TEXTS,
    html=st.one_of(st.none(), TEXTS),
    filename=st.one_of(st.none(), FILENAMES),
)
def test_any_values_read_as_the_email_package_wrote_them_or_both_are_refused(
    name: str, subject: str, text: str, html: str | None, filename: str | None
) -> None:
    """Display names, subjects, bodies and file names of every kind (quotes,
    encoded-word look-alikes, long words, text beyond ASCII, line breaks):
    Herald's writing is refused exactly when the email package's message was
    refused by the header check, and otherwise reads the same in a mail client."""
    # An Address cannot hold CR or LF at all (test_a_value_that_would_break...).
    assume("\r" not in mime.decoded(name) and "\n" not in mime.decoded(name))
    values: dict[str, object] = {
        "sender": mime.mailbox("billing@herald.test", "Herald Billing"),
        "to": [mime.mailbox("ada@example.com", name), mime.mailbox("bob@example.com")],
        "subject": subject,
        "text": text,
        "html": None if html is None else html + f'<img src="cid:{LOGO_CID}">',
        "logo": LOGO,
        "attachments": [mime.Attachment(filename, b"PK\x03\x04" * 40, subtype="zip")]
        if filename
        else [],
    }
    try:
        old = reference(**values)  # type: ignore[arg-type]
        mime.check_headers(old)
        old_bytes = mime.to_bytes(old)
    except ValueError:
        old_bytes = None
    draft = mime.compose(message_id=MESSAGE_ID, **values)  # type: ignore[arg-type]
    if old_bytes is None:
        with pytest.raises(UnsafeHeader):
            mime.cleanup(draft, message_id=MESSAGE_ID)
        return
    content = mime.cleanup(draft, message_id=MESSAGE_ID)
    wire_rules(content)
    new, was = reading(received(content)), reading(received(old_bytes))
    # The headers read as they were set. (The email package's own writing
    # can lose a recipient when it folds a long encoded name, so what it
    # wrote is no oracle for them.)
    assert new[0] == ("from", [("Herald Billing", "billing@herald.test")])
    addresses = received(content)["To"].addresses
    assert [a.addr_spec for a in addresses] == ["ada@example.com", "bob@example.com"]
    assert addresses[1].display_name == ""
    assert same_name(addresses[0].display_name, mime.decoded(name))
    assert new[2] == ("subject", spaced(mime.decoded(subject)))
    new, was = new[3:], was[3:]
    if filename and "=?" in filename:
        # The email package decoded what looked like an encoded word in a
        # file name (RFC 2047 §5 allows none there); Herald keeps the name.
        assert ("filename", filename) in new
        new = [entry for entry in new if entry[0] != "filename"]
        was = [entry for entry in was if entry[0] != "filename"]
    assert new == was


@settings(max_examples=200, deadline=None)
@given(name=payloads(), subject=payloads())
def test_encoded_words_in_names_and_subjects_are_refused_exactly_when_they_hide_a_break(
    name: object, subject: object
) -> None:
    """Encoded words as an attacker writes them, in a display name and the
    subject: refused exactly when one decodes to a line break or NUL, and
    otherwise written so that a mail client reads one recipient and the text."""
    draft = mime.compose(
        sender=mime.mailbox("billing@herald.test"),
        to=[mime.mailbox("ada@example.com", name.unfolded)],  # type: ignore[attr-defined]
        subject=subject.unfolded,  # type: ignore[attr-defined]
        text="hi",
        html=None,
        message_id=MESSAGE_ID,
    )
    if name.hostile or subject.hostile:  # type: ignore[attr-defined]
        with pytest.raises(UnsafeHeader, match="header must not contain"):
            mime.cleanup(draft, message_id=MESSAGE_ID)
        return
    message = received(mime.cleanup(draft, message_id=MESSAGE_ID))
    [address] = message["To"].addresses
    assert address.addr_spec == "ada@example.com"
    assert spaced(address.display_name) == spaced(name.text)  # type: ignore[attr-defined]
    assert spaced(str(message["Subject"])) == spaced(subject.text)  # type: ignore[attr-defined]
    assert message["Bcc"] is None


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("name", f"Ada\r\nBcc: {EVIL}", "the To header must not contain CR, LF or NUL"),
        ("name", "Ada\u2028Bcc", "the To header must not contain line breaks"),
        ("subject", f"Hi\r\nBcc: {EVIL}", "the Subject header must not contain CR, LF or NUL"),
        ("subject", "Hi\x00", "the Subject header must not contain CR, LF or NUL"),
        ("subject", "Hi \ud800", "the Subject header cannot be written"),
        ("filename", f"a\r\nBcc: {EVIL}.pdf", "the Content-Disposition header must not contain"),
        (
            "filename",
            f"=?utf-8?q?a=0D=0ABcc:_{EVIL}?=.pdf",
            "the Content-Disposition header must not contain",
        ),
    ],
)
def test_a_value_that_would_break_a_header_is_refused_naming_the_header(
    field: str, value: str, reason: str
) -> None:
    """CR, LF, NUL, other line breaks and text with no UTF-8 form are refused
    at the queue's entrance, naming the header, whether written or encoded."""
    name = value if field == "name" else "Ada"
    draft = mime.compose(
        sender=mime.mailbox("billing@herald.test"),
        to=[Address(display_name=name, username="ada", domain="example.com")]
        if "\r" not in name
        else [mime.mailbox("ada@example.com", "Ada")],
        subject=value if field == "subject" else "Hello",
        text="hi",
        html=None,
        message_id=MESSAGE_ID,
        attachments=[mime.Attachment(value, b"x")] if field == "filename" else [],
    )
    if field == "name" and "\r" in name:
        # An Address cannot hold CR or LF; a header set as text can.
        draft["Reply-To"] = value
        reason = reason.replace("To header", "Reply-To header")
    with pytest.raises(UnsafeHeader, match=re.escape(reason)):
        mime.cleanup(draft, message_id=MESSAGE_ID)


def test_a_readdressed_draft_names_only_its_new_recipients() -> None:
    """readdress replaces To and drops Cc; with nobody it is an empty group."""
    draft = mime.compose(
        sender=mime.mailbox("billing@herald.test"),
        to=[mime.mailbox("ada@example.com", "Ada")],
        subject="Hello",
        text="hi",
        html=None,
        message_id=MESSAGE_ID,
    )
    draft["Cc"] = [mime.mailbox("carol@example.com")]
    mime.readdress(draft, [mime.mailbox("admin@herald.test", "Admin")])
    message = received(mime.cleanup(draft, message_id=MESSAGE_ID))
    assert [a.addr_spec for a in message["To"].addresses] == ["admin@herald.test"]
    assert message["Cc"] is None
    mime.readdress(draft, [])
    assert draft["To"] == "undisclosed-recipients:;"
    assert received(mime.to_bytes(draft))["To"].addresses == ()


def test_long_headers_fold_and_unfold_to_what_was_set() -> None:
    """A subject and a recipient list too long for one line are folded at
    spaces within 78 characters and read back whole."""
    subject = " ".join(f"word{n}" for n in range(60))
    to = [mime.mailbox(f"user{n}@example.com", f"User Number {n}") for n in range(12)]
    old, content = both(
        sender=mime.mailbox("billing@herald.test"), to=to, subject=subject, text="hi", html=None
    )
    wire_rules(content)
    assert reading(received(content)) == reading(received(mime.to_bytes(old)))
    head = content.partition(b"\r\n\r\n")[0]
    assert head.count(b"\r\n ") > 5


def test_a_header_name_that_is_not_one_is_refused() -> None:
    """A name with a colon, a space or a line break cannot be set to smuggle a header."""
    for name in ("X-Note: a", "X Note", f"X-Note\r\nBcc: {EVIL}"):
        draft = mime.compose(
            sender=mime.mailbox("billing@herald.test"),
            to=[mime.mailbox("ada@example.com")],
            subject="Hello",
            text="hi",
            html=None,
            message_id=MESSAGE_ID,
        )
        draft[name] = "value"
        with pytest.raises(UnsafeHeader, match="is not a valid header name"):
            mime.cleanup(draft, message_id=MESSAGE_ID)


def test_a_draft_reads_its_mime_headers_as_written() -> None:
    """Content-Type and MIME-Version read back as a mail client reads them."""
    draft = mime.compose(
        sender=mime.mailbox("billing@herald.test"),
        to=[mime.mailbox("ada@example.com")],
        subject="Hello",
        text="hi",
        html="<p>hi</p>",
        message_id=MESSAGE_ID,
    )
    written = received(mime.to_bytes(draft))
    assert draft["MIME-Version"] == "1.0"
    assert draft["Content-Type"] == str(written["Content-Type"])
    assert list(draft) == list(written.keys())
