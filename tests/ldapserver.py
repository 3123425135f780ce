"""A real OpenLDAP server for the tests: Debian's slapd in a temporary folder.

It serves a small agency tree on loopback ports, plain LDAP (with StartTLS) and
LDAPS, with a certificate from a throwaway CA::

    dc=agentur,dc=example
      ou=services   cn=kiosk                  the room's service account (read only)
      ou=people     cn=Berger\\, Anna          anna.berger   counsellor
                    cn=Technik\\, Hans         hans.technik  admin
                    cn=Statistik\\, Eva        eva.statistik evaluator
                    cn=Niemand\\, Paul         paul.niemand  in no group
                    cn=Alt\\, Olaf             olaf.alt      counsellor, but disabled
                    ...                       more counsellors for the tests that change them
      ou=groups     cn=kiosk-beratung, cn=kiosk-haustechnik, cn=kiosk-auswertung

Users carry Active Directory's ``sAMAccountName`` and ``userAccountControl``
(a small schema with AD's own OIDs), so that the tests sign in with the very
filter an agency's IT writes for AD: a disabled account has bit 2 (0x2) set in
``userAccountControl`` and is excluded by the bitwise matching rule
``1.2.840.113556.1.4.803``, which OpenLDAP implements as AD does. DNs are
"Surname, Given name" as in German agencies' ADs, so every sign-in handles an
escaped comma. ACLs are realistic: anonymous may only bind, passwords are
never readable, signed-in users and the service account may read.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import ipaddress
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import ldap3
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

SLAPD = "/usr/sbin/slapd"
SLAPADD = "/usr/sbin/slapadd"
BASE = "dc=agentur,dc=example"
PEOPLE = f"ou=people,{BASE}"
GROUPS = f"ou=groups,{BASE}"
ROOT_DN, ROOT_PASSWORD = f"cn=admin,{BASE}", "root-geheim-123"
SERVICE_DN, SERVICE_PASSWORD = f"cn=kiosk,ou=services,{BASE}", "dienst-geheim-4711"
GROUP_OF = {"counsellor": f"cn=kiosk-beratung,{GROUPS}",
            "admin": f"cn=kiosk-haustechnik,{GROUPS}",
            "evaluator": f"cn=kiosk-auswertung,{GROUPS}"}
#: Active Directory's flag for a disabled account in userAccountControl.
DISABLED = 0x2
NORMAL_ACCOUNT = 0x200
#: name -> (surname, given name, role or None, disabled)
USERS = {
    "anna.berger": ("Berger", "Anna", "counsellor", False),
    "hans.technik": ("Technik", "Hans", "admin", False),
    "eva.statistik": ("Statistik", "Eva", "evaluator", False),
    "paul.niemand": ("Niemand", "Paul", None, False),
    "olaf.alt": ("Alt", "Olaf", "counsellor", True),
    "kurt.wechsel": ("Wechsel", "Kurt", "counsellor", False),  # leaves the group
    "doris.sperre": ("Sperre", "Doris", "counsellor", False),  # disabled while signed in
    "ute.aufstieg": ("Aufstieg", "Ute", "counsellor", False),  # moves to another group
    "beratung": ("Beratung", "Doppelt", "counsellor", False),  # also a local demo account
    "tina.vorlage": ("Vorlage", "Tina", "counsellor", False),  # DN from a template (uid=…)
}
#: Users whose entry is named by their account name, as user_dn_template expects.
UID_NAMED = {"tina.vorlage"}
#: The filter an agency writes for AD (objectClass=user there; inetOrgPerson here).
USER_FILTER = ("(&(objectClass=inetOrgPerson)(sAMAccountName={name})"
               "(!(userAccountControl:1.2.840.113556.1.4.803:=2)))")

AD_SCHEMA = """\
attributetype ( 1.2.840.113556.1.4.221 NAME 'sAMAccountName'
    EQUALITY caseIgnoreMatch SUBSTR caseIgnoreSubstringsMatch
    SYNTAX 1.3.6.1.4.1.1466.115.121.1.15 SINGLE-VALUE )
attributetype ( 1.2.840.113556.1.4.8 NAME 'userAccountControl'
    EQUALITY integerMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.27 SINGLE-VALUE )
