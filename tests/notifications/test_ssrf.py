"""Notifications cannot be aimed inside the network (issue 17, item 5): a channel's URL is checked
on save; at send time the host is resolved once, every address is checked and the connection goes
to the checked address; no redirect is followed; an attempt has one deadline; whatever goes wrong
is a recorded failed attempt. Every receiver here listens on 127.0.0.1; no test sends anything
anywhere else (refused addresses are refused before any connection)."""

from __future__ import annotations

import datetime
import ipaddress
import socket
import ssl
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError
from django.test import Client

from portal.models import Delivery, NotificationChannel
from portal.notifications import addresses, tasks, webhooks
from tests.notifications.raw import RawReceiver

pytestmark = pytest.mark.django_db

SECRET = "s3cret-signing-key-0123456789"
PUBLIC = "public addresses only"


@pytest.fixture(autouse=True)
def no_exceptions(settings):
    """Unless a test says otherwise, no host is allowed by name: the production default."""
    settings.ENVPORT_NOTIFY_ALLOWED_HOSTS = ()
    settings.ENVPORT_NOTIFY_MAX_ATTEMPTS = 5


@pytest.fixture
def raw() -> Iterator[list[RawReceiver]]:
    """Raw receivers a test starts; each closed at the end."""
    started: list[RawReceiver] = []
    yield started
    for receiver in started:
        receiver.close()


def _start(raw: list[RawReceiver], answer: bytes, **kwargs) -> RawReceiver:
    receiver = RawReceiver(answer, **kwargs)
    raw.append(receiver)
    return receiver


def _channel(target: str, *, name: str = "hook", kind: str = "webhook") -> NotificationChannel:
    return NotificationChannel.objects.create(name=name, kind=kind, target=target, secret=SECRET)


def _stored(target: str, *, name: str = "legacy") -> NotificationChannel:
    """A channel row whose target predates the checks (written with update(), as old rows were)."""
    channel = _channel("https://hooks.example.com/placeholder", name=name)
    NotificationChannel.objects.filter(pk=channel.pk).update(target=target)
    channel.refresh_from_db()
    return channel


def _attempt(channel: NotificationChannel) -> Delivery:
    delivery = Delivery.objects.create(channel=channel, event="run.failed", payload={"summary": "x"})
    tasks.attempt(delivery.pk)
    delivery.refresh_from_db()
    return delivery


# --- on save ----------------------------------------------------------------------------------------
INTERNAL = [
    ("http://169.254.169.254/latest/meta-data/iam/security-credentials/", "link-local"),
    ("http://127.0.0.1:6379", "loopback"),
    ("http://[::1]/", "loopback"),
    ("http://[::1]:8000/x", "loopback"),
    ("http://0x7f000001/", "unusual form"),
    ("http://2130706433/", "unusual form"),
    ("http://0177.0.0.1/", "unusual form"),
    ("http://127.1/", "unusual form"),
    ("http://10.0.0.5/", "private"),
    ("http://172.16.3.4/", "private"),
    ("http://192.168.1.1/", "private"),
    ("http://100.64.0.1/", "shared"),
    ("http://0.0.0.0:8000/", "unspecified"),
    ("http://224.0.0.1/", "multicast"),
    ("http://240.0.0.1/", "reserved"),
    ("http://255.255.255.255/", "reserved"),
    ("http://[::ffff:127.0.0.1]/", "loopback address (as an IPv4-mapped IPv6 address)"),
    (
        "http://[::ffff:a9fe:a9fe]/",
        "link-local address (where cloud metadata services answer) (as an IPv4-mapped",
    ),
    ("http://[64:ff9b::a9fe:a9fe]/", "link-local address (where cloud metadata services answer) (as a NAT64"),
    ("http://[::127.0.0.1]/", "IPv4-compatible"),
    ("http://[::]/", "unspecified"),
    ("http://[fe80::1]/", "link-local"),
    ("http://[fd00::1]/", "unique local"),
    ("http://[ff02::1]/", "multicast"),
    ("https://[2002:7f00:1::]/", "6to4"),
]


