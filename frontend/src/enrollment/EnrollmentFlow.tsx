// Consent, photo, voice, upload: the steps a player goes through once before the lobby.

import { useState } from 'react';
import { ErrorNote } from '../components/ui';
import type { PlayerGrant } from '../game/protocol';
import { InviteLink } from '../game/InviteLink';
import type { EnrollmentResult } from '../lib/api';
import { ConsentStep } from './ConsentStep';
import { PhotoStep } from './PhotoStep';
import { UploadStep, type Refusal } from './UploadStep';
import { VoiceStep } from './VoiceStep';

type Step = 'consent' | 'photo' | 'voice' | 'upload' | 'refused';

const STEPS: { step: Step; label: string }[] = [
  { step: 'consent', label: 'Consent' },
  { step: 'photo', label: 'Photo' },
  { step: 'voice', label: 'Voice' },
  { step: 'upload', label: 'Check' },
];

export function EnrollmentFlow({
  grant,
  stream,
  inviteUrl,
  onEnrolled,
}: {
  grant: PlayerGrant;
  stream: MediaStream;
  inviteUrl: string;
  onEnrolled: (result: EnrollmentResult) => void;
}) {
  const [step, setStep] = useState<Step>('consent');
  const [photo, setPhoto] = useState<Blob | null>(null);
  const [voice, setVoice] = useState<Blob | null>(null);
  const [refusal, setRefusal] = useState<Refusal | null>(null);
  const shown = step === 'refused' ? 'upload' : step;

  return (
    <main className="screen">
      <h1>Make your body</h1>
      <ol className="steps" aria-label="Enrollment steps">
        {STEPS.map(({ step: s, label }) => (
          <li key={s} aria-current={s === shown ? 'step' : undefined} className={s === shown ? 'current' : ''}>
            {label}
          </li>
        ))}
      </ol>
      {step === 'consent' && <ConsentStep onAgree={() => setStep('photo')} />}
      {step === 'photo' && (
        <PhotoStep
          stream={stream}
          onDone={(blob) => {
            setPhoto(blob);
            setStep(voice ? 'upload' : 'voice'); // after a photo refusal the recording is kept
          }}
        />
      )}
      {step === 'voice' && (
        <VoiceStep
          track={stream.getAudioTracks()[0]}
          onDone={(blob) => {
            setVoice(blob);
            setStep('upload');
          }}
        />
      )}
      {step === 'upload' && photo && voice && (
        <UploadStep
          grant={grant}
          photo={photo}
          voice={voice}
          onEnrolled={onEnrolled}
          onRefused={(r) => {
            setRefusal(r);
            setStep('refused');
          }}
        />
      )}
      {step === 'refused' && refusal && (
        <section className="card verdict" aria-labelledby="verdict-title">
          <h2 id="verdict-title">{refusal.headline}</h2>
          <ErrorNote>{refusal.detail}</ErrorNote>
          <div className="actions">
            {refusal.fix === 'photo' && (
              <button type="button" className="primary" onClick={() => setStep('photo')}>
                Retake the photo
              </button>
            )}
            {refusal.fix === 'voice' && (
              <button type="button" className="primary" onClick={() => setStep('voice')}>
                Record again
              </button>
            )}
            {refusal.fix === 'retry' && (
              <button type="button" className="primary" onClick={() => setStep('upload')}>
                Try again
              </button>
            )}
          </div>
        </section>
      )}
      <section className="card" aria-label="Invite friends">
        <InviteLink url={inviteUrl} />
        <p className="hint">Friends can join and record while you do.</p>
      </section>
    </main>
  );
}
