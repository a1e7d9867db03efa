"""Voice activity detection with Silero VAD's ONNX model, run by onnxruntime without torch.

The `silero-vad` package ships the model files but depends on torch, so it is installed with
`pip install --no-deps silero-vad` and only its data files are used: nothing of it is imported.
Of them we run the "sequence" export, which computes the same per-frame probabilities as the
streaming model (checked bit-exact on our voices) in one ONNX call per 512 frames instead of
one per frame: ~2 ms per second of audio on one core, with the GIL released.
"""

from __future__ import annotations

import importlib.util
import threading
from pathlib import Path

import numpy as np
import onnxruntime

VAD_SAMPLE_RATE = 16000
FRAME_SAMPLES = 512  # 32 ms: the window the model was trained on at 16 kHz
CONTEXT_SAMPLES = 64  # the tail of the previous frame the model sees before each frame
FRAME_SECONDS = FRAME_SAMPLES / VAD_SAMPLE_RATE
# Silero's defaults: speech starts above 0.5 and lasts until the probability falls below 0.35.
SPEECH_START_PROBABILITY = 0.5
SPEECH_END_PROBABILITY = 0.35
_MODEL_FILE = "silero_vad_16k_sequence.onnx"
_FRAMES_PER_CALL = 512


class SpeechDetector:
    """Silero VAD over whole recordings. Safe to call from several threads at once:
    onnxruntime sessions are, and the recurrent state lives in each call."""

    def __init__(self, model_path: Path) -> None:
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1  # enrollments run side by side in a thread pool
        options.inter_op_num_threads = 1
        options.log_severity_level = 3  # the export carries unused initializers it warns about
        self._session = onnxruntime.InferenceSession(
            str(model_path), sess_options=options, providers=["CPUExecutionProvider"]
        )
        self._audio_input, self._state_inputs = self._read_inputs()
        self._probability_output = self._session.get_outputs()[0].name
        self._state_outputs = [output.name for output in self._session.get_outputs()[1:]]
        if len(self._state_outputs) != len(self._state_inputs):
            raise RuntimeError(f"unexpected outputs in {model_path.name}")

    def _read_inputs(self) -> tuple[str, dict[str, tuple[int, ...]]]:
        """The audio input's name and each recurrent state's name and shape, as the model says."""
        audio_input, states = None, {}
        for model_input in self._session.get_inputs():
            if model_input.shape[-1] == CONTEXT_SAMPLES + FRAME_SAMPLES:
                audio_input = model_input.name
            elif all(isinstance(dim, int) for dim in model_input.shape):
                states[model_input.name] = tuple(model_input.shape)
        if audio_input is None or not states:
            raise RuntimeError(f"{_MODEL_FILE} takes no {FRAME_SAMPLES}-sample frames with state")
        return audio_input, states

    def speech_probabilities(self, pcm: np.ndarray) -> np.ndarray:
        """One probability of speech per 32 ms frame of mono float32 audio at 16 kHz."""
        pcm = np.asarray(pcm, dtype=np.float32).reshape(-1)
        frame_count = -(-pcm.size // FRAME_SAMPLES)
        frames = np.zeros((frame_count, FRAME_SAMPLES), dtype=np.float32)
        frames.reshape(-1)[: pcm.size] = pcm
        contexts = np.zeros((frame_count, CONTEXT_SAMPLES), dtype=np.float32)
        contexts[1:] = frames[:-1, -CONTEXT_SAMPLES:]
        windows = np.concatenate((contexts, frames), axis=1)

        state = {name: np.zeros(shape, np.float32) for name, shape in self._state_inputs.items()}
        probabilities = []
        for start in range(0, frame_count, _FRAMES_PER_CALL):
            outputs = self._session.run(
                [self._probability_output, *self._state_outputs],
                {self._audio_input: windows[start : start + _FRAMES_PER_CALL], **state},
            )
            probabilities.append(outputs[0].reshape(-1))
            state = dict(zip(self._state_inputs, outputs[1:]))
        return np.concatenate(probabilities) if probabilities else np.zeros(0, np.float32)

    def speech_frames(self, pcm: np.ndarray) -> np.ndarray:
        """A boolean per 32 ms frame: inside speech, with Silero's hysteresis."""
        probabilities = self.speech_probabilities(pcm)
        speaking = np.zeros(probabilities.size, dtype=bool)
        inside = False
        for index, probability in enumerate(probabilities):
            if inside:
                inside = probability >= SPEECH_END_PROBABILITY
            else:
                inside = probability >= SPEECH_START_PROBABILITY
            speaking[index] = inside
        return speaking


_detector: SpeechDetector | None = None
_detector_lock = threading.Lock()


def speech_detector() -> SpeechDetector:
    """The process-wide detector, loaded on first use."""
    global _detector
    if _detector is None:
        with _detector_lock:
            if _detector is None:
                _detector = SpeechDetector(_silero_model_path())
    return _detector


def _silero_model_path() -> Path:
    # Found without importing silero_vad, whose __init__ imports torch.
    spec = importlib.util.find_spec("silero_vad")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("silero-vad is not installed (pip install --no-deps silero-vad)")
    return Path(next(iter(spec.submodule_search_locations))) / "data" / _MODEL_FILE
