"""Speed of the cpu-voice plugin on one core: real-time factor in streaming mode, per-block cost, and
its algorithmic latency. Writes its table into docs/benchmarks.md (voice-speed markers).

    .venv/bin/python scripts/bench_voice.py            # 4 held-out utterances of each of the 6 readers
    .venv/bin/python scripts/bench_voice.py --quick    # one utterance per reader

The process pins itself to one core (os.sched_setaffinity) with single-threaded BLAS and ONNX
Runtime, then streams each utterance block by block through a session, as the worker does (the
driver's profile as source, the next reader's as target). Per block it takes both the thread's CPU
time (what the conversion costs, whatever else runs on the machine) and wall time (which includes
waiting for the core when the machine is shared). RTF = time / audio duration; 1 / RTF is how
many live voices one core can carry.

Latency: the declared `audio_latency_ms` (the analysis look-ahead), checked by measurement: the lag
that best aligns the loudness envelopes of input and output over all converted speech.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ[_var] = "1"  # before numpy is imported

import argparse  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

import numpy as np  # noqa: E402
from bodyswap_api import AudioBlock, Enrollment, load_plugin  # noqa: E402

from scripts.benchmarks import DOC_PATH, load_average, machine, write_section  # noqa: E402
from tests.support.media import load_voice, media_players, utterances  # noqa: E402

SECTION = "voice-speed"


def envelope(x: np.ndarray, frame: int) -> np.ndarray:
    x = x[: len(x) // frame * frame].astype(np.float64)
    return np.log(np.mean(x.reshape(-1, frame) ** 2, axis=1) + 1.0)


def measured_lag_ms(pairs: list[tuple[np.ndarray, np.ndarray]], rate: int) -> float:
    frame = rate // 1000  # 1 ms resolution
    scores = np.zeros(121)
    for original, converted in pairs:
        a, b = envelope(original, frame), envelope(converted, frame)
        for lag in range(len(scores)):
            scores[lag] += np.corrcoef(a[: len(a) - lag], b[lag:])[0, 1]
    return float(np.argmax(scores))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plugin", default="cpu-voice")
    parser.add_argument("--quick", action="store_true", help="one utterance per reader")
    parser.add_argument("--core", type=int, default=None, help="the core to pin to (default: the last usable)")
    parser.add_argument("--no-doc", action="store_true")
    args = parser.parse_args(argv)

    core = args.core if args.core is not None else max(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {core})
    load_start = load_average()
    plugin = load_plugin(args.plugin)
    rate = plugin.audio_sample_rate
    block = rate * plugin.audio_block_ms // 1000

    readers = media_players()
    profiles, prepare_s = [], []
    for player in readers:
        pcm = load_voice(utterances(player)[: player.enroll_utterances], rate).astype(np.float32) / 32768.0
        start = time.thread_time()
        profiles.append(plugin.prepare(Enrollment(voice_pcm=pcm, voice_sample_rate=rate)))
        prepare_s.append((time.thread_time() - start, len(pcm) / rate))

    cpu_ms, wall_ms, speech_cpu_ms, audio_s, aligned = [], [], [], 0.0, []
    for i, player in enumerate(readers):
        target = profiles[(i + 1) % len(readers)]
        held_out = utterances(player)[player.enroll_utterances :][: 1 if args.quick else 4]
        for path in held_out:
            pcm = load_voice([path], rate)
            pcm = np.concatenate([pcm, np.zeros(-len(pcm) % block, np.int16)])
            session = plugin.session(profiles[i], target)
            out = []
            for offset in range(0, len(pcm), block):
                samples = pcm[offset : offset + block]
                c0, w0 = time.thread_time(), time.perf_counter()
                out.append(session.convert_audio(AudioBlock(samples, rate)).samples)
                cpu_ms.append((time.thread_time() - c0) * 1000)
                wall_ms.append((time.perf_counter() - w0) * 1000)
                if np.abs(samples).max() > 300:
                    speech_cpu_ms.append(cpu_ms[-1])
            session.close()
            audio_s += len(pcm) / rate
            aligned.append((pcm, np.concatenate(out)))

    block_s = block / rate
    cpu, wall = np.array(cpu_ms), np.array(wall_ms)
    rtf_cpu, rtf_wall = cpu.sum() / 1000 / audio_s, wall.sum() / 1000 / audio_s
    lag = measured_lag_ms(aligned, rate)
    info = machine()
    rows = [
        "| measure | value |",
        "|---|---|",
        f"| audio streamed | {audio_s:.1f} s in {len(cpu)} blocks of {plugin.audio_block_ms} ms at {rate} Hz |",
        f"| **RTF, CPU time of the converting thread** | **{rtf_cpu:.3f}** (one core carries {1 / rtf_cpu:.1f} voices) |",
        f"| RTF, wall time | {rtf_wall:.3f} |",
        f"| CPU ms per block p50 / p95 / max | {np.percentile(cpu, 50):.2f} / {np.percentile(cpu, 95):.2f} / {cpu.max():.2f} (budget {1000 * block_s:.0f}) |",
        f"| CPU ms per block while speaking, p50 / p95 | {np.percentile(speech_cpu_ms, 50):.2f} / {np.percentile(speech_cpu_ms, 95):.2f} |",
        f"| wall ms per block p50 / p95 / max | {np.percentile(wall, 50):.2f} / {np.percentile(wall, 95):.2f} / {wall.max():.2f} |",
        f"| prepare (enrollment analysis), CPU s per minute of enrollment | {np.mean([c / (d / 60) for c, d in prepare_s]):.2f} |",
        f"| **algorithmic latency (declared audio_latency_ms)** | **{plugin.audio_latency_ms} ms** look-ahead + the {plugin.audio_block_ms} ms block the worker cuts = {plugin.audio_latency_ms + plugin.audio_block_ms} ms |",
        f"| measured lag of output loudness behind input | {lag:.0f} ms |",
    ]
    table = "\n".join(rows)
    print(table)
    command = "scripts/bench_voice.py" + ("".join(" " + a for a in (argv if argv is not None else sys.argv[1:])))
    section = (
        "## Voice swap speed (cpu-voice)\n\n"
        "Written by `scripts/bench_voice.py`: one process pinned to one core, single-threaded BLAS and ONNX "
        "Runtime, every held-out utterance of the six readers streamed block by block through a session "
        "(driver's profile as source, another reader's as target). CPU time is the converting thread's own "
        "(it does not grow when other work shares the core); wall time does, so on a shared machine read "
        "the CPU figure. Silent blocks cost next to nothing (no analysis), so the RTF of continuous speech "
        "is the 'while speaking' per-block cost over the block length.\n\n"
        f"Machine: {info['cpu']}, pinned to core {core} of {os.cpu_count()}, Python {info['python']}; "
        f"{info['date']}; load average at start {load_start}, at end {load_average()}.\n\n"
        + (
            "The load average exceeded the machine's cores during this run: the wall-time figures measure "
            "waiting for a core, and even the CPU-time figures are inflated by cache and memory contention; "
            "re-run on a quiet machine for clean numbers.\n\n"
            if max(os.getloadavg()[0], float(load_start.split()[0])) > (os.cpu_count() or 1)
            else ""
        )
        + f"Command (from the repository root): `.venv/bin/python {command}`\n\n"
        + table
        + "\n"
    )
    if not args.no_doc:
        write_section(SECTION, section)
        print(f"wrote {DOC_PATH.relative_to(REPO_ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
