// Audio worklets of the supervise panel (call page): the call's mixed audio (16 kHz PCM16 chunks)
// to the speaker through a short jitter buffer that never lets the supervisor fall behind, and the
// supervisor's microphone to 40 ms PCM16 chunks while they have the call. Both convert between the
// context's rate and 16 kHz (linear interpolation; a no-op when the context runs at 16 kHz).
"use strict";

const RATE = 16000;
const MIC_CHUNK = RATE / 25; // 640 samples = 40 ms

class ListenProcessor extends AudioWorkletProcessor {
  constructor() {
    super();
    this.step = RATE / sampleRate; // 16 kHz samples per context sample
    this.start = 0.15 * RATE; // prime 150 ms before playing (chunks come every 100 ms)
    this.most = 0.3 * RATE; // never more than 300 ms behind: drop the oldest beyond
    this.queue = [];
    this.head = 0;
    this.queued = 0;
    this.playing = false;
    this.stats = { chunks: 0, played: 0, loud: 0, peak: 0, dropped: 0, underruns: 0 };
    this.blocks = 0;
    this.port.onmessage = (event) => {
      const pcm = new Int16Array(event.data);
      const chunk = new Float32Array(pcm.length);
      for (let i = 0; i < pcm.length; i++) chunk[i] = pcm[i] / 0x8000;
      this.queue.push(chunk);
      this.queued += chunk.length;
      this.stats.chunks++;
      while (this.queued - this.queue[0].length + this.head > this.most && this.queue.length > 1) {
        this.queued -= this.queue[0].length - this.head;
        this.stats.dropped += this.queue[0].length - this.head;
        this.queue.shift();
        this.head = 0;
      }
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
    if (!this.playing && this.queued >= this.start) this.playing = true;
    if (this.playing) {
      for (let n = 0; n < out.length; n++) {
        if (this.queued <= 0) {
          out.fill(0, n);
          this.playing = false;
          this.stats.underruns++;
          break;
        }
        const s = this.sample();
        out[n] = s;
        const level = Math.abs(s);
        if (level > 0.02) this.stats.loud++;
        if (level > this.stats.peak) this.stats.peak = level;
        this.head += this.step;
        this.queued -= this.step;
        this.stats.played++;
      }
    } else {
      out.fill(0);
    }
    if (++this.blocks % 40 === 0) this.port.postMessage({ ...this.stats, bufferedMs: (this.queued / RATE) * 1000 });
    return true;
  }
}

class MicProcessor extends AudioWorkletProcessor {
  constructor() {
    super();
    this.step = sampleRate / RATE; // context samples per 16 kHz sample
    this.pos = 0;
    this.pending = new Float32Array(0);
    this.chunk = new Int16Array(MIC_CHUNK);
    this.fill = 0;
  }

  process(inputs) {
    const input = inputs[0] && inputs[0][0];
    if (!input) return true;
    const joined = new Float32Array(this.pending.length + input.length);
    joined.set(this.pending);
    joined.set(input, this.pending.length);
    while (this.pos + 1 < joined.length || (this.step === 1 && this.pos < joined.length)) {
      const i = Math.floor(this.pos);
      const frac = this.pos - i;
      const s = Math.max(-1, Math.min(1, frac ? joined[i] * (1 - frac) + joined[i + 1] * frac : joined[i]));
      this.chunk[this.fill++] = s < 0 ? s * 0x8000 : s * 0x7fff;
      if (this.fill === MIC_CHUNK) {
        this.port.postMessage(this.chunk.buffer, [this.chunk.buffer]);
        this.chunk = new Int16Array(MIC_CHUNK);
        this.fill = 0;
      }
      this.pos += this.step;
    }
    const used = Math.floor(this.pos);
    this.pending = joined.slice(used);
    this.pos -= used;
    return true;
  }
}

registerProcessor("cc-listen", ListenProcessor);
registerProcessor("cc-mic", MicProcessor);
