"""Loading operator-supplied ONNX models on ONNX Runtime, with start-up checks of names and shapes.

Shared by the plugins that run ONNX models (gpu-face, gpu-voice); it imports onnxruntime only when a
model is loaded, so the API package itself still needs nothing but numpy.

Backends are ONNX Runtime execution providers, tried in the configured order (default TensorRT,
CUDA, CPU); ONNX Runtime silently skips the ones its build lacks, and so do we, but we log which
one each model got. TensorRT engines are built on first use and cached on disk (the start-up probe
runs every model once, so the build happens at start-up, not on the first player's frame).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

logger = logging.getLogger(__name__)

BATCH = "batch"  # a dimension that may be symbolic (dynamic batch) or fixed at 1
PROVIDER_NAMES = {
    "tensorrt": "TensorrtExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "cpu": "CPUExecutionProvider",
}
DTYPES = {"tensor(float)": np.float32, "tensor(float16)": np.float16, "tensor(int64)": np.int64,
          "tensor(int32)": np.int32}


class ModelError(RuntimeError):
    """A model file is missing or does not have the expected inputs and outputs."""


@dataclass(frozen=True)
class ModelSpec:
    key: str
    file: str
    what: str
    inputs: Mapping[str, tuple]
    outputs: Mapping[str, tuple]
    optional: bool = False
    fp16_ok: bool = True  # TensorRT may build this one in fp16 when fp16 is asked for


def parse_providers(text: str | None) -> list[str]:
    names = [p.strip().lower() for p in (text or "tensorrt,cuda,cpu").split(",") if p.strip()]
    unknown = [n for n in names if n not in PROVIDER_NAMES]
    if unknown:
        raise ModelError(f"unknown execution provider(s) {unknown}: use any of tensorrt, cuda, cpu")
    return names


def _fmt(shape: Sequence) -> str:
    return "[" + ", ".join(str(d) for d in shape) + "]"


def _dims_match(actual: Sequence, expected: Sequence) -> bool:
    if len(actual) != len(expected):
        return False
    for a, e in zip(actual, expected):
        if e == BATCH:
            if isinstance(a, int) and a != 1:
                return False
        elif isinstance(e, str):  # a named dynamic dimension ("frames"): any length
            continue
        elif isinstance(a, int) and a != e:  # symbolic dims (None, "height") are checked by the probe
            return False
    return True


@dataclass
class Model:
    """One ONNX Runtime session and what we know about it."""

    spec: ModelSpec
    path: Path
    session: object
    provider: str
    input_dtypes: dict[str, type] = field(default_factory=dict)
    fixed_batch: bool = False  # exported with batch 1: batches run item by item

    def run(self, feeds: Mapping[str, np.ndarray], outputs: Sequence[str] | None = None) -> list[np.ndarray]:
        names = list(outputs or self.spec.outputs)
        feeds = {k: np.ascontiguousarray(v, dtype=self.input_dtypes[k]) for k, v in feeds.items()}
        batch = next(iter(feeds.values())).shape[0]
        if self.fixed_batch and batch > 1:
            parts = [self.session.run(names, {k: v[i : i + 1] for k, v in feeds.items()}) for i in range(batch)]
            return [np.concatenate([p[j] for p in parts]).astype(np.float32, copy=False) for j in range(len(names))]
        return [o.astype(np.float32, copy=False) for o in self.session.run(names, feeds)]


def load_models(
    specs: Sequence[ModelSpec],
    folder: Path,
    providers: Sequence[str],
    *,
    plugin: str,
    env_var: str,
    fp16: bool = False,
    trt_cache: Path | None = None,
    probe: bool = True,
    threads: int | None = None,
) -> dict[str, Model]:
    """Open every model of `specs` from `folder`; raise ModelError naming the first problem."""
    import onnxruntime as ort

    if not folder.is_dir():
        raise ModelError(f"{plugin}: model folder {folder} does not exist (set {env_var} to the folder "
                         "holding the ONNX files; see the plugin README for the expected files)")
    missing = [s.file for s in specs if not s.optional and not (folder / s.file).is_file()]
    if missing:
        raise ModelError(f"{plugin}: missing model file(s) in {folder}: {', '.join(missing)} "
                         f"(set {env_var}; see the plugin README for the expected files)")
    available = set(ort.get_available_providers())
    wanted = [PROVIDER_NAMES[p] for p in providers]
    usable = [p for p in wanted if p in available]
    if not usable:
        raise ModelError(f"{plugin}: none of the execution providers {wanted} is available in this "
                         f"onnxruntime build (it has {sorted(available)})")
    models: dict[str, Model] = {}
    for spec in specs:
        path = folder / spec.file
        if not path.is_file():
            continue  # optional and absent
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3
        # No busy-waiting of idle CPU threads: the worker's other threads (decode, encode, the
        # other rooms) need those cores; GPU providers do not use the pool for their kernels.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        if threads:
            options.intra_op_num_threads = threads
        provider_list: list = []
        for name in usable:
            if name == "TensorrtExecutionProvider":
                trt = {"trt_fp16_enable": bool(fp16 and spec.fp16_ok), "trt_engine_cache_enable": True,
                       "trt_timing_cache_enable": True}
                if trt_cache is not None:
                    trt_cache.mkdir(parents=True, exist_ok=True)
                    trt["trt_engine_cache_path"] = str(trt_cache)
                    trt["trt_timing_cache_path"] = str(trt_cache)
                provider_list.append((name, trt))
            else:
                provider_list.append(name)
        try:
            session = ort.InferenceSession(str(path), options, providers=provider_list)
        except Exception as e:  # noqa: BLE001 - reported with the file name
            raise ModelError(f"{plugin}: {spec.file} ({spec.what}) could not be loaded: {e}") from e
        model = Model(spec, path, session, session.get_providers()[0])
        _check_signature(model, plugin)
        models[spec.key] = model
        logger.info("%s: %s on %s%s", plugin, spec.file, model.provider,
                    " (batch fixed at 1: items run one by one)" if model.fixed_batch else "")
    if probe:
        for model in models.values():
            _probe(model, plugin)
    return models


def _check_signature(model: Model, plugin: str) -> None:
    spec, session = model.spec, model.session
    where = f"{plugin}: {spec.file} ({spec.what})"
    inputs = {i.name: i for i in session.get_inputs()}
    outputs = {o.name: o for o in session.get_outputs()}
    for kind, declared, wanted in (("input", inputs, spec.inputs), ("output", outputs, spec.outputs)):
        for name, shape in wanted.items():
            if name not in declared:
                raise ModelError(f"{where}: has no {kind} named {name!r} (its {kind}s: {sorted(declared)}); "
                                 f"expected {kind} {name!r} of shape {_fmt(shape)}")
            actual = declared[name].shape
            if not _dims_match(actual, shape):
                raise ModelError(f"{where}: {kind} {name!r} has shape {_fmt(actual)}, expected {_fmt(shape)}")
            if kind == "input":
                dtype = DTYPES.get(declared[name].type)
                if dtype is None:
                    raise ModelError(f"{where}: input {name!r} has type {declared[name].type}; expected float")
                model.input_dtypes[name] = dtype
                if shape and shape[0] == BATCH and actual and actual[0] == 1:
                    model.fixed_batch = True
    extra = sorted(set(inputs) - set(spec.inputs))
    if extra:
        raise ModelError(f"{where}: unexpected input(s) {extra}; expected exactly {sorted(spec.inputs)}")


def _probe(model: Model, plugin: str) -> None:
    """Run once at batch 1: checks the real output shapes and builds TensorRT engines now."""
    spec = model.spec
    feeds = {}
    for name, shape in spec.inputs.items():
        concrete = [1 if d == BATCH else d for d in shape]
        feeds[name] = np.zeros(concrete, np.float32)
    try:
        outs = model.run(feeds)
    except Exception as e:  # noqa: BLE001
        raise ModelError(f"{plugin}: {spec.file} ({spec.what}) fails on an input of the expected shapes: {e}") from e
    for (name, shape), out in zip(spec.outputs.items(), outs):
        expected = [1 if d == BATCH else d for d in shape]
        if list(out.shape) != expected:
            raise ModelError(f"{plugin}: {spec.file} ({spec.what}): output {name!r} has shape "
                             f"{_fmt(out.shape)}, expected {_fmt(expected)}")


def env_path(name: str) -> Path | None:
    value = os.environ.get(name, "").strip()
    return Path(value).expanduser() if value else None


def env_threads(name: str) -> int | None:
    value = os.environ.get(name, "").strip()
    return int(value) if value else None


def env_flag(name: str, default: bool) -> bool:
    value = os.environ.get(name, "").strip().lower()
    return default if not value else value not in ("0", "false", "no", "off")
