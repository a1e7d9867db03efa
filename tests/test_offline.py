"""The offline command runs a plugin on files through its session, frame by frame and block by
block, and writes what the body would show and say."""

import wave

import numpy as np
from bodyswap_api import AudioBlock, Enrollment, SwapPlugin, SwapSession, VideoFrame

from agent.offline import main, read_audio, read_photo, swap_video
from tests.support.analysis import correlation, thumbnail
from tests.support.media import MEDIA_DIR, load_clip

CLIP = MEDIA_DIR / "video" / "d3.mp4"
PHOTO = MEDIA_DIR / "photos" / "s9.jpg"
SPEECH = MEDIA_DIR / "voice" / "3080" / "3080-5032-0000.flac"
ENROLLMENT = MEDIA_DIR / "voice" / "1998" / "1998-15444-0000.flac"


def decoded_lumas(path):
    import av

    with av.open(str(path)) as container:
        return [f.to_ndarray(format="gray") for f in container.decode(video=0)]


def test_passthrough_video_comes_out_as_the_driver_frame_for_frame(tmp_path):
    out = tmp_path / "body.mp4"
    assert main(["video", "--plugin", "passthrough", "--target", str(PHOTO), "--driver", str(CLIP),
                 "--out", str(out), "--max-seconds", "2"]) == 0
    clip = load_clip(CLIP, 2.0)
    lumas = decoded_lumas(out)
    assert len(lumas) == len(clip.frames)
    for index in (0, len(lumas) // 2, len(lumas) - 1):
        assert correlation(thumbnail(lumas[index]), thumbnail(clip.luma(index))) > 0.99


def test_passthrough_voice_comes_out_as_the_source_in_whole_blocks(tmp_path):
    out = tmp_path / "body.wav"
    assert main(["voice", "--plugin", "passthrough", "--target", str(ENROLLMENT), "--source", str(SPEECH),
                 "--out", str(out)]) == 0
    source = read_audio(SPEECH, 48000)
    with wave.open(str(out)) as result:
        assert result.getframerate() == 48000
        pcm = np.frombuffer(result.readframes(result.getnframes()), np.int16)
    assert len(pcm) % 480 == 0 and len(pcm) - len(source) < 480
    assert np.array_equal(pcm[: len(source)], source)


class Mirror(SwapPlugin):
    """An RGB plugin that shows its target photo's size and mirrors the driver: it proves the
    command hands RGB frames, prepares from the target photo, and takes the plugin's output size."""

    name = "mirror"
    swaps = frozenset({"video"})
    video_format = "rgb24"

    def prepare(self, enrollment: Enrollment) -> bytes:
        h, w, _ = enrollment.photo_rgb.shape
        return np.array([w // 2 * 2, h // 2 * 2], np.int32).tobytes()

    def session(self, source, target) -> SwapSession:
        width, height = (int(v) for v in np.frombuffer(target, np.int32))

        class Session(SwapSession):
            def convert_video(self, frame: VideoFrame) -> VideoFrame:
                assert frame.format == "rgb24" and frame.data.shape == (frame.height, frame.width, 3)
                canvas = np.zeros((height, width, 3), np.uint8)
                h, w = min(height, frame.height), min(width, frame.width)
                canvas[:h, :w] = frame.data[:h, ::-1][:, :w]
                return VideoFrame(width, height, "rgb24", canvas)

            def convert_audio(self, block: AudioBlock) -> AudioBlock:
                return block

        return Session()


def test_an_rgb_plugin_gets_rgb_frames_and_sets_the_output_size(tmp_path):
    out = tmp_path / "mirror.mp4"
    photo = read_photo(PHOTO)
    run = swap_video(Mirror(), photo, CLIP, out, max_seconds=1)
    lumas = decoded_lumas(out)
    assert run.items == len(lumas) > 0 and len(run.convert_ms) == run.items
    assert lumas[0].shape == (photo.shape[0] // 2 * 2, photo.shape[1] // 2 * 2)
