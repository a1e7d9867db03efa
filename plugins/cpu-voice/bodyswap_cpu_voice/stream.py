"""The streaming converter: 16 kHz blocks in, the same blocks in the target's voice out, 40 ms later.

Per 20 ms block:

1. silero-vad (32 ms frames) and an energy floor decide which 5 ms frames are speech; the rest is
   not analysed at all and comes out as exact zeros (with short gain ramps at the edges).
2. Pitch: YIN (CMNDF) candidates per 5 ms frame over a 44 ms span, chosen by a fixed-lag Viterbi
   (continuity per octave, a voicing switch cost, a bias against YIN's period-doubling slip) that
   decides each frame 3 frames (15 ms) after it is seen. WORLD then analyses the new frames only,
   each LOOKAHEAD behind the newest input: CheapTrick (envelope) and D4C (aperiodicity).
3. Mapping: log F0 is moved from the source's mean and spread to the target's; the mel log
   envelope is warped in frequency (the vocal tract length ratio fitted from the two speakers'
   mean envelopes), shifted by the remaining mean difference (both scaled down for short or noisy
   enrollments); voiced frames are then moved towards the average of the target's k nearest
   enrolled frames (retrieval on mel cepstra, as retrieval-based VC does with its index), by a
   correction smoothed over time so that the source's own formant motion survives, and sharpened
   by a cepstral post-filter. Without a source profile, the source statistics are learned from the
   driver's own speech as it comes.
4. Resynthesis pulse by pulse, as WORLD does (a minimum-phase periodic response plus shaped noise
   per pulse, fractional pulse positions), but with the pulse phase and the overlap-add tail kept
   across blocks: block edges need no crossfade because nothing is restarted at them.

The output for input sample n is ready once input up to n + LOOKAHEAD has been seen: the algorithmic
latency is exactly LOOKAHEAD (40 ms) beyond the block itself.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from . import dsp
from .profile import Profile

BLOCK = 320  # 20 ms at 16 kHz
LOOKAHEAD = 640  # 40 ms: the analysis window of a frame reaches this far ahead
HISTORY = 2560  # 160 ms of input kept for the analysis windows
VAD_PREROLL = 160  # speech gate opens 10 ms before silero's first speech frame
VAD_HANGOVER = 2400  # and stays open 150 ms after its last
# Frames quieter than this are silence whatever the VAD says. Low: quietly recorded readers' weak
# consonants and closures sit near -60 dBFS, and gating them cut words (measured on reader 2414:
# DNSMOS +0.3 at -65 against -55; the others unchanged).
SILENT_DBFS = -65.0
RETRIEVAL_K = 8  # the target frames averaged per source frame
POSTFILTER = 1.2  # cepstral sharpening of voiced mapped envelopes (measured: more like the target)
RESIDUAL_LIFTER = 24  # cepstral detail of the mean envelope difference that is imposed
RETRIEVAL_WEIGHT = 1.0  # share of the (smoothed) retrieval correction in a voiced frame's envelope
# Per-frame retrieval jumps between neighbour sets; smoothing its correction over ~25 ms (one pole
# per 5 ms frame) keeps the source's own fast formant motion (the words) and removes the jitter
# (measured: DNSMOS +0.08 at a small similarity cost, which the full weight wins back).
RETRIEVAL_SMOOTHING = 0.8
F0_ONLINE_PRIOR_FRAMES = 100  # weight of the pitch prior when the source is learned on the fly
ENV_ONLINE_HALF_FRAMES = 400  # voiced frames after which the online source envelope counts half


@dataclass
class Frame:
    active: bool
    gain: float
    f0: float = 0.0  # mapped F0, 0 where unvoiced
    h_periodic: np.ndarray | None = None
    h_noise: np.ndarray | None = None


class Mapping:
    """Everything a session derives from the source and target profiles."""

    def __init__(self, target: Profile, source: Profile | None, online: OnlineSource | None = None) -> None:
        self.target = target
        self.enabled = target.voiced_s >= 1.0
        t_trust = target.trust
        if source is not None and source.voiced_s >= 1.0:
            mu_s, sd_s, env_s, env_su, s_trust = (
                source.lf0_mean,
                source.lf0_std,
                source.env_voiced,
                source.env_unvoiced,
                source.trust,
            )
            env_weight = 1.0
        elif online is not None:
            mu_s, sd_s = online.pitch(target)
            env_s, env_su, env_weight = online.envelope()
            s_trust = 1.0
        else:
            mu_s, sd_s, env_s, env_su, env_weight, s_trust = target.lf0_mean, target.lf0_std, None, None, 0.0, 0.0
        trust = min(t_trust, s_trust)
        self.trust = trust

        self.mu_s, self.mu_t = mu_s, target.lf0_mean
        ratio = target.lf0_std / max(sd_s, 1e-3)
        self.f0_ratio = float(np.clip(ratio, 0.6, 1.6) ** max(trust, 0.3))

        # Vocal tract length: a rule of thumb from the pitch ratio, replaced by the fitted ratio of
        # the mean envelopes as far as both profiles can be trusted.
        alpha0 = float(np.clip(np.exp(0.27 * (self.mu_t - self.mu_s)), 0.85, 1.2))
        if env_s is not None and env_weight > 0:
            alpha_fit = fit_warp(env_s, target.env_voiced)
            w = trust * env_weight
            self.alpha = float(alpha0 ** (1 - w) * alpha_fit**w)
            warp = dsp.warp_matrix(self.alpha)
            self.res_voiced = w * residual(warp @ env_s, target.env_voiced)
            # Fully on unvoiced frames too (half was measured: cosine -0.015, no better DNSMOS).
            self.res_unvoiced = w * residual(warp @ env_su, target.env_unvoiced)
        else:
            self.alpha = alpha0
            self.res_voiced = np.zeros(dsp.N_MEL)
            self.res_unvoiced = np.zeros(dsp.N_MEL)
        self.warp = dsp.warp_matrix(self.alpha)
        self.retrieval = RETRIEVAL_WEIGHT * t_trust if len(target.bank) >= 200 else 0.0
        self.bank = target.bank.astype(np.float64)
        self.bank_keys = dsp.keys(self.bank) if len(self.bank) else np.zeros((0, dsp.CEP_KEY))
        self.bank_norms = np.sum(self.bank_keys**2, axis=1)

    def f0(self, f0: np.ndarray) -> np.ndarray:
        out = np.zeros_like(f0)
        v = f0 > 0
        if not self.enabled:
            out[v] = f0[v]
            return out
        out[v] = np.exp(self.mu_t + (np.log(f0[v]) - self.mu_s) * self.f0_ratio)
        return np.clip(out, 0.0, 1000.0)

    def envelope(
        self, env: np.ndarray, voiced: np.ndarray, correction: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """Mapped mel log envelopes (frames, N_MEL), and the retrieval correction to carry on to
        the next call (`correction`: the one the previous call returned, None at first)."""
        if not self.enabled:
            return env, correction
        mapped = env @ self.warp.T + np.where(voiced[:, None], self.res_voiced, self.res_unvoiced)
        if self.retrieval > 0 and voiced.any():
            # The target's nearest enrolled frames pull each voiced frame towards the target's
            # timbre; what they would change is smoothed over time before it is applied.
            q = dsp.keys(mapped[voiced])
            dist = self.bank_norms[None, :] - 2.0 * q @ self.bank_keys.T
            nearest = np.argpartition(dist, RETRIEVAL_K, axis=1)[:, :RETRIEVAL_K]
            found = self.bank[nearest].mean(axis=1)
            found += (mapped[voiced].mean(axis=1) - found.mean(axis=1))[:, None]
            smoothed = found - mapped[voiced]
            for i in range(len(smoothed)):
                if correction is not None:
                    smoothed[i] = RETRIEVAL_SMOOTHING * correction + (1 - RETRIEVAL_SMOOTHING) * smoothed[i]
                correction = smoothed[i]
            mapped[voiced] += self.retrieval * smoothed
        if POSTFILTER != 1.0 and voiced.any():
            # Averaging flattens formant peaks: sharpen them back (cepstral post-filter); voiced
            # frames only, sharpened noise sounds harsh (measured: DNSMOS -0.07 with it).
            c = mapped[voiced] @ dsp.DCT.T
            c[:, 2:] *= POSTFILTER
            mapped[voiced] = c @ dsp.DCT
        return mapped, correction


def fit_warp(source_env: np.ndarray, target_env: np.ndarray) -> float:
    """The frequency scale that best lays the source's mean envelope over the target's (0.1-5 kHz)."""
    band = (dsp.MEL_HZ > 100) & (dsp.MEL_HZ < 5000)
    best, best_cost = 1.0, np.inf
    for alpha in np.geomspace(0.82, 1.22, 41):
        diff = (dsp.warp_matrix(alpha) @ source_env - target_env)[band]
        cost = np.var(diff)
        if cost < best_cost:
            best, best_cost = float(alpha), cost
    return best


def residual(mapped_mean: np.ndarray, target_mean: np.ndarray) -> np.ndarray:
    """The smooth remaining difference of mean envelopes, level removed (loudness follows the driver)."""
    r = dsp.lifter(target_mean - mapped_mean, RESIDUAL_LIFTER)
    return r - r.mean()


class OnlineSource:
    """Source statistics learned from the driver's live speech when they have no profile."""

    def __init__(self) -> None:
        self.lf0: deque[float] = deque(maxlen=4000)
        self.env_sum = np.zeros(dsp.N_MEL)
        self.env_count = 0
        self.uenv_sum = np.zeros(dsp.N_MEL)
        self.uenv_count = 0
        self.since_update = 0

    def add(self, lf0: np.ndarray, env: np.ndarray, voiced: np.ndarray) -> None:
        self.lf0.extend(lf0.tolist())
        self.env_sum += env[voiced].sum(axis=0)
        self.env_count += int(voiced.sum())
        self.uenv_sum += env[~voiced].sum(axis=0)
        self.uenv_count += int((~voiced).sum())
        self.since_update += len(env)

    def pitch(self, target: Profile) -> tuple[float, float]:
        n = len(self.lf0)
        if n == 0:
            return target.lf0_mean, target.lf0_std
        observed = np.array(self.lf0)
        median = float(np.median(observed))
        prior = np.log(120.0) if median < np.log(165.0) else np.log(210.0)
        mean = (n * median + F0_ONLINE_PRIOR_FRAMES * prior) / (n + F0_ONLINE_PRIOR_FRAMES)
        spread = 1.4826 * float(np.median(np.abs(observed - median))) if n >= 50 else 0.15
        return mean, float(np.clip(spread, 0.05, 0.5))

    def envelope(self) -> tuple[np.ndarray | None, np.ndarray | None, float]:
        if self.env_count < 50:
            return None, None, 0.0
        voiced = self.env_sum / self.env_count
        unvoiced = self.uenv_sum / self.uenv_count if self.uenv_count >= 20 else voiced
        return voiced, unvoiced, self.env_count / (self.env_count + ENV_ONLINE_HALF_FRAMES)


