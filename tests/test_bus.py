"""The room bus on real ZeroMQ sockets: snapshot, order, gaps, restarts, bad messages."""

from __future__ import annotations

import asyncio
import time

import pytest
from conftest import BusRoom, endpoints, until

from kiosk.room.bus import CMD, MAX_REQ_ID_BYTES, REPLY
from kiosk.room.keys import Keyring
from kiosk.room.messages import MAX_BODY_BYTES, MAX_FRAME_BYTES, Reply, Update


@pytest.mark.parametrize("transport", ["inproc", "ipc", "tcp"])
async def test_snapshot_commands_and_updates_over_each_transport(transport, tmp_path, zctx):
    room = await BusRoom(tmp_path / "room.db", zctx, *endpoints(transport, tmp_path)).start()
    try:
        counsellor = room.client()
        assert (await counsellor.request("session.start")).ok
        assert (await counsellor.request("note.add", {"text": "Hallo", "visible": True})).ok
        late = await room.mirror()  # a late joiner: everything so far from the snapshot
        assert late.state.synced and late.state.phase == "consulting"
        assert [n.text for n in late.state.notes] == ["Hallo"]
        assert (await counsellor.request("note.add", {"text": "Zweite"})).ok
        await until(lambda: len(late.state.notes) == 2)
        assert late.state.seq == room.controller.seq
        assert late.state.to_updates() == room.controller.state.to_updates()
    finally:
        await room.close()


async def test_updates_arrive_in_order(bus_room):
    mirror = await bus_room.mirror()
    seen: list[int] = []
    mirror.state.param.watch(lambda e: seen.append(e.new), "seq")
    client = bus_room.client()
    await client.request("session.start")
    replies = await asyncio.gather(*[
        client.request("note.add", {"text": f"Notiz {i}"}) for i in range(300)])
    assert all(r.ok for r in replies)
    await until(lambda: mirror.state.seq == bus_room.controller.seq)
    assert seen == sorted(seen) and len(set(seen)) == len(seen)
    assert [n.text for n in mirror.state.notes] == [
        n.text for n in bus_room.controller.state.notes]
    assert mirror.resyncs == 0


async def test_gap_triggers_resync(bus_room):
    mirror = await bus_room.mirror()
    ctl = bus_room.controller
    # An update that skips sequence numbers, as if the mirror had missed some.
    await bus_room.bus.pub.send_multipart(
        Update("room/r1/phase", ctl.seq + 5, ctl.epoch, "survey").encode())
    await until(lambda: mirror.resyncs == 1 and mirror.state.synced)
    assert mirror.state.phase == "idle"  # the controller's state, not the stray update
    assert (await bus_room.client().request("session.start")).ok
    await until(lambda: mirror.state.phase == "consulting")


async def test_mirror_follows_a_restarted_controller(tmp_path, zctx, port):
    from kiosk.app.room import free_port

    router, pub = f"tcp://127.0.0.1:{port}", f"tcp://127.0.0.1:{free_port()}"
    room = await BusRoom(tmp_path / "room.db", zctx, router, pub).start()
    mirrors = [await room.mirror(), await room.mirror()]
    client = room.client()
    await client.request("session.start")
    await client.request("note.add", {"text": "vor dem Neustart", "visible": True})
    await until(lambda: all(len(m.state.notes) == 1 for m in mirrors))
    old_epoch = room.controller.epoch
    await room.stop()
    await room.start()  # same file, same endpoints, a new run of the controller
    assert room.controller.epoch != old_epoch
    assert (await client.request("note.add", {"text": "danach"})).ok
    await until(lambda: all(m.state.seq == room.controller.seq and m.state.synced
                            and len(m.state.notes) == 2 for m in mirrors), timeout=8)
    for m in mirrors:
        assert m.state.to_updates() == room.controller.state.to_updates()
        assert m.state.phase == "consulting"
    await room.close()


async def test_lost_heartbeat_is_noticed(bus_room):
    mirror = await bus_room.mirror()  # default: 5 s of silence
    assert mirror.state.synced
    await bus_room.stop()
    stopped = time.monotonic()
    await until(lambda: not mirror.state.synced, timeout=7)
    assert 4.0 <= time.monotonic() - stopped <= 6.5


async def test_heartbeat_keeps_an_idle_mirror_in_sync(tmp_path, zctx):
    room = await BusRoom(tmp_path / "room.db", zctx, *endpoints("tcp", tmp_path),
                         heartbeat=0.1).start()
    mirror = await room.mirror(silence=0.5)
    await asyncio.sleep(1.5)  # three silence periods with no change, only heartbeats
    assert mirror.state.synced and mirror.resyncs == 0
    await room.close()


async def raw_request(sock, frames: list[bytes], timeout: float = 2.0) -> list[bytes] | None:
    await sock.send_multipart(frames)
    if await sock.poll(timeout * 1000):
        return await sock.recv_multipart()
    return None


BAD_REQUESTS = [
    ([CMD, b"1", b"{not json"], "not valid UTF-8 JSON"),
    ([CMD, b"2", b"\xff\xfe"], "not valid UTF-8 JSON"),
    ([CMD, b"3", b'{"id":"3","name":"ping"'], "not valid UTF-8 JSON"),  # truncated
    ([CMD, b"4", b"[1,2]"], "must be a JSON object"),
    ([CMD, b"5", b'{"id":"5","name":"ping","role":"kiosk","args":[]}'], "'args' must be"),
    ([CMD, b"6", b'{"id":"6","role":"kiosk"}'], "'name' must be"),
    ([CMD, b"7", b'{"id":"7","name":"ping","role":"kiosk","x":1}'], "unknown fields: x"),
    ([CMD, b"8"], "3 frames"),
    ([CMD], "3 frames"),
    ([b"HELLO", b"9", b"{}"], "unknown request"),
    ([CMD, b"10", b"x" * (MAX_BODY_BYTES + 1)], "more than the limit"),
]


