#!/usr/bin/env python3
"""An SMTP catcher for the smtp connector's tests (aiosmtpd), on loopback only.

    AURA_SMTP_SINK_USER=aura AURA_SMTP_SINK_PASSWORD=secret \
        python smtp_sink.py --dir DIR --port 2525 [--tls-port 2465]

- Stores every message it accepts in DIR: `<n>.eml` (the DATA bytes exactly as received, after
  dot-unstuffing) and then `<n>.json` (the envelope: `mail_from`, `rcpt_tos`, `mail_options`,
  whether the session was TLS, the login, the Message-ID). The JSON is written last, by rename:
  when it exists, the message is complete.
- AUTH PLAIN and LOGIN with the user and password of the environment; anything else is refused
  with `535 5.7.8`. Mail is refused (`530`) until authenticated.
- STARTTLS on `--port` (offered, not required, so that the connector's `none` mode can be tested
  on loopback) and, with `--tls-port`, implicit TLS on a second port. The certificate is made at
  start: a throw-away CA (`DIR/../ca.pem`, the file the tests trust) and a leaf for `localhost`
  and `127.0.0.1` signed by it, with the `openssl` command, or with `cryptography` when it is
  missing.
- Scripted refusals, so that the tests see real SMTP errors: a recipient whose local part starts
  with `reject` gets `550 5.1.1`, one starting with `busy` gets `450 4.2.1`; a message over
  `--max-size` bytes (default 1 MiB) gets aiosmtpd's `552`.
- Stops on SIGINT or SIGTERM.
"""

import argparse
import asyncio
import email.parser
import email.policy
import itertools
import json
import logging
import os
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import warnings

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword


def make_certificates(where):
    """A CA and a leaf for localhost/127.0.0.1 signed by it; returns (ca, cert, key) paths."""
    ca, ca_key = os.path.join(where, "ca.pem"), os.path.join(where, "ca.key")
    cert, key = os.path.join(where, "cert.pem"), os.path.join(where, "key.pem")
    if shutil.which("openssl"):
        csr, ext = os.path.join(where, "leaf.csr"), os.path.join(where, "leaf.ext")
        with open(ext, "w") as f:
            f.write(
                "subjectAltName=DNS:localhost,IP:127.0.0.1\n"
                "basicConstraints=critical,CA:FALSE\n"
                "keyUsage=critical,digitalSignature,keyEncipherment\n"
                "extendedKeyUsage=serverAuth\n"
            )
        ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
        run = lambda *args: subprocess.run(["openssl", *args], check=True, capture_output=True)
        run("req", "-x509", *ec, "-keyout", ca_key, "-out", ca, "-days", "7", "-subj", "/CN=Aura SMTP test CA")
        run("req", *ec, "-keyout", key, "-out", csr, "-subj", "/CN=localhost")
        run("x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial",
            "-out", cert, "-days", "7", "-extfile", ext)
        return ca, cert, key
    return make_certificates_with_cryptography(ca, cert, key)


def make_certificates_with_cryptography(ca_path, cert_path, key_path):
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.timezone.utc)
    name = lambda cn: x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    ca_key, leaf_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(name("Aura SMTP test CA")).issuer_name(name("Aura SMTP test CA"))
        .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=7))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    leaf = (
        x509.CertificateBuilder()
        .subject_name(name("localhost")).issuer_name(ca.subject)
        .public_key(leaf_key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=7))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    with open(ca_path, "wb") as f:
        f.write(ca.public_bytes(pem))
    with open(cert_path, "wb") as f:
        f.write(leaf.public_bytes(pem))
    with open(key_path, "wb") as f:
        f.write(
            leaf_key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        )
    return ca_path, cert_path, key_path


