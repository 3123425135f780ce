"""Configuration of a room, as a dataclass read from a TOML file.

Every field has a default, so ``kiosk demo`` runs with none. A config file
names only what differs, in the sections ``[room]``, ``[http]`` and ``[bus]``::

    [room]
    id = "raum-2"
    name = "Beratungsraum 2"
    data_dir = "/var/lib/kiosk"

    [http]
    port = 8080

    [bus]
    router = "tcp://127.0.0.1:5581"
    pub = "tcp://127.0.0.1:5582"

    [site]                 # the partner network (kiosk serve --site); none: no ringing
    router = "tcp://10.0.0.5:5591"
    pub = "tcp://10.0.0.5:5592"
    keys = "/etc/kiosk/site-keys"   # the site's public key and this room's site key
    key = "raum-2"

    [media.turn]           # TURN for partners behind firewalls (see README, field networks)
    urls = ["turns:turn.agentur.example:443?transport=tcp", "turn:turn.agentur.example:3478"]
    secret = "..."         # coturn's static-auth-secret (use-auth-secret)
    ttl = 14400            # seconds a credential holds: a call plus the reconnect grace

    [staff.directory]      # staff sign in with the agency's directory (see README)
    url = "ldaps://dc1.agentur.example"
    bind_dn = "CN=svc-kiosk,OU=Dienstkonten,DC=agentur,DC=example"
    bind_password_file = "/etc/kiosk/ldap.secret"
    user_base = "OU=Mitarbeitende,DC=agentur,DC=example"
    user_filter = "(&(objectClass=user)(sAMAccountName={name}))"
    [staff.directory.groups]
    counsellor = "CN=Kiosk-Beratung,OU=Gruppen,DC=agentur,DC=example"

    [retention]            # days; these are the defaults
    notes_days = 0         # notes, next steps: erased when the client has left
    sessions_days = 90     # partner names, invitations, consent log, exact times
    evaluation_days = 0    # anonymous survey and session facts: 0 keeps them
"""

from __future__ import annotations

import json
import os
import re
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from kiosk.exceptions import ConfigError
from kiosk.mail import MailConfig
from kiosk.room.retention import RetentionPolicy

DATA_DIR_ENV = "KIOSK_DATA_DIR"
RUNTIME_FILE = "room.json"
SITE_RUNTIME_FILE = "site.json"
PARTS = ("controller", "web")
_ENDPOINT = re.compile(r"^(tcp://[^\s:]+:\d+|ipc://\S+|inproc://\S+)$")

# (section, key in file) -> field name
_FILE_KEYS = {
    ("room", "id"): "room_id", ("room", "name"): "room_name", ("room", "agency"): "agency",
    ("room", "data_dir"): "data_dir", ("room", "run"): "run", ("room", "phone"): "phone",
    ("http", "address"): "http_address", ("http", "port"): "http_port",
    ("http", "allowed_origins"): "allowed_origins",
    ("http", "trusted_proxies"): "trusted_proxies", ("media", "turn"): "turn",
    ("bus", "router"): "bus_router", ("bus", "pub"): "bus_pub",
    ("bus", "keys"): "bus_keys", ("bus", "heartbeat"): "heartbeat", ("bus", "silence"): "silence",
    ("kiosk", "idle_timeout"): "idle_timeout", ("kiosk", "idle_warning"): "idle_warning",
    ("media", "ice_servers"): "ice_servers", ("media", "camera"): "camera",
    ("media", "microphone"): "microphone", ("media", "microphone_format"): "microphone_format",
    ("media", "camera_watch"): "camera_watch",
    ("devices", "speaker"): "speaker", ("devices", "touch"): "touch",
    ("devices", "kiosk_output"): "kiosk_output", ("devices", "display_output"): "display_output",
    ("http", "public_url"): "public_url",
    ("mail", "host"): "mail_host", ("mail", "port"): "mail_port",
    ("mail", "starttls"): "mail_starttls", ("mail", "tls"): "mail_tls",
    ("mail", "user"): "mail_user", ("mail", "password_file"): "mail_password_file",
    ("mail", "sender"): "mail_sender",
    ("site", "router"): "site_router", ("site", "pub"): "site_pub",
    ("site", "keys"): "site_keys", ("site", "key"): "site_key",
    ("retention", "notes_days"): "retention_notes_days",
    ("retention", "sessions_days"): "retention_sessions_days",
    ("retention", "evaluation_days"): "retention_evaluation_days",
    ("staff", "directory"): "staff_directory",
}


