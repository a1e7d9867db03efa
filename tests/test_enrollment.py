"""Enrollment validation on real faces and voices from ../shared/media, with the real models.

Inputs are made in memory from the shared clips and readers; nothing is written to the repo.
"""

from __future__ import annotations

import io
import re
import struct
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import av
import numpy as np
import onnxruntime
import pytest
from PIL import Image

from room_service.enrollment import (
    EnrollmentError,
    ValidatedEnrollment,
    check_same_person,
    decode_photo,
    validate_enrollment,
)
from room_service.enrollment.faces import MIN_FACE_PX, face_models, find_enrollment_face
from room_service.enrollment.photo import sniff_photo_format
from room_service.enrollment.vad import (
    CONTEXT_SAMPLES,
    FRAME_SAMPLES,
    _silero_model_path,
    speech_detector,
)
from room_service.enrollment.voice import sniff_voice_format, validate_voice
from tests.support.media import MEDIA_DIR, i420_to_rgb, load_clip, load_voice, media_players, utterances

VOICE_RATE = 48000  # what a browser records at
PHOTO_CLIP = MEDIA_DIR / "video" / "d3.mp4"  # player p1's face
OTHER_CLIP = MEDIA_DIR / "video" / "d10.mp4"  # player p4's face: another person


# --- media, decoded once per module ----------------------------------------------------------


def clip_frame(path: Path, seconds: float) -> np.ndarray:
    """The RGB frame at `seconds` into a clip."""
    clip = load_clip(path, seconds + 0.1)
    return i420_to_rgb(clip.frames[int(seconds * clip.fps)], clip.width, clip.height)


def encode_image(rgb: np.ndarray, image_format: str, **options) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, image_format, **options)
    return buffer.getvalue()


def encode_voice(pcm: np.ndarray, container: str, codec: str) -> bytes:
    """Mono int16 PCM at VOICE_RATE, encoded as a browser would upload it."""
    buffer = io.BytesIO()
    with av.open(buffer, "w", format=container) as output:
        stream = output.add_stream(codec, rate=VOICE_RATE, layout="mono")
        frame = av.AudioFrame.from_ndarray(pcm.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = VOICE_RATE
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            output.mux(packet)
    return buffer.getvalue()


def wav(pcm: np.ndarray) -> bytes:
    return encode_voice(pcm, "wav", "pcm_s16le")


def png_claiming(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims `width` x `height` pixels: a decompression bomb's shape."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        checksum = struct.pack(">I", zlib.crc32(kind + data))
        return struct.pack(">I", len(data)) + kind + data + checksum

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\0" * 1024))
        + chunk(b"IEND", b"")
    )


@pytest.fixture(scope="module")
def face_rgb() -> np.ndarray:
    """The enrollment photo of p1: a frame from the first second of their clip."""
    return clip_frame(PHOTO_CLIP, 0.5)


@pytest.fixture(scope="module")
def face_jpeg(face_rgb: np.ndarray) -> bytes:
    return encode_image(face_rgb, "JPEG", quality=90)


@pytest.fixture(scope="module")
def photo_embedding(face_rgb: np.ndarray) -> np.ndarray:
    return face_models().embed(face_rgb, find_enrollment_face(face_rgb))


@pytest.fixture(scope="module")
def reader_pcm() -> np.ndarray:
    """p1's enrollment recording: their reader's first six utterances (52 s, int16)."""
    player = media_players()[0]
    return load_voice(utterances(player)[: player.enroll_utterances], VOICE_RATE)


def seconds(pcm: np.ndarray, start: float, stop: float) -> np.ndarray:
    return pcm[int(start * VOICE_RATE) : int(stop * VOICE_RATE)]


def refused(code: str, call, *args) -> EnrollmentError:
    with pytest.raises(EnrollmentError) as caught:
        call(*args)
    assert caught.value.code == code, caught.value.message
    return caught.value


# --- photo -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("image_format", "options"),
    [("JPEG", {"quality": 90}), ("PNG", {}), ("WEBP", {"quality": 90})],
)
def test_a_real_face_photo_passes_in_every_format(face_rgb, image_format, options):
    data = encode_image(face_rgb, image_format, **options)
    assert sniff_photo_format(data) == image_format

    photo = decode_photo(data)

    assert photo.shape == face_rgb.shape and photo.dtype == np.uint8
    face = find_enrollment_face(photo)
    print(f"{image_format}: face box {face.width}x{face.height} px in {photo.shape[:2]}")
    assert face.side >= MIN_FACE_PX