objectclass ( 1.3.6.1.4.1.4203.666.11.99.1 NAME 'kioskTestAdAccount' SUP top AUXILIARY
    MAY ( sAMAccountName $ userAccountControl ) )
"""


def password_of(name: str) -> str:
    """Each test user's directory password."""
    return f"{name}-Verzeichnis-7"


def dn_of(name: str) -> str:
    surname, given, _, _ = USERS[name]
    if name in UID_NAMED:
        return f"uid={name},{PEOPLE}"
    return f"cn={surname}\\, {given},{PEOPLE}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ssha(password: str) -> str:
    """An RFC 2307 ``{SSHA}`` hash, as directories keep passwords."""
    salt = os.urandom(8)
    digest = hashlib.sha1(password.encode() + salt).digest()
    return "{SSHA}" + base64.b64encode(digest + salt).decode()


# -- a throwaway CA ---------------------------------------------------------------
def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def make_ca(folder: Path, common: str) -> tuple[Path, ec.EllipticCurvePrivateKey,
                                                 x509.Certificate]:
    """A CA certificate (PEM in ``folder``) and its key, valid for a day."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(_name(common)).issuer_name(_name(common))
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True,
                                         crl_sign=True, content_commitment=False,
                                         key_encipherment=False, data_encipherment=False,
                                         key_agreement=False, encipher_only=False,
                                         decipher_only=False), critical=True)
            .sign(key, hashes.SHA256()))
    path = folder / f"{common}.pem"
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return path, key, cert


def make_server_cert(folder: Path, ca_key, ca_cert, *, ip: str = "127.0.0.1",
                     dns: str = "ldap.agentur.example") -> tuple[Path, Path]:
    """The server's certificate (for ``ip`` and ``dns`` only) and key, signed by the CA."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(_name(dns)).issuer_name(ca_cert.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(
                [x509.DNSName(dns), x509.IPAddress(ipaddress.ip_address(ip))]), critical=False)
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]),
                           critical=False)
            .sign(ca_key, hashes.SHA256()))
    cert_path, key_path = folder / "server.pem", folder / "server.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    key_path.chmod(0o600)
    return cert_path, key_path


# -- the tree -----------------------------------------------------------------------
def _entry(dn: str, **attrs: str | list[str]) -> str:
    lines = [f"dn: {dn}"]
    for attr, values in attrs.items():
        for value in values if isinstance(values, list) else [values]:
            lines.append(f"{attr}: {value}")
    return "\n".join(lines) + "\n"


def tree_ldif() -> str:
    entries = [
        _entry(BASE, objectClass=["dcObject", "organization"], o="Agentur", dc="agentur"),
        _entry(f"ou=services,{BASE}", objectClass="organizationalUnit", ou="services"),
        _entry(PEOPLE, objectClass="organizationalUnit", ou="people"),
        _entry(GROUPS, objectClass="organizationalUnit", ou="groups"),
        _entry(SERVICE_DN, objectClass=["organizationalRole", "simpleSecurityObject"],
               cn="kiosk", userPassword=ssha(SERVICE_PASSWORD)),
    ]
    for name, (surname, given, _, disabled) in USERS.items():
        entries.append(_entry(
            dn_of(name), objectClass=["inetOrgPerson", "kioskTestAdAccount"],
            cn=f"{surname}, {given}", sn=surname, givenName=given, sAMAccountName=name, uid=name,
            userAccountControl=str(NORMAL_ACCOUNT | (DISABLED if disabled else 0)),
            userPassword=ssha(password_of(name))))
    for role, group in GROUP_OF.items():
        members = [dn_of(n) for n, (_, _, r, _) in USERS.items() if r == role]
        entries.append(_entry(group, objectClass="groupOfNames", cn=group[3:].split(",")[0],
                              member=members))
    return "\n".join(entries)


SLAPD_CONF = """\
include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
include {folder}/ad.schema
modulepath /usr/lib/ldap
moduleload back_mdb
pidfile {folder}/slapd.pid
TLSCACertificateFile {ca}
TLSCertificateFile {cert}
TLSCertificateKeyFile {key}

database mdb
maxsize 16777216
suffix "{base}"
rootdn "{root_dn}"
rootpw {root_password}
directory {folder}/db
access to attrs=userPassword by self write by anonymous auth by * none
access to * by users read by anonymous auth
"""


