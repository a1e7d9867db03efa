import { describe, expect, it } from 'vitest';
import { verdictFor } from './verdict';

describe('verdictFor', () => {
  it('sends photo problems back to the photo and voice problems back to the recording', () => {
    for (const code of ['no_face', 'several_faces', 'face_too_small', 'face_cut_off', 'not_you']) {
      expect(verdictFor(code).fix).toBe('photo');
    }
    for (const code of ['too_quiet', 'too_loud', 'too_short', 'not_enough_speech', 'unsupported_audio']) {
      expect(verdictFor(code).fix).toBe('voice');
    }
    expect(verdictFor('camera_not_live').fix).toBe('retry');
    expect(verdictFor('something_new').fix).toBe('retry');
  });

  it('speaks plainly', () => {
    expect(verdictFor('several_faces').headline).toBe('There is more than one face in the photo.');
    expect(verdictFor('too_quiet').headline).toMatch(/barely hear you/);
  });
});
