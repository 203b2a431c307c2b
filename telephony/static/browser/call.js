// Browser test call: the microphone goes to the agent as 20 ms frames of 16 kHz PCM16 over a
// WebSocket; the agent's PCM comes back, binary, and plays through a small jitter buffer that is
// flushed on `clear` (barge-in). JSON messages carry the call, transcript turns and the hangup.
(function () {
  "use strict";
  const root = document.getElementById("browser-call");
  if (!root) return;
  const startButton = document.getElementById("start");
  const hangupButton = document.getElementById("hangup");
  const stateEl = document.getElementById("call-state");
  const transcriptEl = document.getElementById("transcript");
  const errorEl = document.getElementById("call-error");
  const meter = document.getElementById("mic-level");
  const recordEl = document.getElementById("call-record");
  const SPEAKERS = { agent: "Agent", caller: "Caller", system: "System" };

  // What happened, for people debugging in the console and for the browser tests.
  const stats = (window.browserCall = {
    state: "ready",
    callId: null,
    framesSent: 0,
    framesReceived: 0,
    loudestFrameRms: 0,
    clears: 0,
    turns: [],
  });
  let ctx = null;
  let stream = null;
  let ws = null;
  let playback = null;

  function setState(text, on) {
    stats.state = text;
    stateEl.textContent = text;
    stateEl.classList.toggle("on", !!on);
  }

  function showError(text) {
    errorEl.textContent = text;
    errorEl.hidden = false;
  }

  function mmss(ms) {
    const s = Math.max(0, Math.floor(ms / 1000));
    return Math.floor(s / 60) + ":" + String(s % 60).padStart(2, "0");
  }

  function addTurn(seg) {
    stats.turns.push({ speaker: seg.speaker, text: seg.text });
    const li = document.createElement("li");
    li.className = "turn turn-" + seg.speaker;
    li.dataset.speaker = seg.speaker;
    const who = document.createElement("span");
    who.className = "who";
    who.textContent = SPEAKERS[seg.speaker] || seg.speaker;
    const time = document.createElement("time");
    time.textContent = mmss(seg.start_ms);
    const p = document.createElement("p");
    p.textContent = seg.text;
    li.append(who, time, p);
    transcriptEl.appendChild(li);
  }

  function frameRms(buffer) {
    const pcm = new Int16Array(buffer);
    let sum = 0;
    for (let i = 0; i < pcm.length; i++) sum += pcm[i] * pcm[i];
    return pcm.length ? Math.sqrt(sum / pcm.length) : 0;
  }

  function onControl(message) {
    if (message.type === "call") {
      stats.callId = message.call_id;
      setState(message.accepted ? "in call" : "refused", message.accepted);
    } else if (message.type === "transcript") {
      addTurn(message);
    } else if (message.type === "clear") {
      stats.clears++;
      if (playback) playback.port.postMessage("flush");
    } else if (message.type === "hangup") {
      setState("agent hung up");
      hangupButton.disabled = true;
    } else if (message.type === "ended") {
      const link = recordEl.querySelector("a");
      link.href = root.dataset.callUrl.replace("00000000-0000-0000-0000-000000000000", message.call_id);
      recordEl.hidden = false;
    }
  }

  function onMessage(event) {
    if (event.data instanceof ArrayBuffer) {
      stats.framesReceived++;
      stats.loudestFrameRms = Math.max(stats.loudestFrameRms, frameRms(event.data));
      if (playback) playback.port.postMessage(event.data, [event.data]);
      return;
    }
    try {
      onControl(JSON.parse(event.data));
    } catch (err) {
      console.warn("test call: bad message", err);
    }
  }

  function teardown() {
    if (stream) stream.getTracks().forEach((t) => t.stop());
    if (ctx) ctx.close();
    stream = ctx = playback = null;
    meter.value = 0;
    startButton.disabled = false;
    hangupButton.disabled = true;
  }

  async function openAudio() {
    stream = await navigator.mediaDevices.getUserMedia({
      audio: { channelCount: 1, echoCancellation: true, noiseSuppression: true, autoGainControl: true },
    });
    try {
      ctx = new AudioContext({ sampleRate: 16000 });
    } catch (err) {
      ctx = new AudioContext(); // the worklets resample to and from 16 kHz
    }
    await ctx.audioWorklet.addModule(root.dataset.worklets);
    const capture = new AudioWorkletNode(ctx, "cc-capture", { numberOfInputs: 1, numberOfOutputs: 1 });
    capture.port.onmessage = (event) => {
      if (event.data instanceof ArrayBuffer) {
        if (ws && ws.readyState === WebSocket.OPEN) {
          ws.send(event.data);
          stats.framesSent++;
        }
      } else if (event.data && event.data.level != null) {
        meter.value = event.data.level;
      }
    };
    const mute = new GainNode(ctx, { gain: 0 }); // keeps the capture node pulled, plays nothing
    ctx.createMediaStreamSource(stream).connect(capture).connect(mute).connect(ctx.destination);
    playback = new AudioWorkletNode(ctx, "cc-playback", {
      numberOfInputs: 0,
      numberOfOutputs: 1,
      outputChannelCount: [1],
      processorOptions: { jitterMs: 60 },
    });
    playback.connect(ctx.destination);
    await ctx.resume();
  }

  async function start() {
    startButton.disabled = true;
    errorEl.hidden = true;
    recordEl.hidden = true;
    transcriptEl.replaceChildren();
    stats.turns = [];
    setState("connecting");
    try {
      await openAudio();
    } catch (err) {
      showError("Could not open the microphone: " + err.message);
      setState("ready");
      teardown();
      return;
    }
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    ws = new WebSocket(scheme + "//" + location.host + root.dataset.wsPath);
    ws.binaryType = "arraybuffer";
    let opened = false;
    ws.onopen = () => {
      opened = true;
      hangupButton.disabled = false;
    };
    ws.onmessage = onMessage;
    ws.onclose = () => {
      if (!opened) showError("The server refused the test call (are you still signed in as staff?).");
      if (stats.state !== "agent hung up") setState("ended");
      ws = null;
      teardown();
    };
  }

  function hangup() {
    hangupButton.disabled = true;
    if (ws && ws.readyState === WebSocket.OPEN) {
      ws.send(JSON.stringify({ type: "hangup" }));
      setState("hanging up");
    }
  }

  startButton.addEventListener("click", start);
  hangupButton.addEventListener("click", hangup);
})();