@pytest.mark.parametrize("name", sorted(path.name for path in (MEDIA_DIR / "photos").glob("*.jpg")))
def test_every_shared_portrait_passes(name):
    """d8.jpg is a frontal face that HOG misses: the CNN detector behind it finds it."""
    photo = decode_photo((MEDIA_DIR / "photos" / name).read_bytes())
    face = find_enrollment_face(photo)
    print(f"{name}: face box {face.width}x{face.height} px in {photo.shape[:2]}")


def test_a_png_with_transparency_becomes_rgb(face_rgb):
    rgba = np.dstack([face_rgb, np.full(face_rgb.shape[:2], 255, np.uint8)])
    assert decode_photo(encode_image(rgba, "PNG")).shape == face_rgb.shape


def test_exif_orientation_is_applied():
    left_white = np.zeros((20, 40, 3), np.uint8)
    left_white[:, :20] = 255
    image = Image.fromarray(left_white)
    exif = image.getexif()
    exif[0x0112] = 6  # the camera was turned: rotate 90 degrees clockwise to show it upright
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", exif=exif.tobytes())

    upright = decode_photo(buffer.getvalue())

    assert upright.shape == (40, 20, 3)
    assert upright[5, 10].min() > 200 and upright[35, 10].max() < 50  # the white half is on top


