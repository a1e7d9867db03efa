"""scripts/bench_agent.py reads the worker's log for problems: JSON lines from Python, and the
native WebRTC library's plain lines (agent/native_logs.py), which carry its errors."""

from __future__ import annotations

from scripts.bench_agent import log_problems, log_records


def test_native_and_json_warnings_and_errors_are_counted(tmp_path):
    log = tmp_path / "agent.log"
    log.write_text(
        "[2026-11-21T16:32:42Z ERROR livekit::rtc_engine::rtc_session] data channel '_lossy' closed\n"
        "[2026-11-21T16:32:43Z ERROR livekit::rtc_engine::rtc_session] data channel '_lossy' closed\n"
        "[2026-11-21T16:32:44Z WARN  libwebrtc] queue overflow\n"
        "[2026-11-21T16:32:45Z INFO  livekit::room] connected\n"
        '{"message": "body stats", "level": "INFO", "name": "bodyswap.agent.body"}\n'
        '{"message": "slow frame", "level": "WARNING", "name": "bodyswap.agent.body"}\n'
    )
    assert log_problems(log_records(log)) == [
        "2 x ERROR livekit::rtc_engine::rtc_session: data channel '_lossy' closed",
        "1 x WARNING libwebrtc: queue overflow",
        "1 x WARNING bodyswap.agent.body: slow frame",
    ]
