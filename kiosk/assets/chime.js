// A two-tone chime with Web Audio (no sound file), for what a person must notice
// without looking: a client in the waiting room (/control), a ringing call (/partner).
// A plain function declaration: a global for the console's page, and part of the
// module of /control's Chime component (kiosk/views/chime.py).
function kioskChime(ctx, volume = 0.3) {
  const at = ctx.currentTime;
  for (const [freq, start] of [[880, 0], [660, 0.3]]) {
    const osc = ctx.createOscillator(), gain = ctx.createGain();
    osc.frequency.value = freq;
    gain.gain.setValueAtTime(0.0001, at + start);
    gain.gain.exponentialRampToValueAtTime(volume, at + start + 0.02);
    gain.gain.exponentialRampToValueAtTime(0.0001, at + start + 0.5);
    osc.connect(gain).connect(ctx.destination);
    osc.start(at + start);
    osc.stop(at + start + 0.55);
  }
}
