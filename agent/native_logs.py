"""Keep the native WebRTC stack's debug logs out of Python.

livekit's Python SDK asks its native library to forward every log record (capture_logs), and
filters them in Python. libwebrtc writes debug records per packet: about 1,500 a second in a
four-body job, each one an FFI event the job's event loop must take the GIL for, parse, and drop.
That was a sixth of a busy job's Python time, and audio fell behind real time on 2 cores.

With forwarding off, the native library filters at the source with env_logger: errors only by
default, or what `RUST_LOG` says (e.g. `RUST_LOG=warn`, `RUST_LOG=libwebrtc=debug`), written to
the process's stderr, which the worker's log collects.
"""

from __future__ import annotations

from livekit.rtc import __version__
from livekit.rtc._ffi_client import FfiClient, ffi_event_callback


def filter_native_logs_at_source() -> None:
    """Turn off log forwarding in this process's native library (call once per process; again is
    harmless). Re-initialising keeps the event callback and changes only the log capture."""
    ffi = FfiClient.instance
    ffi._ffi_lib.livekit_ffi_initialize(ffi_event_callback, False, b"python", __version__.encode("ascii"))