# R-SEC-3
@pytest.mark.parametrize(("url", "why"), INTERNAL)
def test_internal_addresses_are_refused_on_save(url, why):
    """probe: channels accepted http://169.254.169.254/ (the metadata service), http://127.0.0.1:6379
    (Redis), [::1], 0x7f000001 and 10.0.0.5; every spelling of an internal address is refused when
    the channel is saved, by the model (so by every path that saves one), saying what is allowed."""
    for kind in ("webhook", "slack"):
        with pytest.raises(ValidationError) as refused:
            NotificationChannel.objects.create(name=f"c-{kind}", kind=kind, target=url, secret=SECRET)
        message = refused.value.message_dict["target"][0]
        assert why in message, message
        assert "public" in message or "a.b.c.d" in message, message
    assert not NotificationChannel.objects.exists()


MALFORMED = [
    ("ftp://hooks.example.com/x", "the scheme ftp: is not allowed"),
    ("file:///etc/passwd", "the scheme file: is not allowed"),
    ("javascript:alert(1)", "the scheme javascript: is not allowed"),
    ("//hooks.example.com/x", "the scheme (none) is not allowed"),
    ("http://user:pw@hooks.example.com/", "user name or password"),
    ("http://hooks.example.com@169.254.169.254/", "user name or password"),
    ("http://hooks.example.com:99999/", "out of range"),
    ("http://hooks.example.com:0/", "port 0 is out of range"),
    ("http://hooks.example.com:http/", "cannot be read"),
    ("http://[::1/x", "cannot be read"),
    ("http://[hooks.example.com]/", "cannot be read"),
    ("http:///no-host", "no host"),
    ("http://hooks example.com/", "a space"),
    (" http://hooks.example.com/", "a space"),
    ("http://hooks.example.com/\r\nX-Injected: 1", "a control character"),
    ("http://hooks.exämple.com/", "non-ASCII"),
    ("http://hooks_%31.example.com/", "is not a host name"),
    ("https://hooks.example.com/" + "a" * 2100, "at most 2048 characters"),
    ("http://" + "a" * 64 + ".example.com/", "is not a host name"),
    ("", "a URL is required"),
]


# R-SEC-3
@pytest.mark.parametrize(("url", "why"), MALFORMED)
def test_malformed_urls_are_refused_on_save(url, why):
    """probe: `http://[::1/x` and port 99999 were stored and raised at send time; every malformed
    URL is refused on save with a message saying what is wrong and what is allowed."""
    with pytest.raises(ValidationError) as refused:
        _channel(url)
    message = refused.value.message_dict["target"][0]
    assert why in message, message
    if why != "is not a host name":
        assert addresses.ALLOWED in message, message
    assert not NotificationChannel.objects.exists()


@pytest.mark.parametrize(
    "url",
    [
        "https://hooks.slack.com/services/T000/B000/XXXX",
        "https://hooks.example.com:8443/envport?token=abc",
        "http://8.8.8.8/hook",
        "https://[2606:4700:4700::1111]/hook",
        "http://[::ffff:8.8.8.8]/hook",  # a public address, mapped: judged as itself
        "https://receiver./x",
    ],
)
def test_public_urls_and_names_are_accepted_on_save(url):
    channel = _channel(url)
    channel.full_clean()


def test_email_targets_are_addresses():
    """E-mail channels: addresses separated by commas, bounded in number; anything else refused."""
    _channel("ops@example.com, lead@example.com", kind="email", name="ok")
    for bad, why in [
        ("ops@example.com, not-an-address", "'not-an-address' is not an e-mail address"),
        (",".join(f"u{i}@example.com" for i in range(21)), "at most 20"),
        ("", "e-mail addresses separated by commas"),
    ]:
        with pytest.raises(ValidationError, match=why):
            _channel(bad, kind="email", name="bad")


