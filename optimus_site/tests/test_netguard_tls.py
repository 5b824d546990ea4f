"""The pinned session against a real TLS server on loopback: it connects to the address it was
given by its own check (not a second DNS answer) and still verifies the certificate, SNI included,
against the name in the URL."""

import datetime as dt
import http.server
import ssl
import threading

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from optimus_site import netguard

NAME = "push.optimus-test.example"  # resolves nowhere: only the pinned address can reach the server


def certificate(tmp_path, name: str):
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / f"{name}.pem", tmp_path / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


@pytest.fixture
def tls_server(tmp_path):
    """A loopback HTTPS server; yields (port, certificate file, what it saw)."""
    seen: dict = {}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 (http.server's naming)
            seen["host"] = self.headers["Host"]
            seen["body"] = self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(201)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    def serve(name: str):
        cert_path, key_path = certificate(tmp_path, name)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert_path, key_path)
        context.sni_callback = lambda sock, server_name, ctx: seen.__setitem__("sni", server_name)
        server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
        server.socket = context.wrap_socket(server.socket, server_side=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return server.server_address[1], cert_path, seen

    servers: list = []
    yield serve
    for server in servers:
        server.shutdown()


@pytest.fixture
def pinned_to_loopback(monkeypatch):
    """The check's own DNS answer for NAME: loopback (treated as public here, as a real push
    service's address would be)."""
    monkeypatch.setattr(netguard, "public_addresses", lambda host, port: ["127.0.0.1"] if host == NAME else [])


def test_connects_to_the_pinned_address_and_verifies_tls_against_the_name(tls_server, pinned_to_loopback):
    port, cert_path, seen = tls_server(NAME)
    response = netguard.pinned_session().post(f"https://{NAME}:{port}/push/1", data=b"hello", verify=str(cert_path))
    assert response.status_code == 201
    assert seen == {"sni": NAME, "host": f"{NAME}:{port}", "body": b"hello"}


def test_a_certificate_for_another_name_is_refused(tls_server, pinned_to_loopback):
    port, cert_path, _ = tls_server("someone-else.example")
    with pytest.raises(requests.exceptions.SSLError):
        netguard.pinned_session().post(f"https://{NAME}:{port}/push/1", data=b"x", verify=str(cert_path))


def test_an_unverifiable_certificate_is_refused(tls_server, pinned_to_loopback):
    port, _, _ = tls_server(NAME)
    with pytest.raises(requests.exceptions.SSLError):
        netguard.pinned_session().post(f"https://{NAME}:{port}/push/1", data=b"x")  # system CAs only