def not_images(face_rgb: np.ndarray, face_jpeg: bytes) -> dict[str, bytes]:
    return {
        "gif": encode_image(face_rgb, "GIF"),
        "bmp": encode_image(face_rgb, "BMP"),
        "random bytes": np.random.default_rng(1).bytes(50_000),
        "truncated jpeg": face_jpeg[: len(face_jpeg) // 2],
        "png in name only": b"\x89PNG\r\n\x1a\n" + face_jpeg,  # PNG magic, JPEG inside
        "webp in name only": b"RIFF\x00\x00\x00\x00WEBP" + face_jpeg[:1000],
        "html": b"<html><body><img src=x></body></html>",
        "empty": b"",
    }


@pytest.mark.parametrize(
    "kind",
    [
        "gif",
        "bmp",
        "random bytes",
        "truncated jpeg",
        "png in name only",
        "webp in name only",
        "html",
        "empty",
    ],
)
def test_anything_but_a_whole_jpeg_png_or_webp_is_refused(face_rgb, face_jpeg, kind):
    error = refused("unsupported_photo", decode_photo, not_images(face_rgb, face_jpeg)[kind])
    assert error.message.endswith(".")


@pytest.mark.parametrize(("width", "height"), [(30000, 30000), (8000, 6000)])
def test_a_decompression_bomb_is_refused_from_its_header(width, height):
    bomb = png_claiming(width, height)
    assert len(bomb) < 200  # refused for what it claims: its pixels are never decoded

    error = refused("photo_too_large", decode_photo, bomb)
    print(error.message)


# --- faces -----------------------------------------------------------------------------------


def test_two_faces_side_by_side_are_refused(face_rgb):
    other = clip_frame(OTHER_CLIP, 0.5)
    side_by_side = np.concatenate([face_rgb, other[: face_rgb.shape[0]]], axis=1)

    error = refused("several_faces", find_enrollment_face, side_by_side)
    assert "2 faces" in error.message


def test_a_photo_without_a_face_is_refused():
    refused("no_face", find_enrollment_face, np.full((480, 640, 3), 200, np.uint8))


def test_a_face_far_from_the_camera_is_too_small(face_rgb):
    canvas = np.full((1600, 1600, 3), 255, np.uint8)
    canvas[700:860, 700:860] = np.asarray(Image.fromarray(face_rgb).resize((160, 160)))

    refused("face_too_small", find_enrollment_face, canvas)


def test_a_face_cut_off_by_the_edge_is_refused(face_rgb):
    face = find_enrollment_face(face_rgb)
    without_chin = face_rgb[: face.bottom - face.height // 4]

    refused("face_cut_off", find_enrollment_face, without_chin)


def test_faces_are_checked_alike_from_a_thread_pool(face_rgb, photo_embedding):
    def embed_photo_face(_: int) -> np.ndarray:
        return face_models().embed(face_rgb, find_enrollment_face(face_rgb))

    with ThreadPoolExecutor(max_workers=4) as pool:
        embeddings = list(pool.map(embed_photo_face, range(4)))

    for embedding in embeddings:
        np.testing.assert_allclose(embedding, photo_embedding, atol=1e-5)


# --- consent ---------------------------------------------------------------------------------


def test_the_same_person_later_on_camera_is_accepted(photo_embedding):
    live = clip_frame(PHOTO_CLIP, 10.0)

    distance = check_same_person(photo_embedding, live)

    print(f"same person, photo at 0.5 s vs camera at 10 s: distance {distance:.3f}")
    assert distance < 0.6


def test_another_person_on_camera_is_not_you(photo_embedding):
    error = refused("not_you", check_same_person, photo_embedding, clip_frame(OTHER_CLIP, 5.0))
    assert "Take the photo yourself" in error.message


def test_a_camera_without_a_face_is_not_you(photo_embedding):
    blank = np.zeros((480, 640, 3), np.uint8)
    error = refused("not_you", check_same_person, photo_embedding, blank)
    assert "can't see your face" in error.message


# --- voice -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("container", "codec", "sniffed"),
    [("wav", "pcm_s16le", "wav"), ("ogg", "libopus", "ogg"), ("webm", "libopus", "webm")],
)
def test_a_minute_of_reading_is_accepted_in_every_format(reader_pcm, container, codec, sniffed):
    data = encode_voice(reader_pcm, container, codec)
    assert sniff_voice_format(data) == sniffed

    voice = validate_voice(data)

    print(f"{container}/{codec}: {voice.duration_s:.1f} s, {voice.speech_seconds:.1f} s of speech, "
          f"{voice.level_dbfs:.1f} dBFS")
    assert voice.pcm.dtype == np.float32 and voice.pcm.ndim == 1
    assert voice.duration_s == pytest.approx(reader_pcm.size / VOICE_RATE, abs=0.1)
    assert 0.7 * voice.duration_s < voice.speech_seconds < voice.duration_s
    assert -30 < voice.level_dbfs < -15


def test_20_seconds_is_too_short(reader_pcm):
    error = refused("too_short", validate_voice, wav(seconds(reader_pcm, 0, 20)))
    assert "20 s" in error.message


def test_160_seconds_is_too_long():
    readers = media_players()
    pcm = load_voice(utterances(readers[0]) + utterances(readers[1]), VOICE_RATE)
    refused("too_long", validate_voice, wav(pcm[: 160 * VOICE_RATE]))


def test_speech_45_db_down_is_too_quiet(reader_pcm):
    quiet = np.round(reader_pcm * 10 ** (-45 / 20)).astype(np.int16)
    refused("too_quiet", validate_voice, encode_voice(quiet, "ogg", "libopus"))


def test_silence_is_too_quiet():
    refused("too_quiet", validate_voice, wav(np.zeros(40 * VOICE_RATE, np.int16)))


def test_clipped_speech_is_too_loud(reader_pcm):
    clipped = np.clip(reader_pcm * 10.0, -32768, 32767).astype(np.int16)  # +20 dB
    refused("too_loud", validate_voice, wav(clipped))


def test_12_seconds_of_speech_in_42_is_not_enough(reader_pcm):
    noise = np.random.default_rng(2).normal(0, 32768 * 10 ** (-60 / 20), 30 * VOICE_RATE)
    padded = np.concatenate([seconds(reader_pcm, 0, 12), noise.astype(np.int16)])

    error = refused("not_enough_speech", validate_voice, wav(padded))

    print(error.message)
    heard = int(re.search(r"only (\d+) s of speech", error.message).group(1))
    assert 8 <= heard <= 12


@pytest.mark.parametrize(
    "data",
    [
        b"",
        np.random.default_rng(3).bytes(100_000),
        b"OggS" + np.random.default_rng(4).bytes(100_000),
        b"\x1a\x45\xdf\xa3" + np.random.default_rng(5).bytes(100_000),
        b"RIFF\x24\x00\x00\x00WAVE",
        (MEDIA_DIR / "voice" / "1998").glob("*.flac").__next__().read_bytes(),
    ],
    ids=["empty", "random", "ogg then garbage", "ebml then garbage", "wav header only", "flac"],
)
def test_anything_but_wav_webm_or_ogg_audio_is_refused(data):
    refused("unsupported_audio", validate_voice, data)


def test_the_sequence_vad_matches_silero_streaming_model(reader_pcm):
    """The batched export we run gives the probabilities of Silero's frame-by-frame model."""
    pcm = seconds(reader_pcm, 0, 10)[::3].astype(np.float32) / 32768  # 48 kHz -> 16 kHz, roughly
    streaming = onnxruntime.InferenceSession(
        str(_silero_model_path().with_name("silero_vad.onnx")),
        providers=["CPUExecutionProvider"],
    )
    state = np.zeros((2, 1, 128), np.float32)
    context = np.zeros(CONTEXT_SAMPLES, np.float32)
    expected = []
    for start in range(0, pcm.size - FRAME_SAMPLES + 1, FRAME_SAMPLES):
        window = np.concatenate([context, pcm[start : start + FRAME_SAMPLES]])[None]
        inputs = {"input": window, "state": state, "sr": np.array(16000)}
        probability, state = streaming.run(None, inputs)
        expected.append(probability[0, 0])
        context = window[0, -CONTEXT_SAMPLES:]

    actual = speech_detector().speech_probabilities(pcm)

    np.testing.assert_allclose(actual[: len(expected)], expected, atol=1e-4)
    assert np.mean(np.array(expected) > 0.5) > 0.5  # it is speech, so the check means something


# --- the whole enrollment --------------------------------------------------------------------


def test_a_whole_enrollment_is_validated(face_jpeg, reader_pcm):
    live = clip_frame(PHOTO_CLIP, 10.0)

    validated = validate_enrollment(face_jpeg, encode_voice(reader_pcm, "webm", "libopus"), live)

    assert isinstance(validated, ValidatedEnrollment)
    enrollment = validated.enrollment
    assert enrollment.photo_rgb.shape == (512, 512, 3) and enrollment.photo_rgb.dtype == np.uint8
    assert enrollment.voice_pcm.dtype == np.float32 and enrollment.voice_sample_rate == 16000
    assert validated.face_embedding.shape == (128,)
    assert validated.face_box.side >= MIN_FACE_PX
    assert validated.speech_seconds > 30 and validated.consent_distance < 0.6
    assert "array" not in repr(validated)  # no pixels, embedding or audio in logs


def test_an_enrollment_without_a_camera_frame_skips_consent(face_jpeg, reader_pcm):
    validated = validate_enrollment(face_jpeg, wav(reader_pcm), None)
    assert validated.consent_distance is None


def test_the_first_problem_is_reported(face_jpeg, reader_pcm):
    refused("not_you", validate_enrollment, face_jpeg, wav(reader_pcm), clip_frame(OTHER_CLIP, 5.0))
    refused("too_short", validate_enrollment, face_jpeg, wav(seconds(reader_pcm, 0, 10)), None)