def default_data_dir() -> Path:
    """``$KIOSK_DATA_DIR``, or ``./kiosk-data``."""
    return Path(os.environ.get(DATA_DIR_ENV) or "kiosk-data")


@dataclass
class RoomConfig:
    """How one room runs."""

    room_id: str = "raum-1"
    """Identifier of the room: letters, digits and dashes; part of every bus key."""
    room_name: str = "Beratungsraum 1"
    """Name shown on the screens."""
    agency: str = "Agentur für Arbeit Musterstadt"
    """The agency that runs the room, shown on the welcome screen."""
    phone: str = ""
    """The agency's phone number for clients (in invitations and on the visit pages)."""
    data_dir: Path = field(default_factory=default_data_dir)
    """Folder of the SQLite file and the runtime file that ``kiosk ctl`` reads."""
    run: tuple[str, ...] = PARTS
    """Which parts this process runs: ``controller`` (bus and state), ``web`` (pages)."""
    http_address: str = "127.0.0.1"
    """Address the page server listens on."""
    http_port: int = 5006
    """Port of the page server; 0 picks a free one."""
    allowed_origins: tuple[str, ...] = ()
    """Extra ``host:port`` origins allowed to open the websocket (own address always is)."""
    bus_router: str = "tcp://127.0.0.1:5571"
    """Endpoint of the controller's ROUTER (commands and snapshots)."""
    bus_pub: str = "tcp://127.0.0.1:5572"
    """Endpoint of the controller's PUB (updates and heartbeats)."""
    bus_keys: Path | None = None
    """Folder of the bus's CURVE keys (``kiosk keys init``); none: ``<data_dir>/keys``."""
    heartbeat: float = 1.0
    """Seconds between the controller's heartbeats."""
    silence: float = 5.0
    """Seconds without a message after which a mirror resynchronises."""
    idle_timeout: float = 120.0
    """Seconds without a touch (outside a talk) after which the kiosk wipes its screen."""
    idle_warning: float = 20.0
    """Seconds before that wipe when the client is warned and may stay."""
    ice_servers: tuple[str, ...] = ()
    """The agency's STUN/TURN URLs; none by default (no public STUN server is asked)."""
    camera: str | None = None
    """V4L2 device of the room camera, e.g. /dev/video0; none: the synthetic source."""
    microphone: str | None = None
    """Device of the room microphone, e.g. hw:1 (ALSA) or default (PulseAudio)."""
    microphone_format: str = "alsa"
    """How the microphone is opened: alsa or pulse."""
    camera_watch: bool = True
    """Keep reading the camera between calls, so that /admin sees its frame rate."""
    speaker: str | None = None
    """ALSA device that plays the partners' sound, e.g. hw:0,0 (set by ``devices scan``)."""
    touch: str | None = None
    """Input device of the touch screen, e.g. event5."""
    kiosk_output: str | None = None
    """DRM connector of the touch screen, e.g. card0-HDMI-A-1."""
    display_output: str | None = None
    """DRM connector of the second display, e.g. card0-DP-1."""
    public_url: str = ""
    """How tablets and partners reach this server, e.g. https://raum-2.example:8443;
    empty: the page server's own address. With https, every cookie is ``Secure``."""
    trusted_proxies: tuple[str, ...] = ()
    """Addresses or networks of the reverse proxies whose ``X-Forwarded-For``, ``-Proto``
    and ``-Host`` the room believes (``[http] trusted_proxies``); from anyone else those
    headers change nothing."""
    turn: Any = None
    """TURN for the partners' and remote clients' pages and the room's own peers
    (``[media.turn]``, a :class:`kiosk.media.turn.TurnConfig`); none: no TURN."""
    mail_host: str = ""
    """SMTP server for invitations and summaries; empty: none (a demo writes .eml files)."""
    mail_port: int = 587
    """SMTP port (587 with STARTTLS, 465 with TLS)."""
    mail_starttls: bool = True
    """Upgrade the SMTP connection with STARTTLS."""
    mail_tls: bool = False
    """Implicit TLS (port 465) instead of STARTTLS."""
    mail_user: str = ""
    """SMTP login; empty: none."""
    mail_password_file: str = ""
    """File with the SMTP login's password."""
    mail_sender: str = "Beratung <beratung@example.invalid>"
    """From: of the room's mails."""
    demo: bool = False
    """Demo room: /control can let a simulated partner answer an invitation, and mails
    are written as .eml files into ``<data_dir>/outbox``."""
    site_router: str = ""
    """Endpoint of the site service's ROUTER (partner directory, presence, ringing);
    empty: this room rings no partners."""
    site_pub: str = ""
    """Endpoint of the site service's PUB."""
    site_keys: Path | None = None
    """Folder with the site's public key and this room's site key pair; none:
    ``<data_dir>/site-keys`` (where ``kiosk demo`` keeps them)."""
    site_key: str = "room"
    """Name of this room's key in the site's keyring."""
    retention_notes_days: int = 0
    """Days notes and next steps stay after their session closed; 0: erased as the room
    returns to idle after the client's closing screens (see kiosk/retention.py)."""
    retention_sessions_days: int = 90
    """Days after its start that a session's personal metadata stays (partner names,
    invitations, consent log rows, exact times); then only anonymous facts remain."""
    retention_evaluation_days: int = 0
    """Days the anonymous survey answers and session facts stay; 0: kept without limit."""
    staff_directory: Any = None
    """The agency's LDAP directory, in which staff sign in (``[staff.directory]``, a
    :class:`kiosk.access.ldap.DirectoryConfig`); none: the room's own accounts only."""

    def __post_init__(self) -> None:
        self.data_dir = Path(self.data_dir)
        self.run = tuple(self.run)
        self.allowed_origins = tuple(self.allowed_origins)
        self.ice_servers = tuple(self.ice_servers)
        from kiosk.access.proxies import TrustedProxies
        from kiosk.media.turn import TurnConfig

        self.trusted_proxies = TrustedProxies.parse(self.trusted_proxies).as_strings()
        if isinstance(self.turn, dict):
            self.turn = TurnConfig.from_mapping(self.turn)
        elif self.turn is not None and not isinstance(self.turn, TurnConfig):
            raise ConfigError("[media.turn] must be a section like [media.turn]")
        if self.staff_directory is not None:
            from kiosk.access.ldap import DirectoryConfig

            if not isinstance(self.staff_directory, DirectoryConfig):
                self.staff_directory = DirectoryConfig.from_mapping(self.staff_directory)
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9-]{0,62}", self.room_id):
            raise ConfigError(f"room id {self.room_id!r} may hold only letters, digits and dashes")
        if bool(self.site_router) != bool(self.site_pub):
            raise ConfigError("[site] needs both router and pub, or neither")
        for name in ("bus_router", "bus_pub", *(("site_router", "site_pub")
                                                 if self.site_router else ())):
            if not _ENDPOINT.match(getattr(self, name)):
                raise ConfigError(f"{name} {getattr(self, name)!r} is not a ZeroMQ endpoint "
                                  "(tcp://host:port, ipc://path or inproc://name)")
        if not 0 <= int(self.http_port) <= 65535:
            raise ConfigError(f"http port {self.http_port} is out of range")
        unknown = set(self.run) - set(PARTS)
        if unknown or not self.run:
            raise ConfigError(f"run must name some of {', '.join(PARTS)}, got {list(self.run)}")
        if not self.heartbeat > 0 or not self.silence > self.heartbeat:
            raise ConfigError("heartbeat must be positive and silence longer than it")
        if self.microphone_format not in ("alsa", "pulse"):
            raise ConfigError(f"microphone_format must be alsa or pulse, "
                              f"got {self.microphone_format!r}")
        self.public_url = self.public_url.rstrip("/")
        if self.public_url and not re.fullmatch(r"https?://[^\s/?#]+", self.public_url):
            raise ConfigError(f"public_url {self.public_url!r} must be like "
                              "https://host:port (no path)")
        if not 0 < self.idle_warning < self.idle_timeout:
            raise ConfigError("kiosk idle_warning must be positive and shorter than idle_timeout")
        self.mail  # noqa: B018 -- checks the [mail] settings
        _ = self.retention  # ConfigError for bad [retention] values

    @property
    def db_path(self) -> Path:
        return self.data_dir / "room.db"

    @property
    def mail(self) -> MailConfig:
        """Where the room's mails go (a demo's into its outbox folder)."""
        return MailConfig(host=self.mail_host, port=int(self.mail_port),
                          starttls=bool(self.mail_starttls) and not self.mail_tls,
                          tls=bool(self.mail_tls), user=self.mail_user,
                          password_file=Path(self.mail_password_file)
                          if self.mail_password_file else None,
                          sender=self.mail_sender,
                          outbox=self.data_dir / "outbox" if self.demo else None)

    @property
    def keys_dir(self) -> Path:
        return Path(self.bus_keys) if self.bus_keys else self.data_dir / "keys"

    @property
    def site_keys_dir(self) -> Path:
        return Path(self.site_keys) if self.site_keys else self.data_dir / "site-keys"

    @property
    def retention(self) -> RetentionPolicy:
        """What the room keeps how long (section ``[retention]``)."""
        return RetentionPolicy(self.retention_notes_days, self.retention_sessions_days,
                               self.retention_evaluation_days)

    @property
    def runtime_path(self) -> Path:
        return self.data_dir / RUNTIME_FILE

    @property
    def proxies(self) -> Any:
        """The trusted proxies as a :class:`kiosk.access.proxies.TrustedProxies`."""
        from kiosk.access.proxies import TrustedProxies

        return TrustedProxies.parse(self.trusted_proxies)

    @property
    def secure_cookies(self) -> bool:
        """Whether every cookie is ``Secure`` (the public address is https)."""
        return self.public_url.startswith("https://")

    def with_(self, **changes: Any) -> RoomConfig:
        return replace(self, **changes)

    @classmethod
    def from_toml(cls, path: str | Path, **overrides: Any) -> RoomConfig:
        """Read a config file; unknown keys and bad values raise ConfigError."""
        try:
            raw = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"cannot read config {path}: {exc}") from None
        values: dict[str, Any] = {}
        for section, table in raw.items():
            if not isinstance(table, dict):
                raise ConfigError(f"{path}: '{section}' must be a section like [{section}]")
            for key, value in table.items():
                name = _FILE_KEYS.get((section, key))
                if name is None:
                    raise ConfigError(f"{path}: unknown setting [{section}] {key}")
                values[name] = value
        values.update({k: v for k, v in overrides.items() if v is not None})
        try:
            return cls(**values)
        except TypeError as exc:
            raise ConfigError(f"{path}: {exc}") from None


