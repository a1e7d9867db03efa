import { useState } from 'react';

export function InviteLink({ url }: { url: string }) {
  const [copied, setCopied] = useState(false);
  async function copy() {
    try {
      await navigator.clipboard.writeText(url);
      setCopied(true);
      window.setTimeout(() => setCopied(false), 2000);
    } catch {
      (document.getElementById('invite-url') as HTMLInputElement | null)?.select();
    }
  }
  return (
    <div className="invite">
      <label htmlFor="invite-url">Invite link: send it to your friends</label>
      <div className="invite-row">
        <input id="invite-url" readOnly value={url} onFocus={(e) => e.target.select()} />
        <button type="button" onClick={() => void copy()}>
          {copied ? 'Copied!' : 'Copy'}
        </button>
      </div>
    </div>
  );
}
