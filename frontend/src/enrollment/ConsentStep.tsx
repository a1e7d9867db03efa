import { useState } from 'react';

export function ConsentStep({ onAgree }: { onAgree: () => void }) {
  const [agreed, setAgreed] = useState(false);
  return (
    <section className="card" aria-labelledby="consent-title">
      <h2 id="consent-title">Before we record you</h2>
      <ul className="consent">
        <li>
          <strong>What we record:</strong> one photo of your face and about two minutes of your voice reading a text.
          When you upload them, we also look at one frame of your live camera to check the photo is really you.
        </li>
        <li>
          <strong>What it is for:</strong> only to build your "body" for this game, so that other players can appear
          with your face and your voice. It is never shown to anyone as a recording.
        </li>
        <li>
          <strong>When it is deleted:</strong> when the game ends, when you leave or are removed, or whenever you press
          "Delete my data" in the lobby. Nothing is kept after the room closes.
        </li>
        <li>
          Everyone sees and hears an AI-altered version of each other, marked as such on screen.
        </li>
      </ul>
      <label className="checkbox">
        <input type="checkbox" checked={agreed} onChange={(e) => setAgreed(e.target.checked)} />I agree that my photo and
        voice are used this way, for this game only.
      </label>
      <div className="actions">
        <button type="button" className="primary" disabled={!agreed} onClick={onAgree}>
          Continue
        </button>
      </div>
    </section>
  );
}