class Converter:
    def __init__(self, target: Profile, source: Profile | None, seed: int = 0) -> None:
        self.target = target
        self.online = None if (source is not None and source.voiced_s >= 1.0) else OnlineSource()
        self.source = source
        self.mapping = Mapping(target, source, self.online)
        self.correction: np.ndarray | None = None  # smoothed retrieval correction, carried across blocks
        self.rng = np.random.default_rng(seed)
        self.buf = np.zeros(HISTORY)
        self.n_in = 0  # input samples seen
        self.vad = dsp.Vad()
        self.vad_frames = 0
        self.vad_inside = False
        self.speech_starts: deque[int] = deque()  # starts of recent silero speech frames
        self.next_frame = 0
        self.frames: dict[int, Frame] = {}
        self.last_gain = 0.0
        self.tracker = dsp.PitchTracker()
        self.yin_next = 0  # next frame whose YIN span is complete
        self.pitch: dict[int, float] = {}  # decided F0 per frame (raw, before mapping)
        self.next_pulse = 0.0
        self.ola = np.zeros(LOOKAHEAD + BLOCK + 2 * dsp.FFT)
        self.ola_start = -LOOKAHEAD

    # -- gating ------------------------------------------------------------------------------------

    def _update_vad(self, x: np.ndarray) -> None:
        for p in self.vad.feed(x.astype(np.float32)):
            self.vad_inside = p >= (0.35 if self.vad_inside else 0.5)
            if self.vad_inside:
                self.speech_starts.append(self.vad_frames * dsp.VAD_FRAME)
            self.vad_frames += 1
        horizon = self.n_in - LOOKAHEAD - BLOCK - VAD_HANGOVER - dsp.VAD_FRAME
        while self.speech_starts and self.speech_starts[0] < horizon:
            self.speech_starts.popleft()

    def _speech_at(self, t: int) -> bool:
        return any(s - VAD_PREROLL <= t < s + dsp.VAD_FRAME + VAD_HANGOVER for s in self.speech_starts)

    # -- analysis ----------------------------------------------------------------------------------

    def _track(self) -> None:
        """Push every frame whose YIN span is now complete into the tracker."""
        buf_start = self.n_in - HISTORY
        last = (self.n_in - dsp.YIN_SPAN + dsp.YIN_HALF) // dsp.HOP
        js = list(range(self.yin_next, last + 1))
        if not js:
            return
        self.yin_next = last + 1
        starts = np.array([j * dsp.HOP - dsp.YIN_HALF - buf_start for j in js])
        loud = []
        for j in js:
            t = j * dsp.HOP - buf_start
            seg = self.buf[max(t - dsp.HOP, 0) : t + dsp.HOP]
            loud.append(j >= 0 and len(seg) > 0 and 10 * np.log10(np.mean(seg**2) + 1e-12) > SILENT_DBFS)
        f0s = np.zeros((len(js), dsp.CANDIDATES))
        dips = np.ones((len(js), dsp.CANDIDATES))
        if any(loud):
            rows = [n for n, s in enumerate(starts) if loud[n] and s >= 0]
            if rows:
                idx = starts[rows][:, None] + np.arange(dsp.YIN_SPAN)[None, :]
                f0s[rows], dips[rows] = dsp.yin_candidates(self.buf[idx])
        for n, j in enumerate(js):
            decided = self.tracker.push(f0s[n], dips[n], bool(loud[n]))
            if decided is not None:
                self.pitch[j - dsp.PitchTracker.LAG] = decided
        for k in [k for k in self.pitch if k < self.next_frame - 4]:
            del self.pitch[k]

    def _analyse(self) -> None:
        last = (self.n_in - LOOKAHEAD) // dsp.HOP
        ks = list(range(self.next_frame, last + 1))
        if not ks:
            return
        self.next_frame = last + 1
        buf_start = self.n_in - HISTORY
        active = []
        for k in ks:
            t = k * dsp.HOP
            lo, hi = max(t - dsp.HOP, buf_start) - buf_start, min(t + dsp.HOP, self.n_in) - buf_start
            seg = self.buf[lo:hi] if hi > lo else np.zeros(1)
            level = 10 * np.log10(np.mean(seg**2) + 1e-12)
            active.append(t >= 0 and level > SILENT_DBFS and self._speech_at(t))
        active = np.array(active)
        gains = []
        for a in active:
            target = 1.0 if a else 0.0
            step = 0.5 if target > self.last_gain else 1.0 / 6.0
            self.last_gain = float(np.clip(target, self.last_gain - step, self.last_gain + step))
            gains.append(self.last_gain)
        # Frames still ringing out (gain > 0) are synthesised too, with the last frame's spectra.
        todo = [i for i, k in enumerate(ks) if active[i]]
        for i, k in enumerate(ks):
            self.frames[k] = Frame(bool(active[i]), gains[i])
        if not todo:
            self._carry_tail(ks)
            return

        f0 = np.array([self.pitch.pop(ks[i], 0.0) for i in todo])

        times = np.array([(ks[i] * dsp.HOP - buf_start) / dsp.FS for i in todo])
        env = dsp.envelope(self.buf, f0, times)
        voiced = f0 > 0
        if self.online is not None:
            self.online.add(np.log(f0[voiced]), env, voiced)
            if self.online.since_update >= 100:
                self.online.since_update = 0
                self.mapping = Mapping(self.target, None, self.online)
        mapped_env, self.correction = self.mapping.envelope(env, voiced, self.correction)
        f0_out = self.mapping.f0(f0)
        ap = np.ones((len(todo), dsp.BINS))
        if voiced.any():
            ap[voiced] = dsp.aperiodicity(self.buf, f0[voiced], times[voiced])
        ap_ratio = np.clip(ap, 0.001, 0.999) ** 2
        log_sp = mapped_env @ dsp.FROM_MEL.T
        periodic = dsp.min_phase(0.5 * (log_sp + np.log(1.0 - ap_ratio)))
        noise_ratio = np.where(voiced[:, None], ap_ratio, 1.0)
        noise = dsp.min_phase(0.5 * (log_sp + np.log(noise_ratio)))
        for n, i in enumerate(todo):
            frame = self.frames[ks[i]]
            frame.f0 = float(f0_out[n])
            frame.h_periodic = periodic[n] if voiced[n] else None
            frame.h_noise = noise[n]
        self._carry_tail(ks)

    def _carry_tail(self, ks: list[int]) -> None:
        """Frames that fade out after speech keep the spectra of the last analysed frame."""
        for k in ks:
            frame = self.frames[k]
            if frame.h_noise is None and frame.gain > 0:
                before = self.frames.get(k - 1)
                if before is not None and before.h_noise is not None:
                    frame.f0, frame.h_periodic, frame.h_noise = before.f0, before.h_periodic, before.h_noise

    # -- synthesis ---------------------------------------------------------------------------------

    def _synthesise(self, end: int) -> None:
        pulses = []  # (position, frame, period, voiced)
        while self.next_pulse < end:
            p = self.next_pulse
            k0 = int(p // dsp.HOP)
            frac = p / dsp.HOP - k0
            near = self.frames.get(k0 if frac < 0.5 else k0 + 1)
            if near is None or near.h_noise is None or near.gain <= 0:
                self.next_pulse = p + dsp.HOP / 2
                continue
            a, b = self.frames.get(k0), self.frames.get(k0 + 1)
            if a is not None and b is not None and a.f0 > 0 and b.f0 > 0:
                f0 = a.f0 + frac * (b.f0 - a.f0)
            else:
                f0 = near.f0
            voiced = f0 > 0 and near.h_periodic is not None
            period = dsp.FS / (f0 if voiced else dsp.UNVOICED_PULSE_HZ)
            pulses.append((p, near, period, voiced))
            self.next_pulse = p + period
        if not pulses:
            return
        n = len(pulses)
        bins = np.arange(dsp.BINS)
        spectra = np.zeros((n, dsp.BINS), complex)
        noise = np.zeros((n, dsp.FFT))
        for i, (p, frame, period, voiced) in enumerate(pulses):
            length = max(1, int(round(period)))
            noise[i, :length] = self.rng.standard_normal(length)
            noise[i, :length] -= noise[i, :length].mean() if length > 1 else 0.0
        noise_spec = np.fft.rfft(noise, axis=1)
        for i, (p, frame, period, voiced) in enumerate(pulses):
            spectra[i] = noise_spec[i] * frame.h_noise
            if voiced:
                shift = np.exp(-2j * np.pi * bins * (p - np.floor(p)) / dsp.FFT)
                spectra[i] += frame.h_periodic * shift * np.sqrt(period)
        responses = np.fft.irfft(spectra, n=dsp.FFT, axis=1)
        for i, (p, _, _, _) in enumerate(pulses):
            at = int(np.floor(p)) - self.ola_start
            self.ola[at : at + dsp.FFT] += responses[i]

    def _gain_curve(self, start: int) -> np.ndarray:
        t = np.arange(start, start + BLOCK) / dsp.HOP
        k0 = np.floor(t).astype(int)
        frac = t - k0
        g = np.array([[self._gain(k), self._gain(k + 1)] for k in range(k0[0], k0[-1] + 1)])
        g0, g1 = g[k0 - k0[0], 0], g[k0 - k0[0], 1]
        return g0 + frac * (g1 - g0)

    def _gain(self, k: int) -> float:
        frame = self.frames.get(k)
        return frame.gain if frame is not None else 0.0

    # -- the block -----------------------------------------------------------------------------------

    def process(self, x: np.ndarray) -> np.ndarray:
        """One block of BLOCK float samples in, BLOCK out (the output lags by LOOKAHEAD)."""
        self.buf = np.concatenate([self.buf[BLOCK:], x])
        self.n_in += BLOCK
        self._update_vad(x)
        self._track()
        self._analyse()
        end = self.n_in - LOOKAHEAD
        self._synthesise(end)
        out = self.ola[:BLOCK] * self._gain_curve(end - BLOCK)
        self.ola = np.concatenate([self.ola[BLOCK:], np.zeros(BLOCK)])
        self.ola_start += BLOCK
        for k in [k for k in self.frames if k * dsp.HOP < end - BLOCK - 2 * dsp.HOP]:
            del self.frames[k]
        return np.clip(out, -1.0, 1.0)

