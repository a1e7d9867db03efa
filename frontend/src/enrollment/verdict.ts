// The room service's enrollment refusals (room_service/enrollment), in plain words, with which step
// fixes each: the service's own message is shown under the headline.

export type FixStep = 'photo' | 'voice' | 'retry';

export interface Verdict {
  headline: string;
  fix: FixStep;
}

const VERDICTS: Record<string, Verdict> = {
  no_face: { headline: 'We could not find your face in the photo.', fix: 'photo' },
  several_faces: { headline: 'There is more than one face in the photo.', fix: 'photo' },
  face_too_small: { headline: 'Your face is too small in the photo: come closer.', fix: 'photo' },
  face_cut_off: { headline: 'Part of your face is outside the photo.', fix: 'photo' },
  unsupported_photo: { headline: 'We could not read the photo.', fix: 'photo' },
  photo_too_large: { headline: 'The photo is too large.', fix: 'photo' },
  not_you: { headline: 'The photo does not look like the person on your camera.', fix: 'photo' },
  camera_not_live: { headline: 'Your camera is not reaching us yet.', fix: 'retry' },
  too_quiet: { headline: 'We could barely hear you: speak up or move closer to the microphone.', fix: 'voice' },
  too_loud: { headline: 'The recording is too loud and distorted: move back a little.', fix: 'voice' },
  too_short: { headline: 'The recording is too short.', fix: 'voice' },
  too_long: { headline: 'The recording is too long.', fix: 'voice' },
  not_enough_speech: { headline: 'We did not hear enough speech: keep reading aloud the whole time.', fix: 'voice' },
  unsupported_audio: { headline: 'We could not read the recording.', fix: 'voice' },
  server_down: { headline: 'We could not reach the server.', fix: 'retry' },
};

export function verdictFor(code: string): Verdict {
  return VERDICTS[code] ?? { headline: 'Enrollment did not work.', fix: 'retry' };
}
