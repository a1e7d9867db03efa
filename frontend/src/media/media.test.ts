import { describe, expect, it } from 'vitest';
import { describeMediaError } from './devices';
import { rmsLevel } from './useAudioLevel';

describe('describeMediaError', () => {
  it('tells a blocked permission apart from missing devices', () => {
    expect(describeMediaError({ name: 'NotAllowedError' }, true, true).code).toBe('denied');
    expect(describeMediaError({ name: 'NotFoundError' }, false, true).code).toBe('no_camera');
    expect(describeMediaError({ name: 'NotFoundError' }, true, false).code).toBe('no_microphone');
    expect(describeMediaError({ name: 'NotReadableError' }, true, true).code).toBe('in_use');
  });

  it('says what to do', () => {
    expect(describeMediaError({ name: 'NotAllowedError' }, true, true).message).toMatch(/allow both/);
    expect(describeMediaError(null, true, false).message).toMatch(/microphone/);
  });
});

describe('rmsLevel', () => {
  it('is empty for silence and full near clipping', () => {
    expect(rmsLevel(new Float32Array(512))).toBe(0);
    expect(rmsLevel(new Float32Array(512).fill(0.9))).toBe(1);
    const speech = rmsLevel(new Float32Array(512).fill(0.05)); // about -26 dBFS
    expect(speech).toBeGreaterThan(0.5);
    expect(speech).toBeLessThan(0.75);
  });
});