class Sink:
    """aiosmtpd handler: scripted refusals, then every accepted message to a file pair."""

    def __init__(self, directory):
        self.directory = directory
        self.sequence = itertools.count(1)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        local = address.split("@", 1)[0].lower()
        if local.startswith("reject"):
            return f"550 5.1.1 <{address}>: Recipient address rejected: User unknown"
        if local.startswith("busy"):
            return f"450 4.2.1 <{address}>: Mailbox busy, try again later"
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server, session, envelope):
        n = next(self.sequence)
        raw = envelope.original_content or b""
        headers = email.parser.BytesHeaderParser(policy=email.policy.compat32).parsebytes(raw)
        base = os.path.join(self.directory, f"{n:06d}")
        with open(base + ".eml", "wb") as f:
            f.write(raw)
        meta = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": list(envelope.rcpt_tos),
            "mail_options": list(envelope.mail_options),
            # STARTTLS or implicit TLS: the transport the message came on.
            "tls": server.transport is not None and server.transport.get_extra_info("ssl_object") is not None,
            "login": (session.auth_data.login.decode("utf-8", "replace")
                      if isinstance(session.auth_data, LoginPassword) else None),
            "message_id": (headers.get("Message-ID") or "").strip(),
        }
        with open(base + ".json.tmp", "w") as f:
            json.dump(meta, f)
        os.replace(base + ".json.tmp", base + ".json")
        return f"250 2.0.0 OK: queued as {n:06d}"


def authenticator(user, password):
    def check(server, session, envelope, mechanism, auth_data):
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login == user.encode()
            and auth_data.password == password.encode()
        )
        # handled=False: aiosmtpd answers a refusal with `535 5.7.8`.
        return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)

    return check


async def serve(args):
    # aiosmtpd warns that AUTH is allowed without TLS: wanted here (loopback, `none` mode tests).
    warnings.filterwarnings("ignore", message="Requiring AUTH while not requiring TLS")
    logging.getLogger("mail.log").setLevel(logging.ERROR)
    user = os.environ.get("AURA_SMTP_SINK_USER", "aura")
    password = os.environ.get("AURA_SMTP_SINK_PASSWORD", "")
    if not password:
        sys.exit("smtp_sink: set AURA_SMTP_SINK_PASSWORD")
    os.makedirs(args.dir, exist_ok=True)
    certs = tempfile.mkdtemp(prefix="certs-", dir=os.path.dirname(os.path.abspath(args.dir)))
    ca, cert, key = make_certificates(certs)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    handler = Sink(args.dir)

    def smtp(tls_context):
        return SMTP(
            handler,
            hostname="sink.localhost",
            data_size_limit=args.max_size,
            tls_context=tls_context,
            auth_required=True,
            # AUTH in the clear too: the connector's `none` mode is tested on loopback.
            auth_require_tls=False,
            authenticator=authenticator(user, password),
        )

    loop = asyncio.get_running_loop()
    servers = [await loop.create_server(lambda: smtp(context), "127.0.0.1", args.port)]
    if args.tls_port:
        servers.append(await loop.create_server(lambda: smtp(None), "127.0.0.1", args.tls_port, ssl=context))
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    print(f"smtp_sink: 127.0.0.1:{args.port} (STARTTLS)"
          + (f", 127.0.0.1:{args.tls_port} (TLS)" if args.tls_port else "")
          + f"; messages in {args.dir}; CA {ca}", flush=True)
    # The CA's path, for the start script (written last: its presence means "ready").
    if args.ready_file:
        with open(args.ready_file + ".tmp", "w") as f:
            f.write(ca)
        os.replace(args.ready_file + ".tmp", args.ready_file)
    await stop.wait()
    for s in servers:
        s.close()
    for s in servers:
        # Bounded: since Python 3.12 this also waits for open client connections.
        try:
            await asyncio.wait_for(s.wait_closed(), 2)
        except asyncio.TimeoutError:
            pass
    print("smtp_sink: stopped", flush=True)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dir", required=True, help="where received messages are written")
    p.add_argument("--port", type=int, default=2525, help="the STARTTLS port")
    p.add_argument("--tls-port", type=int, default=0, help="an implicit-TLS port (0: none)")
    p.add_argument("--max-size", type=int, default=1024 * 1024, help="the largest message accepted")
    p.add_argument("--ready-file", help="written with the CA's path once listening")
    asyncio.run(serve(p.parse_args()))


if __name__ == "__main__":
    main()
