"""Field networks on one machine: the agency, a partner's office and a client's home.

``FieldNet`` recreates, with network namespaces, veth pairs, nftables, nginx and coturn,
the networks in which the room's partners sit, so that a test can run the room in this
process and Chromium (or a TURN client) where a partner would be::

    ROOT namespace: the agency (room PC + DMZ, simplified)
      room HTTP server 127.0.0.1:<room_port>
      nginx   <proxy>:443 (room.agentur.test)  -> http://127.0.0.1:<room_port>
      coturn  <turn>:3478 udp+tcp, <turn>:443 tls, relays <turn>:49160-49200
      nft table inet fieldnet_<id>: the agency firewall on the veth to the internet
        |
    inet namespace: the internet router (forwarding only, no default route)
        |                         |                            |
    office-gw namespace       home-gw namespace           direct namespace (optional)
      masquerade,               masquerade,                 a public address, no NAT,
      forward: only TCP 443     UDP and TCP allowed         no firewall; the agency lets
      out, all UDP dropped                                  everything in from it
      (counter udp_dropped)       |                         (benchmark baseline)
        |                       home namespace
    office namespace              192.168.178.20/24
      10.20.30.10/24

Public addresses come from TEST-NET blocks: each FieldNet claims a free *slot* (a lock
file under ``/run/lock/fieldnet``) and uses ``203.0.113.<16*slot>/28`` for the agency
(``+10`` the proxy, ``+11`` TURN) and ``198.51.100.<16*slot>/28`` for the partners'
public addresses, so harnesses in parallel processes never collide. Slot 0 gives
``room.agentur.test = 203.0.113.10`` and ``turn.agentur.test = 203.0.113.11``.
Namespace, interface and nft table names carry a random id; ``close()`` removes all of
them, and the processes, by their names and ids, even when the test failed.

Inside the partner namespaces ``/etc/netns/<ns>/hosts`` maps the two names to the
agency's addresses (``ip netns exec`` bind-mounts it over ``/etc/hosts``; Chromium
resolves TURN server names itself through it) and ``resolv.conf`` points at nothing, so
any other name fails at once.

Run as a script, this file is the TURN/STUN probe that runs inside a namespace
(``python fieldnet.py turn ...`` / ``stun ...``); it imports nothing from ``kiosk``.
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import base64
import contextlib
import datetime as dt
import fcntl
import hashlib
import hmac
import ipaddress
import json
import os
import secrets
import shlex
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import sys
import time
import weakref
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import pytest

ROOM_HOST = "room.agentur.test"
TURN_HOST = "turn.agentur.test"
REALM = "agentur.test"
CHROMIUM = "/usr/bin/chromium"
RELAY_PORTS = (49160, 49200)
TEST_COMMAND = "./scripts/test.sh (as root, see README.md)"
LOCK_DIR = Path("/run/lock/fieldnet")
SLOTS = 16
AGENCY_BLOCK = ipaddress.ip_network("203.0.113.0/24")
PARTNER_BLOCK = ipaddress.ip_network("198.51.100.0/24")

#: Tool -> Debian package that provides it.
TOOLS = {
    "ip": "iproute2",
    "nft": "nftables",
    "nginx": "nginx",
    "turnserver": "coturn",
    "certutil": "libnss3-tools",
    "curl": "curl",
}

#: Peer ranges coturn refuses to relay to (RFC 1918, CGNAT, loopback, link-local, ...).
DENIED_PEER_RANGES = (
    "0.0.0.0-0.255.255.255",
    "10.0.0.0-10.255.255.255",
    "100.64.0.0-100.127.255.255",
    "127.0.0.0-127.255.255.255",
    "169.254.0.0-169.254.255.255",
    "172.16.0.0-172.31.255.255",
    "192.0.0.0-192.0.0.255",
    "192.168.0.0-192.168.255.255",
    "198.18.0.0-198.19.255.255",
    "224.0.0.0-255.255.255.255",
    "::1",
    "64:ff9b::-64:ff9b::ffff:ffff",
    "fc00::-fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
    "fe80::-febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
)

TurnTransportName = Literal["udp", "tcp", "tls"]


# --------------------------------------------------------------------------- preconditions


def require_field_tools(extra: Sequence[str] = ()) -> None:
    """Fail the test (never skip it) when not root or a tool is missing.

    ``extra`` names further executables, e.g. ``CHROMIUM``.
    """
    problems: list[str] = []
    if os.geteuid() != 0:
        problems.append("not running as root (network namespaces and nftables need root)")
    for tool, package in TOOLS.items():
        if shutil.which(tool) is None:
            problems.append(f"{tool} is missing (Debian package {package})")
    for tool in extra:
        if shutil.which(tool) is None:
            package = "chromium" if "chromium" in tool else "?"
            problems.append(f"{tool} is missing (Debian package {package})")
    try:
        import cryptography  # noqa: F401
    except ImportError:
        problems.append("the Python package cryptography is missing from the venv")
    if problems:
        pytest.fail(
            "fieldnet cannot build the field networks: " + "; ".join(problems)
            + f". Install what is missing and run the README's test command: {TEST_COMMAND}.",
            pytrace=False,
        )


# --------------------------------------------------------------------------- addresses


@dataclass(frozen=True)
class Addresses:
    """Every address of one FieldNet; the public ones depend on its slot."""

    slot: int
    agency_net: str
    inet_agency: str
    proxy: str
    turn: str
    partner_net: str
    inet_office: str
    office_public: str
    inet_home: str
    home_public: str
    inet_direct: str
    direct: str
    office_lan: str = "10.20.30.0/24"
    office_gw_lan: str = "10.20.30.1"
    office_client: str = "10.20.30.10"
    home_lan: str = "192.168.178.0/24"
    home_gw_lan: str = "192.168.178.1"
    home_client: str = "192.168.178.20"

    @classmethod
    def for_slot(cls, slot: int) -> Addresses:
        """The addresses of slot ``slot`` (0 <= slot < 16)."""
        if not 0 <= slot < SLOTS:
            raise ValueError(f"slot {slot} outside 0..{SLOTS - 1}")
        a = AGENCY_BLOCK.network_address + 16 * slot
        p = PARTNER_BLOCK.network_address + 16 * slot
        return cls(
            slot=slot,
            agency_net=f"{a}/28",
            inet_agency=str(a + 1),
            proxy=str(a + 10),
            turn=str(a + 11),
            partner_net=f"{p}/28",
            inet_office=str(p + 1),
            office_public=str(p + 2),
            inet_home=str(p + 5),
            home_public=str(p + 6),
            inet_direct=str(p + 9),
            direct=str(p + 10),
        )

    def hosts(self) -> dict[str, str]:
        """Name -> address, as the partner namespaces resolve them."""
        return {ROOM_HOST: self.proxy, TURN_HOST: self.turn}


def _root_networks() -> list[ipaddress.IPv4Network]:
    """Networks of the root namespace's addresses and routes (not the default route)."""
    nets: list[ipaddress.IPv4Network] = []
    addrs = json.loads(_run(["ip", "-j", "-4", "addr", "show"]).stdout or "[]")
    for link in addrs:
        for info in link.get("addr_info", []):
            nets.append(ipaddress.ip_network(f"{info['local']}/{info['prefixlen']}", strict=False))
    routes = json.loads(_run(["ip", "-j", "-4", "route", "show", "table", "all"]).stdout or "[]")
    for route in routes:
        dst = route.get("dst", "default")
        if dst == "default" or route.get("type") in ("broadcast", "multicast"):
            continue
        with contextlib.suppress(ValueError):
            nets.append(ipaddress.ip_network(dst, strict=False))
    return nets