class Slapd:
    """One slapd with the test tree, started and stopped by the tests.

    ``ldap_url`` takes StartTLS, ``ldaps_url`` speaks TLS from the first byte;
    ``ca_file`` signed the server's certificate, ``other_ca_file`` did not.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.proc: subprocess.Popen | None = None
        self.port, self.tls_port = free_port(), free_port()
        self.ca_file, ca_key, ca_cert = make_ca(folder, "Agentur-Test-CA")
        self.other_ca_file, _, _ = make_ca(folder, "Fremde-CA")
        cert, key = make_server_cert(folder, ca_key, ca_cert)
        (folder / "ad.schema").write_text(AD_SCHEMA)
        self.conf = folder / "slapd.conf"
        self.conf.write_text(SLAPD_CONF.format(
            folder=folder, ca=self.ca_file, cert=cert, key=key, base=BASE, root_dn=ROOT_DN,
            root_password=ROOT_PASSWORD))
        (folder / "db").mkdir()
        (folder / "tree.ldif").write_text(tree_ldif())
        subprocess.run([SLAPADD, "-q", "-f", str(self.conf), "-l", str(folder / "tree.ldif")],
                       check=True, capture_output=True, timeout=30)

    @property
    def ldap_url(self) -> str:
        return f"ldap://127.0.0.1:{self.port}"

    @property
    def ldaps_url(self) -> str:
        return f"ldaps://127.0.0.1:{self.tls_port}"

    def start(self) -> Slapd:
        """Start slapd in the foreground (``-d 0``) and wait until it answers."""
        urls = f"{self.ldap_url}/ {self.ldaps_url}/"
        self.proc = subprocess.Popen([SLAPD, "-d", "0", "-f", str(self.conf), "-h", urls],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 15
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.tls_port), timeout=0.5):
                    return self
            except OSError:
                if self.proc.poll() is not None:
                    raise RuntimeError("slapd did not start: " + self.proc.stderr.read()
                                       .decode(errors="replace")) from None
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError("slapd did not listen within 15 s") from None
                time.sleep(0.05)

    def stop(self) -> None:
        """Stop this slapd (by its pid) and wait until its ports are closed."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        self.proc.stderr.close()
        self.proc = None

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    # -- changes an agency's IT makes ------------------------------------------
    def _admin(self) -> ldap3.Connection:
        return ldap3.Connection(ldap3.Server("127.0.0.1", port=self.port), ROOT_DN,
                                ROOT_PASSWORD, auto_bind=True, raise_exceptions=True)

    def _modify(self, dn: str, changes: dict) -> None:
        conn = self._admin()
        try:
            conn.modify(dn, changes)
        finally:
            conn.unbind()

    def leave_group(self, name: str, role: str) -> None:
        self._modify(GROUP_OF[role], {"member": [(ldap3.MODIFY_DELETE, [dn_of(name)])]})

    def join_group(self, name: str, role: str) -> None:
        self._modify(GROUP_OF[role], {"member": [(ldap3.MODIFY_ADD, [dn_of(name)])]})

    def disable(self, name: str) -> None:
        self._modify(dn_of(name), {"userAccountControl": [
            (ldap3.MODIFY_REPLACE, [str(NORMAL_ACCOUNT | DISABLED)])]})

    def bind(self, dn: str, password: str) -> bool:
        """Whether ``dn`` binds with ``password`` (plain LDAP on loopback)."""
        conn = ldap3.Connection(ldap3.Server("127.0.0.1", port=self.port), dn, password)
        try:
            return conn.bind()
        finally:
            conn.unbind()

    def search(self, search_filter: str) -> list[str]:
        """DNs that ``search_filter`` finds under ou=people (as the service account)."""
        conn = ldap3.Connection(ldap3.Server("127.0.0.1", port=self.port), SERVICE_DN,
                                SERVICE_PASSWORD, auto_bind=True, raise_exceptions=True)
        try:
            conn.search(PEOPLE, search_filter, attributes=[])
            return [e["dn"] for e in conn.response if e["type"] == "searchResEntry"]
        finally:
            conn.unbind()
