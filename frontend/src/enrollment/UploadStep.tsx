import { useEffect, useState } from 'react';
import { ProgressBar } from '../components/ui';
import type { PlayerGrant } from '../game/protocol';
import { ApiError, uploadEnrollment, type EnrollmentResult } from '../lib/api';
import { verdictFor, type FixStep } from './verdict';

export interface Refusal {
  headline: string;
  detail: string;
  fix: FixStep;
}

/** Uploads once when mounted; reports the service's verdict. */
export function UploadStep({
  grant,
  photo,
  voice,
  onEnrolled,
  onRefused,
}: {
  grant: PlayerGrant;
  photo: Blob;
  voice: Blob;
  onEnrolled: (result: EnrollmentResult) => void;
  onRefused: (refusal: Refusal) => void;
}) {
  const [progress, setProgress] = useState(0);
  useEffect(() => {
    let live = true;
    uploadEnrollment(grant, photo, voice, (f) => live && setProgress(f)).then(
      (result) => live && onEnrolled(result),
      (error) => {
        if (!live) return;
        const code = error instanceof ApiError ? error.code : 'error';
        const verdict = verdictFor(code);
        onRefused({ headline: verdict.headline, detail: error instanceof ApiError ? error.message : String(error), fix: verdict.fix });
      },
    );
    return () => {
      live = false;
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, []);
  const uploaded = progress >= 1;
  return (
    <section className="card" aria-labelledby="upload-title" aria-busy="true">
      <h2 id="upload-title">{uploaded ? 'Checking your photo and voice…' : 'Uploading…'}</h2>
      <ProgressBar value={progress} label="Upload progress" />
      <p className="hint" aria-live="polite">
        {uploaded
          ? 'We check there is one clear face, that it is you on your camera, and that we can hear enough of your voice. This takes a few seconds.'
          : `${Math.round(progress * 100)}% sent`}
      </p>
    </section>
  );
}
