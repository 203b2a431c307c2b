// Audio worklets of the browser test call: microphone -> 20 ms PCM16 frames, and PCM16 -> speaker
// through a small jitter buffer. Both convert between the context's rate and the wire's 16 kHz
// (linear interpolation; a no-op when the context already runs at 16 kHz, as Chromium does).
"use strict";

const WIRE_RATE = 16000;
const FRAME = WIRE_RATE / 50; // 320 samples = 20 ms

class CaptureProcessor extends AudioWorkletProcessor {
  constructor() {
    super();
    this.step = sampleRate / WIRE_RATE; // context samples per wire sample
    this.pos = 0; // read position (in context samples) within the pending input
    this.pending = new Float32Array(0);
    this.frame = new Int16Array(FRAME);
    this.fill = 0;
    this.level = 0;
    this.blocks = 0;
  }

  process(inputs) {
    const input = inputs[0] && inputs[0][0];
    if (!input) return true;
    const joined = new Float32Array(this.pending.length + input.length);
    joined.set(this.pending);
    joined.set(input, this.pending.length);
    let peak = 0;
    while (this.pos + 1 < joined.length || (this.step === 1 && this.pos < joined.length)) {
      const i = Math.floor(this.pos);
      const frac = this.pos - i;
      const s = frac ? joined[i] * (1 - frac) + joined[i + 1] * frac : joined[i];
      const clipped = Math.max(-1, Math.min(1, s));
      peak = Math.max(peak, Math.abs(clipped));
      this.frame[this.fill++] = clipped < 0 ? clipped * 0x8000 : clipped * 0x7fff;
      if (this.fill === FRAME) {
        this.port.postMessage(this.frame.buffer, [this.frame.buffer]);
        this.frame = new Int16Array(FRAME);
        this.fill = 0;
      }
      this.pos += this.step;
    }
    const used = Math.floor(this.pos);
    this.pending = joined.slice(used);
    this.pos -= used;
    this.level = Math.max(peak, this.level * 0.9);
    if (++this.blocks % 8 === 0) this.port.postMessage({ level: this.level });
    return true;
  }
}

class PlaybackProcessor extends AudioWorkletProcessor {
  constructor(options) {
    super();
    const opts = (options && options.processorOptions) || {};
    this.target = Math.round(((opts.jitterMs || 60) / 1000) * sampleRate); // prime this much before playing
    this.step = WIRE_RATE / sampleRate; // wire samples per context sample
    this.queue = []; // Float32Array chunks at the wire rate
    this.head = 0; // read position (wire samples, fractional) in queue[0]
    this.queued = 0; // wire samples queued
    this.playing = false;
    this.played = 0;
    this.port.onmessage = (event) => {
      if (event.data === "flush") {
        this.queue = [];
        this.head = 0;
        this.queued = 0;
        this.playing = false;
        return;
      }
      const pcm = new Int16Array(event.data);
      const chunk = new Float32Array(pcm.length);
      for (let i = 0; i < pcm.length; i++) chunk[i] = pcm[i] / 0x8000;
      this.queue.push(chunk);
      this.queued += chunk.length;
    };
  }

  sample() {
    while (this.queue.length && this.head >= this.queue[0].length) {
      this.head -= this.queue[0].length;
      this.queue.shift();
    }
    if (!this.queue.length) return 0;
    const chunk = this.queue[0];
    const i = Math.floor(this.head);
    const frac = this.head - i;
    const next = i + 1 < chunk.length ? chunk[i + 1] : this.queue[1] ? this.queue[1][0] : chunk[i];
    return chunk[i] * (1 - frac) + next * frac;
  }

  process(_inputs, outputs) {
    const out = outputs[0][0];
    if (!this.playing && this.queued * (sampleRate / WIRE_RATE) >= this.target) this.playing = true;
    if (!this.playing) {
      out.fill(0);
      return true;
    }
    for (let n = 0; n < out.length; n++) {
      if (this.queued <= 0) {
        out.fill(0, n); // underrun: silence, then wait for the buffer to fill again
        this.playing = false;
        break;
      }
      out[n] = this.sample();
      this.head += this.step;
      this.queued -= this.step;
      this.played++;
    }
    return true;
  }
}

registerProcessor("cc-capture", CaptureProcessor);
registerProcessor("cc-playback", PlaybackProcessor);