@pytest.mark.parametrize(("frames", "reason"), BAD_REQUESTS)
async def test_malformed_requests_are_refused_and_the_bus_goes_on(bus_room, zctx, frames,
                                                                  reason):
    sock = bus_room.dealer()
    before = bus_room.controller.state.to_updates(), bus_room.controller.seq
    answer = await raw_request(sock, frames)
    assert answer is not None and answer[0] == REPLY
    reply = Reply.decode(answer[-1])
    assert not reply.ok and reply.code == "schema" and reason in reply.error
    assert (bus_room.controller.state.to_updates(), bus_room.controller.seq) == before
    assert (await bus_room.client().request("ping")).ok


async def test_oversized_frame_drops_the_sender_not_the_controller(bus_room, zctx):
    sock = bus_room.dealer()
    answer = await raw_request(sock, [CMD, b"big", b"x" * (MAX_FRAME_BYTES + 10)], timeout=1)
    assert answer is None  # libzmq refused the frame and dropped that connection
    mirror = await bus_room.mirror()
    assert (await bus_room.client().request("session.start")).ok
    await until(lambda: mirror.state.phase == "consulting")


@pytest.mark.parametrize("verb", [CMD, b"\x9e\xad\x8d"])
async def test_a_long_request_id_is_refused_and_its_sender_stays_connected(bus_room, verb):
    """A refusal spells the id out in JSON; echoed whole, a 600 KB id became a reply over
    the sender's own frame limit, and libzmq cut that sender off for good."""
    sock = bus_room.dealer()
    long_id = bytes(range(128, 256)) * 5000  # 640 KB, six JSON bytes each
    answer = await raw_request(sock, [verb, long_id, b'{"id":"x","name":"ping",'
                                                     b'"role":"kiosk","args":{}}'])
    assert answer is not None and answer[0] == REPLY and answer[1] == long_id[:MAX_REQ_ID_BYTES]
    reply = Reply.decode(answer[-1])
    assert not reply.ok and "request id is 640000 bytes" in reply.error
    again = await raw_request(sock, [CMD, b"1", b'{"id":"1","name":"ping","role":"kiosk",'
                                                b'"args":{}}'])
    assert again is not None and Reply.decode(again[-1]).ok  # the same socket goes on


async def test_malformed_updates_make_the_mirror_resync_not_crash(bus_room):
    mirror = await bus_room.mirror()
    good_stamp = b"\0" * 8 + bus_room.controller.epoch
    for frames in ([b"room/r1/phase", b"short"], [b"room/r1/phase", b"\0" * 11, b""],
                   [b"room/r1/phase", good_stamp, b"{bad"],
                   [b"room/r1/phase", good_stamp, b"1", b"extra"]):
        resyncs = mirror.resyncs
        await bus_room.bus.pub.send_multipart(frames)
        await until(lambda r=resyncs: mirror.resyncs > r and mirror.state.synced)
    assert (await bus_room.client().request("session.start")).ok
    await until(lambda: mirror.state.phase == "consulting")


async def test_commands_fail_fast_when_the_controller_is_away(tmp_path, zctx, port):
    from kiosk.exceptions import BusError
    from kiosk.room.client import CommandClient

    ring = Keyring(tmp_path / "keys")
    ring.init()
    client = CommandClient(f"tcp://127.0.0.1:{port}", context=zctx, timeout=0.5,
                           keys=ring.client("operator"))
    with pytest.raises(BusError, match="did not answer within 0.5 s"):
        await client.request("session.start")
    # ...and the refused command is not delivered later, when a controller appears.
    room = await BusRoom(tmp_path / "room.db", zctx, f"tcp://127.0.0.1:{port}",
                         "tcp://127.0.0.1:0").start()
    await asyncio.sleep(0.5)
    assert room.controller.state.phase == "idle"
    assert (await client.request("ping")).ok
    await client.close()
    await room.close()


async def test_an_acked_command_is_already_in_the_senders_mirror(bus_room, zctx):
    from kiosk.room.link import RoomLink

    link = RoomLink(bus_room.router, bus_room.pub, context=zctx, keys=bus_room.keys)
    await link.start()
    try:
        for i in range(50):  # read your own writes, every time
            reply = await link.send("counsellor", "session.start" if i == 0 else "note.add",
                                    **({} if i == 0 else {"text": f"n{i}"}))
            assert reply.ok and link.state.seq >= reply.seq
            assert len(link.state.notes) == i
    finally:
        await link.close()


async def test_posting_without_a_controller_fails_at_once(zctx, port, tmp_path):
    from kiosk.exceptions import BusError
    from kiosk.room.client import CommandClient
    from kiosk.room.messages import Command

    ring = Keyring(tmp_path / "keys")
    ring.init()
    client = CommandClient(f"tcp://127.0.0.1:{port}", context=zctx,
                           keys=ring.client("operator"))
    with pytest.raises(BusError, match="is not connected"):
        client.post(Command("ping"))
    await client.close()


async def test_a_cancelled_caller_stays_cancelled_when_its_reply_comes_at_once(bus_room):
    """Python 3.11's wait_for returns the reply and swallows a cancellation that comes in
    the same moment: a cancelled heartbeat loop then ran on, and a room's stop waited for
    it for good. The client's wait keeps the cancellation."""
    client = bus_room.client()
    reply = asyncio.get_running_loop().create_future()
    waiting = asyncio.create_task(client.settle(reply, 5.0))
    await asyncio.sleep(0)  # the task now waits for the reply
    reply.set_result(Reply(id="r", ok=True))
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
