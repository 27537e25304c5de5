"""power-dev's protocol v3 as pure functions: lines and files handed over byte by byte, every command
and every way a line can fail to be one, with the reply power-dev's server gives it."""

from __future__ import annotations

import uuid
from datetime import datetime

import pytest

from director.powerdev.protocol import (
    MAGIC_CLIENT,
    MAGIC_SERVER,
    Cleanup,
    CommandError,
    Download,
    FileReceiver,
    LineSplitter,
    LineTooLongError,
    New,
    SessionDone,
    SessionStart,
    SessionStop,
    SetNtp,
    Stop,
    Time,
    encode_file,
    encode_line,
    parse_command,
    session_id,
)

CLIENT_UUID = "1b4e28ba-2fa1-11d2-883f-0016d3cca427"


def test_handshake_lines() -> None:
    assert MAGIC_CLIENT == "mlcommons/power client v3" and MAGIC_SERVER == "mlcommons/power server v3"
    assert encode_line(MAGIC_SERVER) == b"mlcommons/power server v3\r\n"
    with pytest.raises(ValueError, match="line break"):
        encode_line("OK\r\nOK")


def test_lines_arrive_byte_by_byte_with_crlf_or_lf() -> None:
    splitter = LineSplitter()
    stream = b"mlcommons/power client v3\r\ntime\nsession,*,done\r\n"
    lines: list[str] = []
    for i in range(len(stream)):
        lines += splitter.feed(stream[i : i + 1])
    assert lines == ["mlcommons/power client v3", "time", "session,*,done"]
    assert splitter.take_rest() == b""


def test_a_line_without_end_that_grows_too_long_is_refused() -> None:
    splitter = LineSplitter(max_line_bytes=16)
    assert splitter.feed(b"0123456789") == []
    with pytest.raises(LineTooLongError, match="longer than 16 bytes"):
        splitter.feed(b"0123456789")


@pytest.mark.parametrize("size", [0, 1, 5, 6, 13])
def test_files_round_trip_in_chunks_byte_by_byte(size: int) -> None:
    data = bytes(range(size))
    wire = b"".join(encode_file(data, chunk_bytes=5)) + b"OK\r\n"
    assert wire.endswith(b"0\r\nOK\r\n") and wire.count(b"\r\n") == 1 + -(-size // 5) + 1
    receiver = FileReceiver()
    after = b""
    for i in range(len(wire)):
        if receiver.done:
            after += wire[i : i + 1]
        else:
            after += receiver.feed(wire[i : i + 1])
    assert receiver.done and bytes(receiver.data) == data and after == b"OK\r\n"
    whole = FileReceiver()
    assert whole.feed(wire) == b"OK\r\n" and bytes(whole.data) == data  # all at once, the reply left over


def test_a_bad_chunk_length_is_an_error() -> None:
    with pytest.raises(ValueError, match="expected a chunk length"):
        FileReceiver().feed(b"Error\r\n")


@pytest.mark.parametrize(
    ("line", "command"),
    [
        ("time", Time()),
        ("set_ntp", SetNtp()),
        ("stop", Stop()),
        (f"new,resnet-offline_1,{CLIENT_UUID}", New("resnet-offline_1", uuid.UUID(CLIENT_UUID))),
        (f"new,,{CLIENT_UUID}", New("", uuid.UUID(CLIENT_UUID))),
        ("session,2024-01-02_03-04-05_x,start,ranging", SessionStart("2024-01-02_03-04-05_x", "ranging")),
        ("session,*,start,testing", SessionStart("*", "testing")),
        ("session,s,start,testing,277.2,2.5", SessionStart("s", "testing", "277.2", "2.5")),
        ("session,s,stop,ranging", SessionStop("s", "ranging")),
        ("session,s,stop,testing", SessionStop("s", "testing")),
        ("session,s,done", SessionDone("s")),
        ("download,s,power/server.json", Download("s", "power/server.json")),
        ("download,s,run_1/ptd_out.txt", Download("s", "run_1/ptd_out.txt")),
        ("cleanup,s", Cleanup("s")),
    ],
)
def test_every_command(line: str, command: object) -> None:
    assert parse_command(line) == command


@pytest.mark.parametrize(
    ("line", "reply"),
    [
        ("", "Error"),
        ("hello", "Error"),
        ("time,now", "Error"),
        ("new,label", "Error"),
        (f"new,bad label!,{CLIENT_UUID}", "Error: invalid label"),
        ("new,x,not-a-uuid", "Error: exception"),
        ("session,s,start,warmup", "Error Unknown session command"),
        ("session,s,start,ranging,230,1", "Error Unknown session command"),  # ranges only for testing
        ("session,s,pause", "Error Unknown session command"),
        ("session,s", "Error"),
        ("download,s,../../etc/passwd", "Error"),
        ("download,s,power/client.json", "Error"),  # the client keeps its own files
        ("cleanup", "Error"),
    ],
)
def test_what_is_no_command_gets_powerdevs_reply(line: str, reply: str) -> None:
    with pytest.raises(CommandError) as error:
        parse_command(line)
    assert error.value.reply == reply


def test_session_ids_are_local_time_then_label() -> None:
    when = datetime(2025, 7, 28, 7, 18, 36)
    assert session_id("testing-llama", when) == "2025-07-28_07-18-36_testing-llama"
    assert session_id("", when) == "2025-07-28_07-18-36"