def test_the_admin_refuses_the_metadata_url_and_says_what_is_allowed():
    """probe: the console's channel form took http://169.254.169.254/ (any http:// prefix passed)."""
    from django.contrib.auth.models import Group, User

    admin = User.objects.create_user("chief", is_staff=True)
    admin.groups.add(Group.objects.get(name="admin"))
    client = Client()
    client.force_login(admin)
    form = {
        "name": "metadata",
        "kind": "webhook",
        "target": "http://169.254.169.254/latest/meta-data/",
        "secret": "a-long-enough-signing-key",
        "enabled": "on",
        "rules-TOTAL_FORMS": "0",
        "rules-INITIAL_FORMS": "0",
    }
    refused = client.post("/admin/portal/notificationchannel/add/", form)
    assert refused.status_code == 200
    page = refused.content.decode()
    assert "169.254.169.254 is a link-local address" in page and PUBLIC in page
    for target, why in [("http://[::1/x", "cannot be read"), ("http://0x7f000001/", "a.b.c.d")]:
        page = client.post(
            "/admin/portal/notificationchannel/add/", {**form, "target": target}
        ).content.decode()
        assert why in page, target
    assert not NotificationChannel.objects.exists()
    saved = client.post(
        "/admin/portal/notificationchannel/add/", {**form, "target": "https://hooks.example.com/envport"}
    )
    assert saved.status_code == 302
    assert NotificationChannel.objects.get().target == "https://hooks.example.com/envport"


def test_an_allowed_host_may_be_saved_and_only_that_host(settings):
    """ENVPORT_NOTIFY_ALLOWED_HOSTS names hosts exempt from the address check (the tests' receiver,
    a receiver on your own network), exactly as written in the URL; others stay refused."""
    with pytest.raises(ValidationError):
        _channel("http://127.0.0.1:9000/hook")
    settings.ENVPORT_NOTIFY_ALLOWED_HOSTS = ("127.0.0.1", "hooks.internal")
    _channel("http://127.0.0.1:9000/hook", name="local")
    with pytest.raises(ValidationError, match="loopback"):
        _channel("http://[::1]:9000/hook", name="v6")
    with pytest.raises(ValidationError, match=r"a\.b\.c\.d"):
        _channel("http://127.1:9000/hook", name="short")  # the form is checked for allowed hosts too
    settings.ENVPORT_NOTIFY_ALLOWED_HOSTS = "[::1], localhost"  # as the environment variable reads
    _channel("http://[::1]:9000/hook", name="v6")


# --- the addresses, as resolved ---------------------------------------------------------------------
@pytest.mark.parametrize(
    ("address", "why"),
    [
        ("127.0.0.1", "loopback"),
        ("127.255.255.254", "loopback"),
        ("169.254.169.254", "link-local"),
        ("10.0.0.5", "private"),
        ("100.64.0.1", "shared"),
        ("0.0.0.0", "unspecified"),
        ("239.255.255.250", "multicast"),
        ("198.18.0.1", "benchmarking"),
        ("192.0.2.1", "documentation"),
        ("::1", "loopback"),
        ("::", "unspecified"),
        ("::ffff:127.0.0.1", "loopback"),
        ("::ffff:10.0.0.5", "private"),
        ("64:ff9b::7f00:1", "loopback"),
        ("64:ff9b::a00:5", "private"),
        ("64:ff9b:1::a00:5", "local-use NAT64"),
        ("::7f00:1", "IPv4-compatible"),
        ("fe80::1", "link-local"),
        ("fe80::1%eth0", "link-local"),
        ("fec0::1", "site-local"),
        ("fd12:3456::1", "unique local"),
        ("ff05::2", "multicast"),
        ("2001:db8::1", "documentation"),
        ("2001::1", "Teredo"),
        ("2002:a9fe:a9fe::1", "6to4"),
    ],
)
def test_the_check_is_on_the_resolved_address(address, why):
    """Every form of an internal address, as the resolver hands it over (an ip_address object, so
    no spelling matters), is refused; with it, one internal address among public ones."""
    ip = ipaddress.ip_address(address)
    reason = addresses.refusal(ip)
    assert reason and why in reason
    target = addresses.parse("https://hooks.example.com/x")
    with pytest.raises(addresses.Refused, match=f"hooks.example.com resolves to {ip}, "):
        addresses.check_resolved(target, [ipaddress.ip_address("8.8.8.8"), ip])