@dataclass
class SiteConfig:
    """How the site service runs (``kiosk serve --site``; ``kiosk demo`` runs one inside).

    Read from the ``[site]`` section of a TOML file: ``data_dir``, ``router``,
    ``pub``, ``keys``, ``heartbeat``, ``http_address``, ``http_port``.
    """

    data_dir: Path = field(default_factory=default_data_dir)
    """Folder of ``site.db`` (directory, accounts) and ``site.json`` (runtime info)."""
    router: str = "tcp://127.0.0.1:5591"
    """Endpoint of the site's ROUTER (commands and snapshots); port 0 picks a free one."""
    pub: str = "tcp://127.0.0.1:5592"
    """Endpoint of the site's PUB (updates and heartbeats)."""
    keys: Path | None = None
    """Folder of the site bus's CURVE keys; none: ``<data_dir>/site-keys``."""
    heartbeat: float = 1.0
    """Seconds between the site's heartbeats."""
    demo: bool = False
    """Demo site: fresh keys at each start, the fictional district, demo passwords."""
    http_address: str = "127.0.0.1"
    """Address the partner console (``/partner``) listens on; loopback by default (put
    a TLS proxy in front to reach it from the agencies)."""
    http_port: int = 5010
    """Port of the partner console; 0 picks a free one."""
    trusted_proxies: tuple[str, ...] = ()
    """Reverse proxies whose ``X-Forwarded-*`` headers the console believes."""
    public_url: str = ""
    """How partners reach the console, e.g. https://partner.agentur.example; with
    https, its cookie is ``Secure``."""

    def __post_init__(self) -> None:
        self.data_dir = Path(self.data_dir)
        if not 0 <= int(self.http_port) <= 65535:
            raise ConfigError(f"site http port {self.http_port} is out of range")
        for name in ("router", "pub"):
            if not _ENDPOINT.match(getattr(self, name)):
                raise ConfigError(f"site {name} {getattr(self, name)!r} is not a ZeroMQ "
                                  "endpoint (tcp://host:port, ipc://path or inproc://name)")
        if not self.heartbeat > 0:
            raise ConfigError("site heartbeat must be positive")
        from kiosk.access.proxies import TrustedProxies

        self.trusted_proxies = TrustedProxies.parse(
            self.trusted_proxies, "[site] trusted_proxies").as_strings()
        self.public_url = self.public_url.rstrip("/")
        if self.public_url and not re.fullmatch(r"https?://[^\s/?#]+", self.public_url):
            raise ConfigError(f"[site] public_url {self.public_url!r} must be like "
                              "https://host:port (no path)")

    @property
    def db_path(self) -> Path:
        return self.data_dir / "site.db"

    @property
    def keys_dir(self) -> Path:
        return Path(self.keys) if self.keys else self.data_dir / "site-keys"

    @property
    def runtime_path(self) -> Path:
        return self.data_dir / SITE_RUNTIME_FILE

    @classmethod
    def from_toml(cls, path: str | Path, **overrides: Any) -> SiteConfig:
        """Read the ``[site]`` section of a config file; bad values raise ConfigError."""
        try:
            raw = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"cannot read config {path}: {exc}") from None
        values = dict(raw.get("site") or {})
        values.update({k: v for k, v in overrides.items() if v is not None})
        try:
            return cls(**values)
        except TypeError as exc:
            raise ConfigError(f"{path}: [site] {exc}") from None


def read_runtime(data_dir: Path) -> dict[str, Any]:
    """What a running room wrote about itself: endpoints, page URLs, pid."""
    path = Path(data_dir) / RUNTIME_FILE
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(
            f"no room is running with data dir {data_dir} (no {path}); start one with "
            f"'kiosk demo' or 'kiosk serve', or pass --data-dir / set {DATA_DIR_ENV}") from None
    except ValueError as exc:
        raise ConfigError(f"{path} is damaged: {exc}") from None


def write_runtime(path: Path, info: dict) -> None:
    """What a running room or site tells other processes (endpoints, keys, pid), written
    whole or not at all."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"pid": os.getpid(), **info}, indent=2), encoding="utf-8")
    tmp.replace(path)


def forget_runtime(path: Path) -> None:
    """Remove the runtime file at stop, if this process wrote it."""
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
        if info.get("pid") == os.getpid():
            path.unlink()
    except (OSError, ValueError):
        pass