def _claim_slot() -> tuple[int, int]:
    """Lock a free slot; returns (slot, lock fd). A slot whose networks the root namespace
    already uses (leftovers of a killed run, or a real network) is skipped."""
    LOCK_DIR.mkdir(parents=True, exist_ok=True)
    for slot in range(SLOTS):
        fd = os.open(LOCK_DIR / f"slot-{slot}.lock", os.O_CREAT | os.O_RDWR, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        addrs = Addresses.for_slot(slot)
        mine = [ipaddress.ip_network(addrs.agency_net), ipaddress.ip_network(addrs.partner_net)]
        if any(n.overlaps(m) for n in _root_networks() for m in mine):
            os.close(fd)
            continue
        return slot, fd
    raise RuntimeError(
        f"fieldnet: no free slot of {SLOTS}; remove leftovers of killed runs "
        "(ip netns list | grep ^fn; ip -br link | grep ^fn; nft list tables | grep fieldnet_)"
    )


# --------------------------------------------------------------------------- processes


def _run(args: Sequence[str], *, check: bool = True, timeout: float = 30,
         input: str | None = None) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(list(args), capture_output=True, text=True, timeout=timeout,
                          input=input)
    if check and proc.returncode != 0:
        raise RuntimeError(
            f"{shlex.join(args)} exited {proc.returncode}: {proc.stderr.strip() or proc.stdout}"
        )
    return proc


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with contextlib.suppress(OSError):
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        if state == "Z":
            return False
    return True


def _stop_group(proc: subprocess.Popen[Any], grace: float = 3.0) -> None:
    """Stop a process started with ``start_new_session=True`` and its process group
    (its own id: nginx's workers, a shell's children), TERM first then KILL."""
    pgid = proc.pid
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGTERM)
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            pass
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(grace)


def _tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError as exc:
        return f"({path}: {exc})"


class Namespace:
    """One network namespace (``name`` None: the root namespace) and how to run in it."""

    def __init__(self, name: str | None, label: str, address: str, public_address: str,
                 procs: list[subprocess.Popen[Any]]) -> None:
        self.name = name
        self.label = label
        #: The address programs in this namespace see on their interface.
        self.address = address
        #: The source address the agency sees (after NAT).
        self.public_address = public_address
        self._procs = procs

    def __repr__(self) -> str:
        return f"Namespace({self.label!r}, {self.name!r}, {self.address} -> {self.public_address})"

    def cmd(self, args: Sequence[str]) -> list[str]:
        """``args`` wrapped in ``ip netns exec <ns>`` (unchanged for the root namespace)."""
        args = [str(a) for a in args]
        return args if self.name is None else ["ip", "netns", "exec", self.name, *args]

    def run(self, args: Sequence[str], *, check: bool = False, timeout: float = 30,
            input: str | None = None) -> subprocess.CompletedProcess[str]:
        """Run ``args`` here, capture text output; ``check`` raises on a non-zero exit."""
        return _run(self.cmd(args), check=check, timeout=timeout, input=input)

    def popen(self, args: Sequence[str], **kwargs: Any) -> subprocess.Popen[Any]:
        """Start ``args`` here in its own session; FieldNet stops it (and its group) at
        teardown."""
        kwargs.setdefault("start_new_session", True)
        proc = subprocess.Popen(self.cmd(args), **kwargs)
        self._procs.append(proc)
        return proc

    def python(self, code: str, *args: str, timeout: float = 30,
               check: bool = False) -> subprocess.CompletedProcess[str]:
        """Run ``python -c code args...`` here with this venv's interpreter."""
        return self.run([sys.executable, "-c", code, *args], timeout=timeout, check=check)

    def pids(self) -> list[int]:
        """Ids of every process in this namespace (empty for the root namespace)."""
        if self.name is None:
            return []
        out = _run(["ip", "netns", "pids", self.name], check=False).stdout
        return [int(p) for p in out.split()]


# --------------------------------------------------------------------------- certificates


@dataclass(frozen=True)
class Certificates:
    """A throwaway CA and one server certificate for the agency's names."""

    ca_file: Path
    cert_file: Path
    key_file: Path


