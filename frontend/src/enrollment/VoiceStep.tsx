import { useEffect, useRef, useState } from 'react';
import { LevelMeter, ProgressBar, useNow } from '../components/ui';
import { startRecording, type Recording } from '../media/capture';
import { useAudioLevel } from '../media/useAudioLevel';
import { READING_SCRIPT } from './script';

export const TARGET_SECONDS = 120;
export const MIN_SECONDS = 40; // the service needs 30 s with 20 s of speech; a margin for pauses

export function VoiceStep({ track, onDone }: { track: MediaStreamTrack; onDone: (voice: Blob) => void }) {
  const [startedAt, setStartedAt] = useState<number | null>(null);
  const [voice, setVoice] = useState<{ blob: Blob; url: string; seconds: number } | null>(null);
  const recording = useRef<Recording | null>(null);
  const level = useAudioLevel(track);
  const now = useNow(250);
  const elapsed = startedAt === null ? 0 : (now - startedAt) / 1000;

  async function finish() {
    const seconds = elapsed;
    const blob = await recording.current!.stop();
    recording.current = null;
    setStartedAt(null);
    setVoice({ blob, url: URL.createObjectURL(blob), seconds });
  }

  useEffect(() => {
    if (startedAt !== null && elapsed >= TARGET_SECONDS) void finish();
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [elapsed >= TARGET_SECONDS]);
  useEffect(() => () => recording.current?.cancel(), []);
  useEffect(() => () => {
    if (voice) URL.revokeObjectURL(voice.url);
  }, [voice]);

  function start() {
    setVoice(null);
    recording.current = startRecording(track);
    setStartedAt(Date.now());
  }

  const recordingNow = startedAt !== null;
  return (
    <section className="card" aria-labelledby="voice-title">
      <h2 id="voice-title">Record your voice</h2>
      <p>
        Press Start and read the text below aloud, in your normal voice, for about two minutes. You can finish after{' '}
        {MIN_SECONDS} seconds, but more is better.
      </p>
      <div className={`script ${recordingNow ? 'active' : ''}`} tabIndex={0} aria-label="Text to read aloud">
        {READING_SCRIPT.map((paragraph) => (
          <p key={paragraph}>{paragraph}</p>
        ))}
      </div>
      <LevelMeter level={level} />
      <ProgressBar value={(voice?.seconds ?? elapsed) / TARGET_SECONDS} label="Recording length" />
      <p className="hint" aria-live="polite">
        {recordingNow
          ? `Recording: ${Math.floor(elapsed)} s of about ${TARGET_SECONDS} s`
          : voice
            ? `Recorded ${Math.round(voice.seconds)} s.`
            : 'Not recording.'}
      </p>
      {voice && <audio controls src={voice.url} aria-label="Listen to your recording" />}
      <div className="actions">
        {!recordingNow && !voice && (
          <button type="button" className="primary" onClick={start}>
            Start recording
          </button>
        )}
        {recordingNow && (
          <button type="button" className="primary" disabled={elapsed < MIN_SECONDS} onClick={() => void finish()}>
            {elapsed < MIN_SECONDS ? `Keep reading (${Math.ceil(MIN_SECONDS - elapsed)} s)` : 'Finish recording'}
          </button>
        )}
        {voice && (
          <>
            <button type="button" onClick={start}>
              Record again
            </button>
            <button type="button" className="primary" onClick={() => onDone(voice.blob)}>
              Use this recording
            </button>
          </>
        )}
      </div>
    </section>
  );
}
