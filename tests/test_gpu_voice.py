"""The GPU voice plugin (plugins/gpu-voice) on onnxruntime's CPU provider, with tiny generated ONNX
models that have RVC's input and output names and shapes: start-up checks, retrieval, pitch shift,
streaming with SOLA, batching across streams, silence, conformance."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from bodyswap_api import AudioBlock, Enrollment  # noqa: E402
from bodyswap_api.conformance import SILENCE_RMS, check_plugin  # noqa: E402
import bodyswap_gpu_voice as gv  # noqa: E402
from bodyswap_gpu_voice import GpuVoicePlugin, ModelError  # noqa: E402

F, I64 = TensorProto.FLOAT, TensorProto.INT64
RNG = np.random.default_rng(3)


def _init(name, array):
    return numpy_helper.from_array(np.asarray(array), name)


def _save(path: Path, nodes, inputs, outputs, inits) -> None:
    graph = helper.make_graph(nodes, path.stem, inputs, outputs, inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 20)])
    model.ir_version = 10
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


def write_voice_models(folder: Path, *, feature_dim: int = 768, hop: int = 400, skip=()) -> Path:
    """Tiny stand-ins: content encoder (320-sample frames -> 768-d), pitch (F0 from the frame's
    loudness, 0 when quiet), generator (frames -> `hop` samples each, i.e. 40 kHz)."""
    folder.mkdir(parents=True, exist_ok=True)
    b = "batch"
    audio = helper.make_tensor_value_info("audio", F, [b, "samples"])
    _save(folder / "content_encoder.onnx", [
        helper.make_node("Reshape", ["audio", "s"], ["frames"]),
        helper.make_node("MatMul", ["frames", "w"], ["m"]),
        helper.make_node("Tanh", ["m"], ["features"]),
    ], [audio], [helper.make_tensor_value_info("features", F, [b, "frames", feature_dim])],
        [_init("s", np.array([0, -1, 320], np.int64)),
         _init("w", RNG.normal(0, 0.3, (320, feature_dim)).astype(np.float32))])
    _save(folder / "pitch.onnx", [
        helper.make_node("Reshape", ["audio", "s"], ["frames"]),
        helper.make_node("Abs", ["frames"], ["a"]),
        helper.make_node("ReduceMean", ["a", "axis"], ["m"], keepdims=0),
        helper.make_node("Sub", ["m", "floor"], ["d"]),
        helper.make_node("Relu", ["d"], ["r"]),
        helper.make_node("Mul", ["r", "k"], ["v"]),
        helper.make_node("Min", ["v", "cap"], ["f0"]),
    ], [audio], [helper.make_tensor_value_info("f0", F, [b, "frames"])],
        [_init("s", np.array([0, -1, 160], np.int64)), _init("axis", np.array([2], np.int64)),
         _init("floor", np.array(0.002, np.float32)), _init("k", np.array(20000.0, np.float32)),
         _init("cap", np.array(300.0, np.float32))])
    # generator: tanh(phone @ W) per frame -> hop samples, plus every other input touched lightly
    _save(folder / "generator.onnx", [
        helper.make_node("MatMul", ["phone", "w"], ["m"]),
        helper.make_node("Tanh", ["m"], ["t"]),
        helper.make_node("Mul", ["t", "amp"], ["voice"]),
        helper.make_node("Unsqueeze", ["pitchf", "axis2"], ["pf"]),
        helper.make_node("Mul", ["pf", "tiny"], ["pf0"]),
        helper.make_node("ReduceMean", ["rnd", "axis1"], ["noise"], keepdims=0),
        helper.make_node("Unsqueeze", ["noise", "axis2"], ["n3"]),
        helper.make_node("Mul", ["n3", "tiny"], ["n0"]),
        helper.make_node("Cast", ["pitch"], ["pc"], to=F),
        helper.make_node("Unsqueeze", ["pc", "axis2"], ["pc3"]),
        helper.make_node("Mul", ["pc3", "zero"], ["pc0"]),
        helper.make_node("Add", ["voice", "pf0"], ["a1"]),
        helper.make_node("Add", ["a1", "n0"], ["a2"]),
        helper.make_node("Add", ["a2", "pc0"], ["a3"]),
        helper.make_node("Cast", ["phone_lengths"], ["pl"], to=F),
        helper.make_node("Cast", ["ds"], ["dsf"], to=F),
        helper.make_node("Add", ["pl", "dsf"], ["ld"]),
        helper.make_node("Mul", ["ld", "zero"], ["ld0"]),
        helper.make_node("Reshape", ["ld0", "s3"], ["ld3"]),
        helper.make_node("Add", ["a3", "ld3"], ["a4"]),
        helper.make_node("Reshape", ["a4", "s_out"], ["audio"]),
    ], [helper.make_tensor_value_info("phone", F, [b, "frames", 768]),
        helper.make_tensor_value_info("phone_lengths", I64, [b]),
        helper.make_tensor_value_info("pitch", I64, [b, "frames"]),
        helper.make_tensor_value_info("pitchf", F, [b, "frames"]),
        helper.make_tensor_value_info("ds", I64, [b]),
        helper.make_tensor_value_info("rnd", F, [b, 192, "frames"])],
        [helper.make_tensor_value_info("audio", F, [b, 1, "samples"])],
        [_init("w", RNG.normal(0, 0.05, (768, hop)).astype(np.float32)), _init("amp", np.array(0.3, np.float32)),
         _init("tiny", np.array(1e-4, np.float32)), _init("zero", np.array(0.0, np.float32)),
         _init("axis1", np.array([1], np.int64)), _init("axis2", np.array([2], np.int64)),
         _init("s3", np.array([-1, 1, 1], np.int64)), _init("s_out", np.array([0, 1, -1], np.int64))])
    for name in skip:
        (folder / name).unlink()
    return folder


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> Path:
    return write_voice_models(tmp_path_factory.mktemp("gpu-voice-models"))


@pytest.fixture(scope="module")
def plugin(models) -> GpuVoicePlugin:
    return GpuVoicePlugin(models, providers="cpu")


def voice(seconds: float, f0: float, seed: int = 0) -> np.ndarray:
    """A buzzy vowel-like signal with syllables (float32 at 16 kHz)."""
    t = np.arange(int(seconds * 16000)) / 16000
    rng = np.random.default_rng(seed)
    phase = 2 * np.pi * np.cumsum(f0 * (1 + 0.05 * np.sin(2 * np.pi * 2 * t))) / 16000
    x = sum(np.sin(k * phase) / k for k in range(1, 6)) * (0.5 + 0.5 * np.sin(2 * np.pi * 4 * t) ** 2)
    return (0.2 * x + 0.002 * rng.standard_normal(len(t))).astype(np.float32)


def blocks(pcm: np.ndarray):
    ints = np.clip(pcm * 32768, -32768, 32767).astype(np.int16)
    for i in range(0, len(ints) - gv.BLOCK + 1, gv.BLOCK):
        yield AudioBlock(ints[i : i + gv.BLOCK], gv.RATE)


def stream(session, pcm: np.ndarray) -> np.ndarray:
    return np.concatenate([session.convert_audio(b).samples for b in blocks(pcm)])


@pytest.fixture(scope="module")
def target(plugin) -> bytes:
    return plugin.prepare(Enrollment(voice_pcm=voice(3.0, 220.0), voice_sample_rate=16000))


# -- start-up checks -------------------------------------------------------------------------------

def test_missing_file_is_named(tmp_path):
    with pytest.raises(ModelError, match=r"missing model file\(s\).*generator\.onnx"):
        GpuVoicePlugin(write_voice_models(tmp_path / "m", skip=("generator.onnx",)), providers="cpu")


def test_wrong_feature_size_is_named(tmp_path):
    with pytest.raises(ModelError, match=r"content_encoder\.onnx.*'features' has shape \[batch, frames, 256\], "
                                         r"expected \[batch, frames, 768\]"):
        GpuVoicePlugin(write_voice_models(tmp_path / "m", feature_dim=256), providers="cpu")


def test_generator_rate_is_found_or_refused(tmp_path, plugin):
    assert plugin.generator_rate == 40000
    with pytest.raises(ModelError, match="generator.onnx gives 3000 samples for 100 frames"):
        GpuVoicePlugin(write_voice_models(tmp_path / "m", hop=30), providers="cpu")


def test_no_folder_configured(monkeypatch):
    monkeypatch.delenv("BODYSWAP_GPU_VOICE_MODELS", raising=False)
    with pytest.raises(ModelError, match="BODYSWAP_GPU_VOICE_MODELS"):
        GpuVoicePlugin(providers="cpu")


# -- pieces ----------------------------------------------------------------------------------------

def test_coarse_pitch_bins():
    bins = gv.coarse_pitch(np.array([0.0, 50.0, 1100.0, 5000.0, 220.0]))
    assert bins.tolist()[:4] == [1, 1, 255, 255] and 1 < bins[4] < 255


def test_resample_keeps_a_tone():
    t = np.arange(4000) / 40000
    y = gv.resample(np.sin(2 * np.pi * 1000 * t)[None], 1600)[0]
    ref = np.sin(2 * np.pi * 1000 * np.arange(1600) / 16000)
    assert np.abs(y[200:-200] - ref[200:-200]).max() < 0.01


def test_prepare_keeps_the_targets_frames_and_pitch(plugin, target):
    profile = gv._Profile(target)
    assert profile.index is not None and profile.index.shape[1] == 768 and 50 < len(profile.index) <= gv.MAX_INDEX
    assert profile.log_f0 is not None and np.isfinite(profile.log_f0)
    empty = gv._Profile(plugin.prepare(Enrollment()))
    assert empty.index is None and empty.log_f0 is None


def test_retrieval_pulls_features_to_the_target(plugin, target):
    profile = gv._Profile(target)
    feats = np.random.default_rng(0).normal(0, 0.3, (27, 768)).astype(np.float32)
    moved = plugin._retrieve(feats, profile)
    d_before = np.min(((feats[:, None] - profile.index[None]) ** 2).sum(-1), 1).mean()
    d_after = np.min(((moved[:, None] - profile.index[None]) ** 2).sum(-1), 1).mean()
    assert d_after < d_before


def test_pitch_shift_follows_the_two_voices(plugin, target):
    low = plugin.prepare(Enrollment(voice_pcm=voice(2.0, 110.0, seed=1), voice_sample_rate=16000))
    session = plugin.session(low, target)
    assert session.f0_shift == pytest.approx(np.exp(gv._Profile(target).log_f0 - gv._Profile(low).log_f0))
    assert plugin.session(None, target).f0_shift == 1.0  # not enrolled: learned while they speak


# -- streaming -------------------------------------------------------------------------------------

def test_stream_has_the_declared_latency_and_continuity(plugin, target):
    session = plugin.session(None, target)
    speech = np.concatenate([np.zeros(1600, np.float32), voice(1.2, 150.0)])
    out = stream(session, speech).astype(np.float32) / 32768
    latency = gv.LATENCY
    assert plugin.audio_latency_ms == 120 and latency == 1920
    onset = int(np.argmax(np.abs(out) > 0.01))
    assert 1600 + latency - gv.CHUNK <= onset <= 1600 + latency + gv.SEARCH  # within one chunk of the latency
    body = out[onset + gv.CHUNK :]
    assert np.sqrt(np.mean(body**2)) > 0.01
    # SOLA crossfade: no step at chunk joins larger than the signal's own sample-to-sample motion
    steps = np.abs(np.diff(body))
    assert steps.max() < 8 * np.percentile(steps, 99) + 1e-3


def test_odd_block_lengths_stream_too(plugin, target):
    session = plugin.session(None, target)
    pcm = np.clip(voice(0.6, 200.0) * 32768, -32768, 32767).astype(np.int16)
    sizes = [160, 480, 320, 1000, 77]
    i, total = 0, 0
    while i < len(pcm):
        n = sizes[total % len(sizes)]
        out = session.convert_audio(AudioBlock(pcm[i : i + n], 16000))
        assert len(out.samples) == len(pcm[i : i + n])
        i += n
        total += 1


def test_silence_stays_silence_and_skips_the_models(plugin, target):
    session = plugin.session(None, target)
    before = len(plugin._batch.sizes)
    out = stream(session, np.zeros(16000, np.float32))
    assert not out.any()
    assert len(plugin._batch.sizes) == before  # no model call for silence


def test_streams_of_several_sessions_share_model_calls(plugin, target):
    sessions = [plugin.session(None, target) for _ in range(4)]
    outs: dict[int, np.ndarray] = {}
    gate = threading.Barrier(4)
    pcm = voice(0.5, 180.0)

    def run(k):
        gate.wait()
        outs[k] = stream(sessions[k], pcm)

    before = len(plugin._batch.sizes)
    threads = [threading.Thread(target=run, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sorted(outs) == [0, 1, 2, 3] and all(len(o) == len(pcm) // gv.BLOCK * gv.BLOCK for o in outs.values())
    sizes = plugin._batch.sizes[before:]
    assert sum(sizes) == 4 * (len(pcm) // gv.CHUNK)  # every chunk of every stream converted once


def test_batched_inference_matches_single(plugin, target):
    a, b = plugin.session(None, target), plugin.session(None, target)
    window = voice(gv.WINDOW / 16000, 170.0)
    a._rng, b._rng = np.random.default_rng(5), np.random.default_rng(5)
    single = plugin._infer_batch([(a, window)])[0]
    a._rng = np.random.default_rng(5)
    pair = plugin._infer_batch([(a, window), (b, window)])
    np.testing.assert_allclose(pair[0], single, atol=1e-4)
    np.testing.assert_allclose(pair[1], single, atol=1e-4)


def test_conformance(plugin):
    report = check_plugin(plugin, Enrollment(voice_pcm=voice(2.0, 200.0), voice_sample_rate=16000),
                          audio_seconds=2.0)
    assert report.passed, report.table()
    assert SILENCE_RMS > 0


def test_conformance_unenrolled(plugin):
    assert check_plugin(plugin, audio_seconds=1.0).passed


def test_a_failed_chunk_costs_silence_not_timing(plugin, target, monkeypatch):
    session = plugin.session(None, target)
    pcm = voice(0.4, 160.0)
    calls = {"n": 0}
    real = plugin._infer

    def flaky(s, window):
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("device lost")
        return real(s, window)

    monkeypatch.setattr(plugin, "_infer", flaky)
    lengths, errors = [], 0
    for b in blocks(pcm):
        try:
            lengths.append(len(session.convert_audio(b).samples))
        except RuntimeError:
            errors += 1
    assert errors == 1 and set(lengths) == {gv.BLOCK}
    assert len(session.convert_audio(AudioBlock(np.zeros(gv.BLOCK, np.int16), 16000)).samples) == gv.BLOCK