def make_certificates(directory: Path, names: Sequence[str], ips: Sequence[str] = (),
                      days: int = 7) -> Certificates:
    """Write ``ca.pem``, ``server.pem`` (server then CA) and ``server.key`` to
    ``directory``; the server certificate names ``names`` and ``ips`` (SANs)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    directory.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.UTC)
    not_before, not_after = now - dt.timedelta(hours=1), now + dt.timedelta(days=days)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([
        x509.NameAttribute(NameOID.COMMON_NAME, f"fieldnet test CA {secrets.token_hex(4)}"),
    ])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before).not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(
            digital_signature=True, key_cert_sign=True, crl_sign=True,
            content_commitment=False, key_encipherment=False, data_encipherment=False,
            key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()),
                       critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    sans: list[x509.GeneralName] = [x509.DNSName(n) for n in names]
    sans += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ips]
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
        .issuer_name(ca_name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before).not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                       critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    certs = Certificates(directory / "ca.pem", directory / "server.pem", directory / "server.key")
    certs.ca_file.write_bytes(ca.public_bytes(pem))
    certs.cert_file.write_bytes(cert.public_bytes(pem) + ca.public_bytes(pem))
    certs.key_file.write_bytes(key.private_bytes(
        pem, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()))
    certs.key_file.chmod(0o600)
    return certs


def make_nss_home(home: Path, ca_file: Path) -> Path:
    """A HOME whose ``.pki/nssdb`` trusts ``ca_file`` for TLS servers (Chromium on Linux
    reads ``$HOME/.pki/nssdb``). Returns ``home``."""
    db = home / ".pki" / "nssdb"
    db.mkdir(parents=True, exist_ok=True)
    _run(["certutil", "-N", "--empty-password", "-d", f"sql:{db}"])
    _run(["certutil", "-A", "-n", "fieldnet test CA", "-t", "C,,", "-i", str(ca_file),
          "-d", f"sql:{db}"])
    return home


# --------------------------------------------------------------------------- TURN


def turn_rest_credentials(secret: str, label: str, ttl: int = 3600,
                          now: float | None = None) -> tuple[str, str]:
    """TURN REST API credentials (coturn ``use-auth-secret``): username
    ``"<expiry unix>:<label>"``, credential base64(HMAC-SHA1(secret, username))."""
    expiry = int(time.time() if now is None else now) + ttl
    username = f"{expiry}:{label}"
    digest = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    return username, base64.b64encode(digest).decode()


class TurnError(Exception):
    """A TURN allocation failed; ``code`` is the STUN error code (401, 403...) if any."""

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code


class _Receiver(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.queue: asyncio.Queue[tuple[bytes, tuple[str, int]]] = asyncio.Queue()
        self.errors: list[Exception] = []

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.queue.put_nowait((data, (addr[0], addr[1])))

    def error_received(self, exc: Exception) -> None:
        self.errors.append(exc)


class TurnEndpoint:
    """A TURN allocation in this process (aioice), as the room's aiortc makes one."""

    def __init__(self, transport: Any, receiver: _Receiver) -> None:
        self._transport = transport
        self._receiver = receiver
        self.relayed: tuple[str, int] = tuple(transport.get_extra_info("sockname"))
        self.mapped: tuple[str, int] = tuple(transport.get_extra_info("related_address"))

    async def exchange(self, peer: tuple[str, int], payload: bytes, *, timeout: float = 5.0,
                       linger: float = 1.0) -> bytes:
        """Send ``payload`` to ``peer`` every 0.2 s until a datagram from ``peer`` arrives,
        then keep sending for ``linger`` s (so the other side, whose first datagrams met no
        permission yet, gets one too). Returns what arrived."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        peer = (peer[0], int(peer[1]))
        got: bytes | None = None
        got_at = 0.0
        while True:
            if self._receiver.errors:
                raise TurnError(f"sending to {peer}: {self._receiver.errors[0]}",
                                _error_code(self._receiver.errors[0]))
            self._transport.sendto(payload, peer)
            if got is not None and loop.time() - got_at >= linger:
                return got
            if got is None and loop.time() > deadline:
                raise TimeoutError(f"nothing from {peer} through {self.relayed} in {timeout} s")
            try:
                data, addr = await asyncio.wait_for(self._receiver.queue.get(), 0.2)
            except TimeoutError:
                continue
            if got is None and addr == peer:
                got, got_at = data, loop.time()

    async def close(self) -> None:
        """Delete the allocation."""
        self._transport.close()
        await asyncio.sleep(0.1)


def _error_code(exc: BaseException) -> int | None:
    response = getattr(exc, "response", None)
    if response is not None and "ERROR-CODE" in response.attributes:
        return int(response.attributes["ERROR-CODE"][0])
    return None


async def turn_allocate(host: str, port: int, *, transport: TurnTransportName = "udp",
                        username: str, password: str, ca_file: Path | str | None = None,
                        timeout: float = 8.0) -> TurnEndpoint:
    """Allocate on a TURN server with aioice over ``udp``, ``tcp`` or ``tls`` (TLS checks
    the server's certificate against ``ca_file`` and ``host``). Raises TurnError."""
    from aioice import turn

    ssl_ctx = None
    if transport == "tls":
        ssl_ctx = ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
    try:
        tr, receiver = await asyncio.wait_for(turn.create_turn_endpoint(
            _Receiver, (host, port), username, password, ssl=ssl_ctx,
            transport="udp" if transport == "udp" else "tcp"), timeout)
    except TimeoutError as exc:
        raise TurnError(f"no TURN answer from {host}:{port}/{transport} in {timeout} s") from exc
    except Exception as exc:
        raise TurnError(f"{host}:{port}/{transport}: {type(exc).__name__}: {exc}",
                        _error_code(exc)) from exc
    return TurnEndpoint(tr, receiver)


class NamespaceTurnClient:
    """A TURN allocation held by a probe process inside a namespace (``fieldnet.py turn``),
    driven over JSON lines on its stdin/stdout. Same surface as TurnEndpoint."""

    def __init__(self, proc: asyncio.subprocess.Process, relayed: tuple[str, int],
                 mapped: tuple[str, int]) -> None:
        self._proc = proc
        self.relayed = relayed
        self.mapped = mapped

    @classmethod
    async def start(cls, ns: Namespace, host: str, port: int, *,
                    transport: TurnTransportName, username: str, password: str,
                    ca_file: Path | None = None, timeout: float = 8.0) -> NamespaceTurnClient:
        """Allocate from ``ns``; raises TurnError (with the server's code) on refusal."""
        args = [sys.executable, str(Path(__file__).resolve()), "turn", "--host", host,
                "--port", str(port), "--transport", transport, "--username", username,
                "--password", password, "--timeout", str(timeout)]
        if ca_file is not None:
            args += ["--ca", str(ca_file)]
        proc = await asyncio.create_subprocess_exec(
            *ns.cmd(args), stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE, start_new_session=True)
        try:
            first = await cls._read(proc, timeout + 10)
        except BaseException:
            await cls._kill(proc)
            raise
        if "error" in first:
            await cls._kill(proc)
            raise TurnError(f"[{ns.label}] {first['error']}", first.get("code"))
        return cls(proc, tuple(first["relayed"]), tuple(first["mapped"]))

    @staticmethod
    async def _read(proc: asyncio.subprocess.Process, timeout: float) -> dict[str, Any]:
        assert proc.stdout is not None and proc.stderr is not None
        line = await asyncio.wait_for(proc.stdout.readline(), timeout)
        if not line:
            err = await proc.stderr.read()
            raise TurnError(f"TURN probe exited: {err.decode(errors='replace').strip()}")
        return json.loads(line)

    @staticmethod
    async def _kill(proc: asyncio.subprocess.Process) -> None:
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
        await proc.wait()

    async def exchange(self, peer: tuple[str, int], payload: bytes, *, timeout: float = 5.0,
                       linger: float = 1.0) -> bytes:
        """As TurnEndpoint.exchange, done by the probe in its namespace."""
        assert self._proc.stdin is not None
        cmd = {"exchange": list(peer), "payload": payload.decode(), "timeout": timeout,
               "linger": linger}
        self._proc.stdin.write((json.dumps(cmd) + "\n").encode())
        await self._proc.stdin.drain()
        answer = await self._read(self._proc, timeout + linger + 5)
        if "error" in answer:
            raise TurnError(answer["error"], answer.get("code"))
        return answer["received"].encode()

    async def close(self) -> None:
        """Delete the allocation and end the probe."""
        if self._proc.returncode is None and self._proc.stdin is not None:
            with contextlib.suppress(ConnectionError):
                self._proc.stdin.write(b'{"close": true}\n')
                await self._proc.stdin.drain()
            try:
                await asyncio.wait_for(self._proc.wait(), 3)
            except TimeoutError:
                pass
        await self._kill(self._proc)


def stun_binding(host: str, port: int = 3478, timeout: float = 1.0) -> tuple[str, int] | None:
    """One STUN Binding request over UDP; the XOR-MAPPED-ADDRESS, or None without answer."""
    tid = secrets.token_bytes(12)
    request = struct.pack("!HHI", 0x0001, 0, 0x2112A442) + tid
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        sock.sendto(request, (host, port))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                data, _ = sock.recvfrom(2048)
            except (TimeoutError, ConnectionRefusedError):
                return None
            if len(data) < 20 or data[8:20] != tid or data[0:2] != b"\x01\x01":
                continue
            pos = 20
            while pos + 4 <= len(data):
                kind, length = struct.unpack("!HH", data[pos:pos + 4])
                value = data[pos + 4:pos + 4 + length]
                if kind == 0x0020 and length >= 8:
                    xport = struct.unpack("!H", value[2:4])[0] ^ 0x2112
                    xip = struct.unpack("!I", value[4:8])[0] ^ 0x2112A442
                    return str(ipaddress.IPv4Address(xip)), xport
                pos += 4 + length + (-length % 4)
            return None
    return None


# --------------------------------------------------------------------------- configs


#: One proxied location of the site config (the room's, or the console's).
LOCATION = """    location / {
        proxy_pass http://{upstream};
        proxy_http_version 1.1;
        proxy_set_header Host              $host;
        proxy_set_header X-Forwarded-For   $remote_addr;
        proxy_set_header X-Real-IP         $remote_addr;
        proxy_set_header X-Forwarded-Proto https;
        proxy_set_header X-Forwarded-Host  $host;
        proxy_set_header Forwarded         "";
        proxy_set_header Upgrade           $http_upgrade;
        proxy_set_header Connection        $kiosk_connection_upgrade;
        proxy_buffering off;
        proxy_read_timeout 3600s;
        proxy_send_timeout 3600s;
    }
"""


def nginx_site_config(*, server_name: str, listen: str, upstream: str, cert_file: Path | str,
                      key_file: Path | str, max_body: str = "4m",
                      console_upstream: str | None = None) -> str:
    """The agency's TLS reverse proxy for the room, for an nginx ``http {}`` context
    (deployable as a site file). ``listen`` e.g. ``"203.0.113.10:443"``, ``upstream`` e.g.
    ``"127.0.0.1:5006"``. The proxy is the trust anchor: ``X-Forwarded-For`` and
    ``X-Real-IP`` are set to the peer's address, never appended to what the client sent,
    and a client's own ``Forwarded`` header is removed (nginx would pass it on)."""
    room = LOCATION.replace("{upstream}", upstream)
    console = ""
    if console_upstream:  # the site's partner console, by path on the same name
        console = (LOCATION.replace("location / {", "location ~ ^/(partner(/|$)|assets/"
                                    "(partner\\.(js|css)|chime\\.js)$) {")
                   .replace("{upstream}", console_upstream))
    return f"""\
map $http_upgrade $kiosk_connection_upgrade {{
    default upgrade;
    ''      close;
}}

server {{
    listen {listen} ssl;
    server_name {server_name};

    ssl_certificate     {cert_file};
    ssl_certificate_key {key_file};
    ssl_protocols       TLSv1.2 TLSv1.3;

    # SDP offers/answers (a few KiB each) and form posts: well below the limit, and
    # buffered in memory, never in a temp file.
    client_max_body_size    {max_body};
    client_body_buffer_size 256k;

{room}{console}}}
"""


def nginx_config(*, prefix: Path, site: str, user: str | None = "root") -> str:
    """A whole nginx.conf for a private instance under ``prefix`` (pid, logs, temp dirs),
    run with ``nginx -p <prefix> -c <conf> -g 'daemon off;'``, wrapping ``site``."""
    temp = prefix / "temp"
    user_line = f"user {user};\n" if user else ""
    return f"""\
{user_line}worker_processes 1;
pid {prefix / "nginx.pid"};
error_log {prefix / "error.log"} info;

events {{
    worker_connections 256;
}}

http {{
    access_log {prefix / "access.log"};
    client_body_temp_path {temp / "body"};
    proxy_temp_path {temp / "proxy"};
    fastcgi_temp_path {temp / "fastcgi"};
    uwsgi_temp_path {temp / "uwsgi"};
    scgi_temp_path {temp / "scgi"};
    default_type application/octet-stream;

{site}
}}
"""


def coturn_config(*, ip: str, secret: str, realm: str, cert_file: Path | str,
                  key_file: Path | str, relay_ports: tuple[int, int] = RELAY_PORTS,
                  allowed_peers: Sequence[str] = (), denied_peers: Sequence[str] = (),
                  log_file: Path | str | None = None,
                  pid_file: Path | str | None = None, userdb: Path | str | None = None,
                  external_ip: str | None = None) -> str:
    """coturn's config for the agency: REST-API secret, UDP/TCP 3478 and TLS 443 on
    ``ip``, relays on ``ip`` in ``relay_ports``, private peer ranges denied but
    ``allowed_peers`` (the addresses the room's own candidates use) explicitly allowed;
    ``denied_peers`` adds ranges (e.g. the agency's DMZ) to the private ones.

    Deny rules alone would break the room whenever its candidates are private addresses
    (and relay-to-relay whenever the relay address is in a denied range);
    ``allowed-peer-ip`` wins over ``denied-peer-ip``.
    """
    lines = [
        f"listening-ip={ip}",
        f"relay-ip={ip}",
        *([f"external-ip={external_ip}"] if external_ip else []),
        "listening-port=3478",
        "tls-listening-port=443",
        f"min-port={relay_ports[0]}",
        f"max-port={relay_ports[1]}",
        "use-auth-secret",
        f"static-auth-secret={secret}",
        f"realm={realm}",
        f"server-name={realm}",
        f"cert={cert_file}",
        f"pkey={key_file}",
        "no-tlsv1",
        "no-tlsv1_1",
        "no-dtls",
        "no-cli",
        "fingerprint",
        "no-multicast-peers",
        "no-rfc5780",
        "no-software-attribute",
        "stale-nonce=600",
        *(f"denied-peer-ip={r}" for r in (*DENIED_PEER_RANGES, *denied_peers)),
        *(f"allowed-peer-ip={p}" for p in allowed_peers),
    ]
    if log_file is not None:
        lines += [f"log-file={log_file}", "simple-log", "no-stdout-log"]
    if pid_file is not None:
        lines.append(f"pidfile={pid_file}")
    if userdb is not None:
        lines.append(f"userdb={userdb}")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- nftables


def agency_ruleset(table: str, veth: str, a: Addresses, *, relay_ports: tuple[int, int],
                   direct: bool, turn_only_udp: bool) -> str:
    """The agency firewall, on the internet veth of the root namespace only."""
    lo, hi = relay_ports
    direct_in = f"        ip saddr {a.direct} accept\n" if direct else ""
    direct_out = f"        ip daddr {a.direct} accept\n" if direct else ""
    egress = ""
    if turn_only_udp:
        egress = f"""
    chain outbound {{
        type filter hook output priority filter - 10; policy accept;
        oifname != "{veth}" accept
        meta l4proto != udp accept
{direct_out}        ip saddr {a.turn} udp sport {{ 3478, {lo}-{hi} }} accept
        counter name egress_dropped drop
    }}
"""
    return f"""\
table inet {table} {{
    counter dropped {{ }}
    counter egress_dropped {{ }}

    chain inbound {{
        type filter hook input priority filter - 10; policy accept;
        iifname != "{veth}" accept
        ct state established,related accept
{direct_in}        ip daddr {a.proxy} tcp dport 443 accept
        ip daddr {a.turn} tcp dport {{ 443, 3478 }} accept
        ip daddr {a.turn} udp dport {{ 3478, {lo}-{hi} }} accept
        counter name dropped drop
    }}
{egress}}}
"""


OFFICE_RULESET = """\
table inet fieldnet {
    counter udp_dropped { }
    counter dropped { }

    chain forward {
        type filter hook forward priority filter; policy drop;
        ct state established,related accept
        iifname "lan" meta l4proto udp counter name udp_dropped drop
        iifname "lan" tcp dport 443 accept
        counter name dropped drop
    }
}
table ip fieldnet_nat {
    chain postrouting {
        type nat hook postrouting priority srcnat; policy accept;
        oifname "wan" masquerade
    }
}
"""

HOME_RULESET = """\
table inet fieldnet {
    counter dropped { }

    chain forward {
        type filter hook forward priority filter; policy drop;
        ct state established,related accept
        iifname "lan" accept
        counter name dropped drop
    }
}
table ip fieldnet_nat {
    chain postrouting {
        type nat hook postrouting priority srcnat; policy accept;
        oifname "wan" masquerade
    }
}
"""


def nft_counter(ns: Namespace, table: str, name: str, family: str = "inet") -> int:
    """Packets counted so far by the named nft counter ``name`` of ``table`` in ``ns``."""
    out = ns.run(["nft", "-j", "list", "counter", family, table, name], check=True).stdout
    for item in json.loads(out)["nftables"]:
        if "counter" in item:
            return int(item["counter"]["packets"])
    raise RuntimeError(f"no counter {name} in {family} {table} ({ns.label})")


# --------------------------------------------------------------------------- the harness

_LIVE: weakref.WeakSet[FieldNet] = weakref.WeakSet()


@atexit.register
def _close_leftovers() -> None:
    for net in list(_LIVE):
        with contextlib.suppress(Exception):
            net.close()


class FieldNet:
    """The agency, a partner office, a client's home (and a direct partner) on this
    machine. Use as a context manager, or ``start()``/``close()``.

    ``room_port``: the room's HTTP port on 127.0.0.1 in the root namespace, nginx's
    upstream. ``direct``: also build the ``direct`` namespace (no NAT, no firewall).
    ``turn_only_udp``: the agency sends UDP to the internet only from coturn's ports, so
    a partner reaches the room over UDP only through TURN; without it the stateful
    firewall lets UDP hole punching reach the room's host candidates. (A UDP send that
    rule drops fails at once with EPERM in the sender, e.g. aioice's checks from the
    room's host candidates: harmless, they are meant to fail.)

    coturn denies the private ranges and the agency's own /28 as peers, except the
    proxy and TURN addresses (``allowed-peer-ip``), so relay-to-relay between a partner's
    and the room's allocations works and nothing else inside the agency is reachable.

    ``close()`` ends what ``popen`` started (by process group id) and every process left
    in the harness's namespaces (``ip netns pids``); a ``NamespaceTurnClient`` in the
    root namespace must be closed by its user.
    """

    def __init__(self, workdir: Path, room_port: int, *, direct: bool = True,
                 turn_only_udp: bool = True, relay_ports: tuple[int, int] = RELAY_PORTS,
                 turn_secret: str | None = None, console_port: int | None = None) -> None:
        self.workdir = Path(workdir)
        self.room_port = room_port
        #: The site's partner console (``/partner``), proxied on the room's name too.
        self.console_port = console_port
        self.with_direct = direct
        self.turn_only_udp = turn_only_udp
        self.relay_ports = relay_ports
        self.turn_secret = turn_secret or secrets.token_urlsafe(24)
        self.id = secrets.token_hex(3)
        self.table = f"fieldnet_{self.id}"
        self.veth = f"fn{self.id}"
        self.addresses: Addresses | None = None
        self.certs: Certificates | None = None
        self._lock_fd: int | None = None
        self._procs: list[subprocess.Popen[Any]] = []
        self._namespaces: list[str] = []
        self._etc_dirs: list[Path] = []
        self._nft_table = False
        self._started = False
        self._closed = False
        self.nginx: subprocess.Popen[Any] | None = None
        self.coturn: subprocess.Popen[Any] | None = None
        self.nginx_dir = self.workdir / "nginx"
        self.coturn_dir = self.workdir / "coturn"
        self.nginx_error_log = self.nginx_dir / "error.log"
        self.coturn_log = self.coturn_dir / "turn.log"

    # ------------------------------------------------------------------ lifecycle

    def __enter__(self) -> FieldNet:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self) -> FieldNet:
        """Build everything; on any failure tear down what was built and raise."""
        if self._started:
            return self
        require_field_tools()
        self._started = True
        _LIVE.add(self)
        try:
            self.workdir.mkdir(parents=True, exist_ok=True)
            slot, self._lock_fd = _claim_slot()
            self.addresses = a = Addresses.for_slot(slot)
            self.certs = make_certificates(self.workdir / "tls", [ROOM_HOST, TURN_HOST],
                                           [a.proxy, a.turn])
            self._build_namespaces()
            self._start_coturn()
            self._start_nginx()
        except BaseException as exc:
            diag = self.diagnostics()
            self.close()
            if isinstance(exc, Exception):
                raise RuntimeError(f"fieldnet: start failed: {exc}\n{diag}") from exc
            raise
        return self

    def _ns_name(self, label: str) -> str:
        return f"fn{self.id}-{label}"

    def _add_ns(self, label: str, address: str, public: str) -> Namespace:
        name = self._ns_name(label)
        _run(["ip", "netns", "add", name])
        self._namespaces.append(name)
        ns = Namespace(name, label, address, public, self._procs)
        ns.run(["ip", "link", "set", "lo", "up"], check=True)
        ns.run(["sh", "-c", "echo 1 > /proc/sys/net/ipv6/conf/all/disable_ipv6;"
                " echo 1 > /proc/sys/net/ipv6/conf/default/disable_ipv6"], check=True)
        return ns

    def _veth(self, a_ns: Namespace, a_name: str, b_ns: Namespace, b_name: str) -> None:
        _run(["ip", "link", "add", a_name, "netns", str(a_ns.name), "type", "veth",
              "peer", "name", b_name, "netns", str(b_ns.name)])

    @staticmethod
    def _forward(ns: Namespace) -> None:
        ns.run(["sh", "-c", "echo 1 > /proc/sys/net/ipv4/ip_forward"], check=True)

    def _build_namespaces(self) -> None:
        a = self.addresses
        assert a is not None
        self.root = Namespace(None, "root", a.proxy, a.proxy, self._procs)
        self.inet = self._add_ns("inet", a.inet_agency, a.inet_agency)
        self.office_gw = self._add_ns("officegw", a.office_gw_lan, a.office_public)
        self.office = self._add_ns("office", a.office_client, a.office_public)
        self.home_gw = self._add_ns("homegw", a.home_gw_lan, a.home_public)
        self.home = self._add_ns("home", a.home_client, a.home_public)
        self.direct: Namespace | None = None
        if self.with_direct:
            self.direct = self._add_ns("direct", a.direct, a.direct)

        # agency <-> internet: the root side carries the agency's public addresses
        _run(["ip", "link", "add", self.veth, "type", "veth", "peer", "name", "agency",
              "netns", str(self.inet.name)])
        with contextlib.suppress(OSError):
            Path(f"/proc/sys/net/ipv6/conf/{self.veth}/disable_ipv6").write_text("1")
        for ip in (a.proxy, a.turn):
            _run(["ip", "addr", "add", f"{ip}/28", "dev", self.veth])
        _run(["ip", "link", "set", self.veth, "up"])
        _run(["ip", "route", "add", a.partner_net, "via", a.inet_agency, "dev", self.veth])

        def up(ns: Namespace, dev: str, cidr: str) -> None:
            ns.run(["ip", "addr", "add", cidr, "dev", dev], check=True)
            ns.run(["ip", "link", "set", dev, "up"], check=True)

        up(self.inet, "agency", f"{a.inet_agency}/28")
        self._forward(self.inet)
        for gw, client, label, inet_ip, public, lan_gw, client_ip, lan in (
            (self.office_gw, self.office, "office", a.inet_office, a.office_public,
             a.office_gw_lan, a.office_client, a.office_lan),
            (self.home_gw, self.home, "home", a.inet_home, a.home_public,
             a.home_gw_lan, a.home_client, a.home_lan),
        ):
            prefix = lan.split("/")[1]
            self._veth(self.inet, label, gw, "wan")
            up(self.inet, label, f"{inet_ip}/30")
            up(gw, "wan", f"{public}/30")
            gw.run(["ip", "route", "add", "default", "via", inet_ip], check=True)
            self._veth(gw, "lan", client, "eth0")
            up(gw, "lan", f"{lan_gw}/{prefix}")
            up(client, "eth0", f"{client_ip}/{prefix}")
            client.run(["ip", "route", "add", "default", "via", lan_gw], check=True)
            self._forward(gw)
        if self.direct is not None:
            self._veth(self.inet, "direct", self.direct, "eth0")
            up(self.inet, "direct", f"{a.inet_direct}/30")
            up(self.direct, "eth0", f"{a.direct}/30")
            self.direct.run(["ip", "route", "add", "default", "via", a.inet_direct], check=True)

        # firewalls
        self.office_gw.run(["nft", "-f", "-"], input=OFFICE_RULESET, check=True)
        self.home_gw.run(["nft", "-f", "-"], input=HOME_RULESET, check=True)
        ruleset = agency_ruleset(self.table, self.veth, a, relay_ports=self.relay_ports,
                                 direct=self.direct is not None,
                                 turn_only_udp=self.turn_only_udp)
        _run(["nft", "-f", "-"], input=ruleset)
        self._nft_table = True

        # names
        # The dotted alias: Chromium resolves STUN/TURN-over-UDP names as FQDNs with a
        # trailing dot ("turn.agentur.test."), which a hosts line without it does not match.
        hosts = "127.0.0.1 localhost\n::1 localhost\n" + "".join(
            f"{ip} {name} {name}.\n" for name, ip in a.hosts().items())
        for ns in self.partners():
            etc = Path("/etc/netns") / str(ns.name)
            etc.mkdir(parents=True, exist_ok=True)
            self._etc_dirs.append(etc)
            (etc / "hosts").write_text(hosts)
            (etc / "resolv.conf").write_text("nameserver 127.0.0.1\noptions timeout:1 attempts:1\n")

    def _start_coturn(self) -> None:
        a, certs = self.addresses, self.certs
        assert a is not None and certs is not None
        self.coturn_dir.mkdir(parents=True, exist_ok=True)
        conf = self.coturn_dir / "turnserver.conf"
        conf.write_text(coturn_config(
            ip=a.turn, secret=self.turn_secret, realm=REALM, cert_file=certs.cert_file,
            key_file=certs.key_file, relay_ports=self.relay_ports,
            allowed_peers=[a.proxy, a.turn], denied_peers=[_ip_range(a.agency_net)],
            log_file=self.coturn_log,
            pid_file=self.coturn_dir / "turnserver.pid", userdb=self.coturn_dir / "turndb"))
        conf.chmod(0o600)
        with open(self.coturn_dir / "stdout.log", "wb") as out:
            self.coturn = self.root.popen(["turnserver", "-c", str(conf)], stdout=out,
                                          stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while True:
            if self.coturn.poll() is not None:
                raise RuntimeError(f"coturn exited {self.coturn.returncode}")
            if (_tcp_open(a.turn, 3478) and _tcp_open(a.turn, 443)
                    and stun_binding(a.turn, 3478, 0.3) is not None):
                return
            if time.monotonic() > deadline:
                raise RuntimeError("coturn did not answer on 3478/udp, 3478/tcp, 443/tcp")
            time.sleep(0.1)

    def _start_nginx(self) -> None:
        a, certs = self.addresses, self.certs
        assert a is not None and certs is not None
        (self.nginx_dir / "temp").mkdir(parents=True, exist_ok=True)
        site = nginx_site_config(server_name=ROOM_HOST, listen=f"{a.proxy}:443",
                                 upstream=f"127.0.0.1:{self.room_port}",
                                 cert_file=certs.cert_file, key_file=certs.key_file,
                                 console_upstream=f"127.0.0.1:{self.console_port}"
                                 if self.console_port else None)
        conf = self.nginx_dir / "nginx.conf"
        conf.write_text(nginx_config(prefix=self.nginx_dir, site=site))
        with open(self.nginx_dir / "stdout.log", "wb") as out:
            self.nginx = self.root.popen(
                ["nginx", "-p", str(self.nginx_dir), "-c", str(conf), "-e",
                 str(self.nginx_error_log), "-g", "daemon off;"],
                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while not _tcp_open(a.proxy, 443):
            if self.nginx.poll() is not None:
                raise RuntimeError(f"nginx exited {self.nginx.returncode}")
            if time.monotonic() > deadline:
                raise RuntimeError("nginx did not listen on 443")
            time.sleep(0.05)

    def close(self) -> None:
        """Tear everything down (idempotent): processes (by their ids), processes left in
        the namespaces, the nft table, the veth, the namespaces, /etc/netns files, the
        slot lock. Every step runs even when an earlier one failed."""
        if self._closed or not self._started:
            self._closed = True
            return
        self._closed = True
        errors: list[str] = []

        def step(what: str, fn: Callable[[], object]) -> None:
            try:
                fn()
            except Exception as exc:  # keep going: leave as little behind as possible
                errors.append(f"{what}: {exc}")

        for proc in reversed(self._procs):
            step(f"stop pid {proc.pid}", lambda p=proc: _stop_group(p))
        for name in self._namespaces:
            step(f"kill processes in {name}", lambda n=name: self._kill_ns_processes(n))
        if self._nft_table:
            step("nft table", lambda: _run(["nft", "delete", "table", "inet", self.table]))
        if Path(f"/sys/class/net/{self.veth}").exists():
            step("veth", lambda: _run(["ip", "link", "del", self.veth]))
        for name in reversed(self._namespaces):
            step(f"netns {name}", lambda n=name: _run(["ip", "netns", "del", n]))
        for etc in self._etc_dirs:
            step(f"rm {etc}", lambda e=etc: shutil.rmtree(e, ignore_errors=False))
        if self._lock_fd is not None:
            step("slot lock", lambda: os.close(self._lock_fd or -1))
            self._lock_fd = None
        _LIVE.discard(self)
        if errors:
            raise RuntimeError("fieldnet teardown: " + "; ".join(errors))

    @staticmethod
    def _kill_ns_processes(name: str) -> None:
        out = _run(["ip", "netns", "pids", name], check=False).stdout
        pids = [int(p) for p in out.split()]
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 3
        while any(_alive(p) for p in pids) and time.monotonic() < deadline:
            time.sleep(0.02)

    # ------------------------------------------------------------------ helpers

    def partners(self) -> list[Namespace]:
        """The namespaces a partner's browser can sit in: office, home (and direct)."""
        return [self.office, self.home] + ([self.direct] if self.direct is not None else [])

    def namespace_names(self) -> list[str]:
        """Names of every namespace this FieldNet made."""
        return list(self._namespaces)

    def process_ids(self) -> list[int]:
        """Ids of the processes this FieldNet started (nginx, coturn, ``popen``s)."""
        return [p.pid for p in self._procs]

    @property
    def room_url(self) -> str:
        """The room as partners reach it, through the proxy."""
        return f"https://{ROOM_HOST}"

    @property
    def ca_file(self) -> Path:
        """The throwaway CA (PEM) for Python, curl (``--cacert``), aioice."""
        assert self.certs is not None
        return self.certs.ca_file

    def curl_resolve(self) -> list[str]:
        """curl options resolving the agency's names to their addresses (for the root
        namespace, whose /etc/hosts is not touched)."""
        a = self.addresses
        assert a is not None
        return ["--resolve", f"{ROOM_HOST}:443:{a.proxy}", "--resolve", f"{TURN_HOST}:443:{a.turn}"]

    def turn_credentials(self, label: str = "partner", ttl: int = 3600,
                         secret: str | None = None) -> tuple[str, str]:
        """Fresh TURN REST credentials for this coturn (``secret`` overrides, to test
        a wrong one; a negative ``ttl`` makes expired ones)."""
        return turn_rest_credentials(secret or self.turn_secret, label, ttl)

    def ice_servers(self, label: str = "partner", ttl: int = 3600,
                    host: str = TURN_HOST) -> list[dict[str, Any]]:
        """``iceServers`` (browser RTCPeerConnection; same keys as aiortc's RTCIceServer)
        with fresh credentials: TURN over UDP and TCP 3478 and TLS 443. By name for the
        partner namespaces; the room in the root namespace (whose /etc/hosts is not
        touched) passes ``host=net.addresses.turn`` (the certificate names it too)."""
        username, credential = self.turn_credentials(label, ttl)
        return [{
            "urls": [f"turn:{host}:3478?transport=udp",
                     f"turn:{host}:3478?transport=tcp",
                     f"turns:{host}:443?transport=tcp"],
            "username": username,
            "credential": credential,
        }]

    def turn_server(self, ns: Namespace, transport: TurnTransportName) -> tuple[str, int]:
        """Host and port to reach coturn from ``ns`` over ``transport`` (by name from the
        partner namespaces, by address from the root namespace)."""
        assert self.addresses is not None
        host = self.addresses.turn if ns.name is None else TURN_HOST
        return host, 443 if transport == "tls" else 3478

    async def turn_client(self, ns: Namespace, transport: TurnTransportName = "tls", *,
                          label: str = "partner", ttl: int = 3600, secret: str | None = None,
                          timeout: float = 8.0) -> NamespaceTurnClient:
        """A TURN allocation made from inside ``ns`` by a probe process, with fresh
        credentials (``secret``/``ttl`` to make wrong or expired ones)."""
        username, password = self.turn_credentials(label, ttl, secret)
        host, port = self.turn_server(ns, transport)
        return await NamespaceTurnClient.start(
            ns, host, port, transport=transport, username=username, password=password,
            ca_file=self.ca_file, timeout=timeout)

    def office_udp_drops(self) -> int:
        """UDP packets the office firewall dropped on their way out."""
        return nft_counter(self.office_gw, "fieldnet", "udp_dropped")

    def office_drops(self) -> int:
        """Other packets the office firewall dropped (not UDP, not TCP 443 out)."""
        return nft_counter(self.office_gw, "fieldnet", "dropped")

    def agency_drops(self) -> int:
        """Packets from the internet the agency firewall dropped."""
        return nft_counter(self.root, self.table, "dropped")

    def agency_egress_drops(self) -> int:
        """UDP packets to the internet the agency dropped (``turn_only_udp``)."""
        return nft_counter(self.root, self.table, "egress_dropped")

    def chromium_home(self, ns: Namespace) -> Path:
        """A HOME for Chromium in ``ns`` whose NSS db trusts the throwaway CA."""
        home = self.workdir / "homes" / ns.label
        if not (home / ".pki" / "nssdb").exists():
            make_nss_home(home, self.ca_file)
        return home

    def chromium_executable(self, ns: Namespace, chromium: str = CHROMIUM) -> Path:
        """A script to give playwright as ``executable_path``: Chromium in ``ns`` with
        its own HOME (NSS db trusting the CA). Chromium needs ``--no-sandbox`` as root."""
        require_field_tools([chromium])
        home = self.chromium_home(ns)
        script = self.workdir / f"chromium-{ns.label}"
        prefix = "" if ns.name is None else f"ip netns exec {shlex.quote(ns.name)} "
        script.write_text(
            "#!/bin/sh\n"
            f"exec {prefix}env HOME={shlex.quote(str(home))} {shlex.quote(chromium)} \"$@\"\n")
        script.chmod(0o755)
        return script

    def chromium_args(self) -> list[str]:
        """Extra Chromium flags: the agency's names mapped in the browser too, with and
        without the trailing dot Chromium's WebRTC adds for UDP STUN/TURN names (belt and
        braces: the namespaces' /etc/hosts already resolves both)."""
        a = self.addresses
        assert a is not None
        rules = ",".join(f"MAP {name}{dot} {ip}" for name, ip in a.hosts().items()
                         for dot in ("", "."))
        return [f"--host-resolver-rules={rules}"]

    def diagnostics(self) -> str:
        """Logs and firewall state, for an assertion message."""
        parts = [f"--- coturn log ({self.coturn_log})", _tail(self.coturn_log),
                 f"--- nginx error log ({self.nginx_error_log})", _tail(self.nginx_error_log)]
        if self._nft_table:
            parts.append("--- agency nft")
            parts.append(_run(["nft", "list", "table", "inet", self.table], check=False).stdout)
        for label in ("officegw", "homegw"):
            name = self._ns_name(label)
            if name in self._namespaces:
                parts.append(f"--- {label} nft")
                parts.append(_run(["ip", "netns", "exec", name, "nft", "list", "ruleset"],
                                  check=False).stdout)
        return "\n".join(parts)


def _ip_range(cidr: str) -> str:
    net = ipaddress.ip_network(cidr)
    return f"{net.network_address}-{net.broadcast_address}"


def _tcp_open(host: str, port: int, timeout: float = 0.3) -> bool:
    try:
        with socket.create_connection((host, port), timeout):
            return True
    except OSError:
        return False


@pytest.fixture
def field_net(tmp_path: Path) -> Iterator[Callable[..., FieldNet]]:
    """Factory fixture: ``field_net(room_port, **FieldNet options)`` builds and returns a
    started FieldNet (in ``tmp_path``); all of them are torn down after the test."""
    nets: list[FieldNet] = []

    def make(room_port: int, **options: Any) -> FieldNet:
        net = FieldNet(tmp_path / f"fieldnet{len(nets)}", room_port, **options)
        nets.append(net)
        return net.start()

    yield make
    errors = []
    for net in reversed(nets):
        try:
            net.close()
        except Exception as exc:
            errors.append(str(exc))
    if errors:
        raise RuntimeError("; ".join(errors))


# --------------------------------------------------------------------------- probe CLI


def _emit(obj: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


async def _turn_main(args: argparse.Namespace) -> int:
    try:
        ep = await turn_allocate(args.host, args.port, transport=args.transport,
                                 username=args.username, password=args.password,
                                 ca_file=args.ca, timeout=args.timeout)
    except TurnError as exc:
        _emit({"error": str(exc), "code": exc.code})
        return 3
    _emit({"relayed": list(ep.relayed), "mapped": list(ep.mapped)})
    loop = asyncio.get_running_loop()
    while True:
        line = await loop.run_in_executor(None, sys.stdin.readline)
        if not line:
            break
        cmd = json.loads(line)
        if cmd.get("close"):
            break
        try:
            data = await ep.exchange((cmd["exchange"][0], int(cmd["exchange"][1])),
                                     cmd["payload"].encode(), timeout=cmd["timeout"],
                                     linger=cmd["linger"])
            _emit({"received": data.decode(errors="replace")})
        except TurnError as exc:
            _emit({"error": str(exc), "code": exc.code})
        except Exception as exc:
            _emit({"error": f"{type(exc).__name__}: {exc}"})
    await ep.close()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``turn``: hold a TURN allocation, driven by JSON lines; ``stun``: one Binding
    request (prints the mapped address, exits 1 without answer)."""
    parser = argparse.ArgumentParser(prog="fieldnet.py")
    sub = parser.add_subparsers(dest="command", required=True)
    t = sub.add_parser("turn")
    t.add_argument("--host", required=True)
    t.add_argument("--port", type=int, required=True)
    t.add_argument("--transport", choices=["udp", "tcp", "tls"], default="udp")
    t.add_argument("--username", required=True)
    t.add_argument("--password", required=True)
    t.add_argument("--ca")
    t.add_argument("--timeout", type=float, default=8.0)
    s = sub.add_parser("stun")
    s.add_argument("host")
    s.add_argument("port", type=int, nargs="?", default=3478)
    s.add_argument("--timeout", type=float, default=1.0)
    args = parser.parse_args(argv)
    if args.command == "turn":
        return asyncio.run(_turn_main(args))
    mapped = stun_binding(args.host, args.port, args.timeout)
    if mapped is None:
        print("no answer")
        return 1
    print(f"{mapped[0]} {mapped[1]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