def test_public_addresses_pass():
    for address in ("8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "::ffff:8.8.8.8", "64:ff9b::808:808"):
        assert addresses.refusal(ipaddress.ip_address(address)) is None, address
    addresses.check_resolved(addresses.parse("https://h.example.com/"), [ipaddress.ip_address("8.8.8.8")])


def test_a_name_resolving_to_loopback_is_refused_at_send_time(receiver):
    """probe: the sender resolved the name at send time with no address check; `localhost` (which
    resolves to 127.0.0.1) passes the save-time check, being a name, and is refused when sent,
    before any connection: the receiver listening there gets nothing."""
    channel = _channel(receiver.url.replace("127.0.0.1", "localhost"))
    delivery = _attempt(channel)
    assert (delivery.status, delivery.attempts, delivery.response_code) == ("failed", 1, None)
    assert delivery.error.startswith("refused: localhost resolves to ") and "loopback" in delivery.error
    assert PUBLIC in delivery.error and "ENVPORT_NOTIFY_ALLOWED_HOSTS" in delivery.error
    assert receiver.requests == []
    channel.refresh_from_db()
    assert channel.consecutive_failures == 1 and channel.last_error == delivery.error


def test_a_name_resolving_to_the_metadata_address_is_refused_before_connecting(monkeypatch, receiver):
    """A public-looking name whose DNS answer is the metadata address (or holds it among public
    ones) is refused before any connection is made."""
    asked: list[tuple[str, int]] = []

    def resolver(host: str, port: int) -> list[addresses.IPAddress]:
        asked.append((host, port))
        return [ipaddress.ip_address("169.254.169.254")]

    monkeypatch.setattr(addresses, "resolve", resolver)
    delivery = _attempt(_channel("https://hooks.example.com/envport"))
    assert delivery.status == "failed"
    assert "hooks.example.com resolves to 169.254.169.254, a link-local address" in delivery.error
    assert asked == [("hooks.example.com", 443)]


@pytest.mark.parametrize(
    "stored",
    [
        "http://0x7f000001:{port}/",
        "http://2130706433:{port}/",
        "http://[::ffff:127.0.0.1]:{port}/",
        "http://[::1]:{port}/",
        "http://127.0.0.1:{port}/",
    ],
)
def test_a_stored_internal_url_is_refused_at_send_time(stored, receiver):
    """Rows saved before the checks existed: the send-time check refuses them too, before any
    connection (the receiver on 127.0.0.1 at that port gets nothing)."""
    port = receiver.url.split(":")[2].split("/")[0]
    delivery = _attempt(_stored(stored.format(port=port)))
    assert delivery.status == "failed" and delivery.error.startswith("refused: "), delivery.error
    assert receiver.requests == []


def test_the_connection_goes_to_the_checked_address_with_the_original_host(monkeypatch, settings, raw):
    """DNS rebinding: the name is resolved once per attempt, and the connection goes to the address
    that was checked (a second lookup could answer differently); the request carries the URL's
    own Host."""
    settings.ENVPORT_NOTIFY_ALLOWED_HOSTS = ("hooks.test",)
    target = _start(raw, b"HTTP/1.1 204 No Content\r\n\r\n")
    lookups: list[str] = []

    def resolver(host: str, port: int) -> list[addresses.IPAddress]:
        lookups.append(host)
        return [ipaddress.ip_address("127.0.0.1")]  # a name no real resolver knows

    monkeypatch.setattr(addresses, "resolve", resolver)
    delivery = _attempt(_channel(target.url(host="hooks.test", path="/in?x=1")))
    assert (delivery.status, delivery.response_code) == ("delivered", 204)
    assert lookups == ["hooks.test"]
    assert target.requests[0].startswith(b"POST /in?x=1 HTTP/1.1\r\n")
    assert target.headers()["host"] == f"hooks.test:{target.port}"


# --- https: the pinned address, the original name ----------------------------------------------------
def _certificate(tmp_path: Path, name: str) -> tuple[Path, Path]:
    """A self-signed certificate for `name` (its own CA), as PEM files: (certificate, key)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / f"{name}.pem", tmp_path / f"{name}.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_file, key_file


def test_https_verifies_the_original_host_name_over_the_pinned_connection(
    monkeypatch, settings, raw, tmp_path
):
    """https to a pinned address: SNI and the certificate check use the URL's host name, not the
    address connected to; a certificate for another name is a failed attempt."""
    settings.ENVPORT_NOTIFY_ALLOWED_HOSTS = ("hooks.test",)
    monkeypatch.setattr(addresses, "resolve", lambda host, port: [ipaddress.ip_address("127.0.0.1")])
    cert, key = _certificate(tmp_path, "hooks.test")
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # trust this one certificate, as a CA
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(cert, key)
    target = _start(raw, b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", tls=server)

    delivery = _attempt(_channel(target.url(host="hooks.test", scheme="https")))
    assert (delivery.status, delivery.response_code) == ("delivered", 200), delivery.error
    assert target.server_names == ["hooks.test"]
    assert target.headers()["host"] == f"hooks.test:{target.port}"
    assert target.headers()["x-envport-signature"].startswith("sha256=")

    other_cert, other_key = _certificate(tmp_path, "other.test")
    bundle = tmp_path / "bundle.pem"  # both trusted: what fails is the name, not the issuer
    bundle.write_bytes(cert.read_bytes() + other_cert.read_bytes())
    monkeypatch.setenv("SSL_CERT_FILE", str(bundle))
    impostor_tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    impostor_tls.load_cert_chain(other_cert, other_key)
    impostor = _start(raw, b"HTTP/1.1 200 OK\r\n\r\n", tls=impostor_tls)
    delivery = _attempt(_channel(impostor.url(host="hooks.test", scheme="https"), name="impostor"))
    assert (delivery.status, delivery.response_code) == ("retrying", None)
    assert delivery.error.startswith("SSLCertVerificationError: [SSL: CERTIFICATE_VERIFY_FAILED]")
    assert "Hostname mismatch" in delivery.error and "'hooks.test'" in delivery.error
    assert impostor.requests == []  # nothing signed was sent


# --- answers ---------------------------------------------------------------------------------------
def test_a_redirect_is_not_followed_and_the_signature_goes_nowhere_else(settings, raw, receiver):
    """probe: a 302 to another port was followed, carrying the signature header; now the 3xx is a
    failed attempt recorded with its status, and the other port receives nothing."""
    settings.ENVPORT_NOTIFY_ALLOWED_HOSTS = ("127.0.0.1",)
    settings.ENVPORT_NOTIFY_MAX_ATTEMPTS = 2
    redirecting = _start(
        raw, f"HTTP/1.1 302 Found\r\nLocation: {receiver.url}\r\nContent-Length: 0\r\n\r\n".encode()
    )
    channel = _channel(redirecting.url())
    delivery = _attempt(channel)
    assert (delivery.status, delivery.attempts, delivery.response_code) == ("retrying", 1, 302)
    assert delivery.error == (
        f"HTTP 302 Found: redirects are not followed (to {receiver.url}); set the channel to the final URL"
    )
    assert redirecting.headers()["x-envport-signature"].startswith("sha256=")
    assert receiver.requests == []
    tasks.attempt(delivery.pk)
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.response_code) == ("failed", 2, 302)
    assert receiver.requests == []


@pytest.mark.heavy
def test_a_trickling_receiver_is_cut_off_at_the_deadline(settings, raw):
    """probe: a receiver that trickles its answer (here a byte every second: the status line, then a
    header) held a delivery for 72 s; the attempt's one deadline (connect, send and read together,
    ENVPORT_NOTIFY_TIMEOUT_SECONDS) ends it however often a byte arrives."""
    settings.ENVPORT_NOTIFY_ALLOWED_HOSTS = ("127.0.0.1",)
    settings.ENVPORT_NOTIFY_TIMEOUT_SECONDS = 2.5
    trickler = _start(raw, b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 100 + b"\r\n\r\n", trickle_seconds=1.0)
    started = time.monotonic()
    delivery = _attempt(_channel(trickler.url()))
    took = time.monotonic() - started
    assert 2.4 <= took < 3.5, took
    assert (delivery.status, delivery.attempts, delivery.response_code) == ("retrying", 1, None)
    assert delivery.error == (
        "timed out: no complete answer within 2.5 s (while reading the answer)"
        " (ENVPORT_NOTIFY_TIMEOUT_SECONDS)"
    )
    assert 2 <= trickler.bytes_sent <= 4  # it kept sending: only the deadline stopped the attempt


@pytest.mark.heavy
def test_a_receiver_that_stalls_the_tls_handshake_is_cut_off_at_the_deadline(settings, raw):
    """The deadline covers the TLS handshake too: a receiver that accepts the connection and never
    answers the ClientHello ends the attempt when the deadline passes."""
    settings.ENVPORT_NOTIFY_ALLOWED_HOSTS = ("127.0.0.1",)
    settings.ENVPORT_NOTIFY_TIMEOUT_SECONDS = 1
    silent = _start(raw, b"")  # reads (a ClientHello is not an HTTP request) and says nothing
    started = time.monotonic()
    delivery = _attempt(_channel(silent.url(scheme="https")))
    assert time.monotonic() - started < 2
    assert delivery.error.startswith("timed out: no complete answer within 1 s (while starting TLS)")


HUGE_HEADER = b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * 70_000 + b"\r\n\r\n"


@pytest.mark.parametrize(
    ("answer", "error"),
    [
        (b"HTTP/1.1 2OO OK\r\n\r\n", "malformed answer: not an HTTP/1.x status line: b'HTTP/1.1 2OO OK'"),
        (
            b"SSH-2.0-OpenSSH_9.6\r\n\r\n",
            "malformed answer: not an HTTP/1.x status line: b'SSH-2.0-OpenSSH_9.6'",
        ),
        (b"HTTP/1.1 999 Nine\r\n\r\n", "malformed answer: not an HTTP/1.x status line"),
        (b"HTTP/2 200\r\n\r\n", "malformed answer: not an HTTP/1.x status line"),
        (b"\x00\xff\r\n\r\n", "malformed answer: not an HTTP/1.x status line: b'\\x00\\xff'"),
        (
            HUGE_HEADER,
            f"malformed answer: the answer's status line and headers exceed {webhooks.HEAD_LIMIT} bytes",
        ),
        (b"", "malformed answer: the receiver closed the connection before a complete answer (0 bytes"),
        (b"HTTP/1.1 200 OK\r\nContent-Le", "malformed answer: the receiver closed the connection before"),
        (b"+PONG\r\n", "malformed answer: the receiver closed the connection before"),
    ],
)
def test_malformed_answers_are_recorded_failed_attempts(settings, raw, answer, error):
    """probe: a bad status line and a 70 KB header raised outside the attempt, leaving the delivery
    pending with no attempt recorded; each malformed answer is now a failed attempt on record."""
    settings.ENVPORT_NOTIFY_ALLOWED_HOSTS = ("127.0.0.1",)
    malformed = _start(raw, answer)
    delivery = _attempt(_channel(malformed.url()))
    assert (delivery.status, delivery.attempts, delivery.response_code) == ("retrying", 1, None)
    assert delivery.error.startswith(error), delivery.error
    assert delivery.last_attempt_at is not None


def test_interim_answers_are_skipped_and_the_final_one_counts(settings, raw):
    settings.ENVPORT_NOTIFY_ALLOWED_HOSTS = ("127.0.0.1",)
    answer = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 503 Service Unavailable\r\nRetry-After: 5\r\n\r\nbusy"
    delivery = _attempt(_channel(_start(raw, answer).url()))
    assert (delivery.response_code, delivery.error) == (503, "HTTP 503 Service Unavailable")


@pytest.mark.parametrize(
    ("stored", "error"),
    [
        ("http://[::1/x", "refused: the URL cannot be read (Invalid IPv6 URL)"),
        ("http://127.0.0.1:99999/", "refused: the URL cannot be read (Port out of range 0-65535)"),
        ("http://hooks.example.com:0/", "refused: port 0 is out of range"),
        ("gopher://127.0.0.1:6379/_INFO", "refused: the scheme gopher: is not allowed"),
        ("http://user:pw@127.0.0.1/", "refused: the URL holds a user name or password"),
    ],
)
def test_a_stored_malformed_url_is_a_recorded_attempt_and_the_channel_fails(stored, error):
    """probe: `http://[::1/x` and port 99999 raised outside the attempt (pending for ever, nothing
    recorded); now each is a failed attempt, given up at once (retrying cannot fix a URL), and the
    channel is failing after three such deliveries."""
    channel = _stored(stored)
    for n in range(1, 4):
        delivery = _attempt(channel)
        assert (delivery.status, delivery.attempts, delivery.response_code) == ("failed", 1, None)
        assert delivery.error.startswith(error), delivery.error
        channel.refresh_from_db()
        assert channel.consecutive_failures == n
    assert channel.failing and channel.last_error.startswith(error)


def test_a_refused_connection_is_a_recorded_attempt_then_the_channel_fails(settings):
    """A receiver that is not there: each attempt recorded (no code), retried, then given up; three
    deliveries given up in a row make the channel failing."""
    settings.ENVPORT_NOTIFY_ALLOWED_HOSTS = ("127.0.0.1",)
    settings.ENVPORT_NOTIFY_MAX_ATTEMPTS = 2
    with socket.create_server(("127.0.0.1", 0)) as held:
        port = held.getsockname()[1]
    channel = _channel(f"http://127.0.0.1:{port}/gone")  # the port was free a moment ago: refused
    for _ in range(3):
        delivery = _attempt(channel)
        assert delivery.status == "retrying" and "ConnectionRefusedError" in delivery.error
        tasks.attempt(delivery.pk)
    channel.refresh_from_db()
    assert channel.failing and "ConnectionRefusedError" in channel.last_error


def test_an_unexpected_exception_in_sending_is_still_a_recorded_attempt(settings, monkeypatch):
    """Whatever a send raises (here: resolution failing in a way no one foresaw) ends as a recorded
    failed attempt, never a pending delivery with nothing on record."""

    def resolver(host: str, port: int) -> list[addresses.IPAddress]:
        raise RuntimeError("resolver exploded")

    monkeypatch.setattr(addresses, "resolve", resolver)
    delivery = _attempt(_channel("https://hooks.example.com/x"))
    assert (delivery.status, delivery.attempts) == ("retrying", 1)
    assert delivery.error == "RuntimeError: resolver exploded"


def test_resolution_counts_against_the_deadline(settings, monkeypatch):
    """The system resolver has no timeout of its own: a lookup that hangs ends with the attempt's
    deadline, recorded as a timeout."""
    settings.ENVPORT_NOTIFY_TIMEOUT_SECONDS = 0.5

    def hanging(host: str, port: int) -> list[addresses.IPAddress]:
        time.sleep(3)
        return [ipaddress.ip_address("8.8.8.8")]  # never used: the attempt is over by then

    monkeypatch.setattr(addresses, "resolve", hanging)
    started = time.monotonic()
    delivery = _attempt(_channel("https://hooks.example.com/x"))
    assert time.monotonic() - started < 1.5
    assert delivery.error.startswith(
        "timed out: no complete answer within 0.5 s (while resolving hooks.example.com)"
    )


def test_slack_channels_get_the_same_checks(receiver):
    channel = _channel(receiver.url.replace("127.0.0.1", "localhost"), kind="slack", name="slack")
    delivery = _attempt(channel)
    assert delivery.status == "failed" and "loopback" in delivery.error
    assert receiver.requests == []
