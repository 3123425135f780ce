"""Bus messages: small frozen dataclasses, each with one encode/decode pair.

Wire format, after zguide's Clone pattern (kvmsg):

* an update is the frames ``[key, stamp, body]``: ``stamp`` is 16 bytes, an
  8-byte big-endian sequence number and the 8 bytes that name one run of the
  controller, ``body`` JSON (empty for a deleted key);
* a command is one JSON frame, its reply one JSON frame.
"""

from __future__ import annotations

import json
import os
import re
import struct
import uuid
from dataclasses import dataclass, field
from typing import Any

from kiosk.exceptions import MessageError

#: What a command's handler or a sweep returns: keyed changes to publish (None: the key
#: is gone)...
Changes = list[tuple[str, Any]]
#: ...optionally with data for the reply.
Result = Changes | tuple[Changes, dict[str, Any]]

#: Largest command body the controller accepts (bytes of JSON).
MAX_BODY_BYTES = 64 * 1024
#: Hard per-frame limit set on every socket (ZMQ_MAXMSGSIZE); larger frames
#: make libzmq drop the peer's connection.
MAX_FRAME_BYTES = 1024 * 1024

HEARTBEAT_KEY = "HUGZ"

_STAMP = struct.Struct(">Q8s")


def stamp(seq: int, epoch: bytes) -> bytes:
    """Sequence number and controller epoch as one 16-byte frame."""
    return _STAMP.pack(seq, epoch)


def unstamp(raw: bytes) -> tuple[int, bytes]:
    if len(raw) != _STAMP.size:
        raise MessageError("update has a truncated sequence number or epoch")
    return _STAMP.unpack(raw)


#: A JSON escape of a UTF-16 surrogate: alone it decodes to text that is not UTF-8.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def _loads(raw: bytes, what: str) -> Any:
    if len(raw) > MAX_BODY_BYTES:
        raise MessageError(f"{what} is {len(raw)} bytes, more than the limit of {MAX_BODY_BYTES}")
    try:
        text = raw.decode("utf-8")
        obj = json.loads(text)
    except (UnicodeDecodeError, ValueError) as exc:
        raise MessageError(f"{what} is not valid UTF-8 JSON: {exc}") from None
    except RecursionError:
        raise MessageError(f"{what} is nested too deeply") from None
    if _SURROGATE_ESCAPE.search(text):  # a pair is fine; a lone one cannot be stored or sent
        try:
            _dumps(obj)
        except UnicodeEncodeError:
            raise MessageError(f"{what} holds a lone UTF-16 surrogate (not UTF-8 text)") from None
    return obj


def _dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def new_id() -> str:
    """A fresh random identifier for a command."""
    return uuid.uuid4().hex


@dataclass(frozen=True)
class Command:
    """A request to change the room, sent DEALER→ROUTER to the controller."""

    name: str
    args: dict[str, Any] = field(default_factory=dict)
    role: str = "counsellor"
    id: str = field(default_factory=new_id)

    def encode(self) -> bytes:
        return _dumps({"id": self.id, "name": self.name, "role": self.role, "args": self.args})

    @classmethod
    def decode(cls, raw: bytes) -> Command:
        obj = _loads(raw, "command")
        if not isinstance(obj, dict):
            raise MessageError("command must be a JSON object")
        unknown = set(obj) - {"id", "name", "role", "args"}
        if unknown:
            raise MessageError(f"command has unknown fields: {', '.join(sorted(unknown))}")
        for name in ("id", "name", "role"):
            if not isinstance(obj.get(name), str) or not obj[name]:
                raise MessageError(f"command field '{name}' must be a non-empty string")
        args = obj.get("args", {})
        if not isinstance(args, dict):
            raise MessageError("command field 'args' must be a JSON object")
        return cls(name=obj["name"], args=args, role=obj["role"], id=obj["id"])


@dataclass(frozen=True)
class Reply:
    """The controller's answer to one command: an ack or an error."""

    id: str
    ok: bool
    seq: int = 0
    code: str = ""
    error: str = ""
    data: dict[str, Any] = field(default_factory=dict)

    def encode(self) -> bytes:
        obj: dict[str, Any] = {"id": self.id, "ok": self.ok, "seq": self.seq}
        if not self.ok:
            obj.update(code=self.code, error=self.error)
        if self.data:
            obj["data"] = self.data
        return _dumps(obj)

    @classmethod
    def decode(cls, raw: bytes) -> Reply:
        obj = _loads(raw, "reply")
        if not isinstance(obj, dict) or not isinstance(obj.get("ok"), bool):
            raise MessageError("reply must be a JSON object with a boolean 'ok'")
        return cls(
            id=str(obj.get("id", "")),
            ok=obj["ok"],
            seq=int(obj.get("seq", 0)),
            code=str(obj.get("code", "")),
            error=str(obj.get("error", "")),
            data=obj.get("data") or {},
        )


@dataclass(frozen=True)
class Update:
    """One keyed, sequence-numbered change of the room state (None deletes)."""

    key: str
    seq: int
    epoch: bytes
    value: Any = None

    def encode(self) -> list[bytes]:
        body = b"" if self.value is None else _dumps(self.value)
        return [self.key.encode("utf-8"), stamp(self.seq, self.epoch), body]

    @classmethod
    def decode(cls, frames: list[bytes]) -> Update:
        if len(frames) != 3:
            raise MessageError(f"update must have 3 frames, got {len(frames)}")
        key, raw_stamp, body = frames
        seq, epoch = unstamp(raw_stamp)
        try:
            text = key.decode("utf-8")
        except UnicodeDecodeError:
            raise MessageError("update key is not UTF-8") from None
        value = _loads(body, "update body") if body else None
        return cls(key=text, seq=seq, epoch=epoch, value=value)

    @property
    def is_heartbeat(self) -> bool:
        return self.key == HEARTBEAT_KEY


class KeyedLog:
    """The server side of the Clone pattern: the current value of every key, each
    change numbered in sequence within one epoch (a fresh one per start)."""

    def __init__(self) -> None:
        self.epoch = os.urandom(8)
        self.seq = 0
        self.kv: dict[str, Update] = {}

    def _publishable(self, key: str, value: Any) -> Update:
        """Number one change and keep it (a None value deletes the key)."""
        self.seq += 1
        update = Update(key, self.seq, self.epoch, value)
        if value is None:
            self.kv.pop(key, None)
        else:
            self.kv[key] = update
        return update

    def snapshot(self, prefix: str = "") -> list[Update]:
        """Every current key under ``prefix``, for a newcomer."""
        return [u for k, u in sorted(self.kv.items()) if k.startswith(prefix)]
