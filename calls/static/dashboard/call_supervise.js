// The supervise panel of a live call: Listen plays the call (caller and agent mixed, 16 kHz), Take
// over sends the microphone to the caller instead of the agent, Hand back returns the call to it.
// One WebSocket per page; window.supervise holds what happened, for the console and the tests.
(function () {
  "use strict";
  const root = document.getElementById("supervise");
  if (!root) return;
  const listenButton = document.getElementById("listen");
  const takeButton = document.getElementById("take-over");
  const backButton = document.getElementById("hand-back");
  const stateEl = document.getElementById("supervise-state");
  const stats = (window.supervise = {
    state: "idle",
    chunksReceived: 0,
    loudestChunkRms: 0,
    micChunksSent: 0,
    loudestMicRms: 0,
    player: null, // what the worklet played: chunks, played, loud, peak, dropped, underruns, bufferedMs
    takenBy: "",
    mine: false,
    error: "",
  });
  let ws = null;
  let ctx = null;
  let player = null;
  let mic = null;
  let micNode = null;
  let listening = false;

  function say(text) {
    stateEl.textContent = text;
  }

  function rms(buffer) {
    const pcm = new Int16Array(buffer);
    let sum = 0;
    for (let i = 0; i < pcm.length; i++) sum += pcm[i] * pcm[i];
    return pcm.length ? Math.sqrt(sum / pcm.length) : 0;
  }

  async function audio() {
    if (ctx) return ctx;
    try {
      ctx = new AudioContext({ sampleRate: 16000 });
    } catch (err) {
      ctx = new AudioContext();
    }
    await ctx.audioWorklet.addModule(root.dataset.worklets);
    player = new AudioWorkletNode(ctx, "cc-listen", { numberOfInputs: 0, numberOfOutputs: 1, outputChannelCount: [1] });
    player.port.onmessage = (event) => {
      stats.player = event.data;
    };
    player.connect(ctx.destination);
    await ctx.resume();
    return ctx;
  }

  function socket() {
    if (ws && ws.readyState <= WebSocket.OPEN) return Promise.resolve(ws);
    return new Promise((resolve, reject) => {
      const scheme = window.location.protocol === "https:" ? "wss:" : "ws:";
      ws = new WebSocket(`${scheme}//${window.location.host}${root.dataset.socket}`);
      ws.binaryType = "arraybuffer";
      let opened = false;
      ws.onopen = () => {
        opened = true;
        resolve(ws);
      };
      ws.onmessage = onMessage;
      ws.onclose = (event) => {
        ws = null;
        if (!opened || event.code === 4403) fail("The server refused: sign in again as staff, then reload the page.");
        else if (event.code === 4404) fail("This call is not in progress any more.");
        reset();
        reject(new Error(`closed ${event.code}`));
      };
    });
  }

  let unanswered = null;
  function send(command) {
    if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ type: command }));
    if (command === "listen" || command === "take_over") {
      clearTimeout(unanswered);
      unanswered = setTimeout(() => {
        fail(
          "The call did not answer: it may just have ended, or it is held by a process this server cannot " +
            "reach (in embedded mode only calls the web process holds; set REDIS_URL for every process)."
        );
      }, 5000);
    }
  }

  function fail(text) {
    stats.error = text;
    say(text);
  }

  function reset() {
    listening = false;
    stopMic();
    listenButton.textContent = "Listen";
    backButton.hidden = true;
    takeButton.hidden = false;
    stats.mine = false;
  }

  function onMessage(event) {
    if (event.data instanceof ArrayBuffer) {
      stats.chunksReceived++;
      stats.loudestChunkRms = Math.max(stats.loudestChunkRms, rms(event.data));
      if (player) player.port.postMessage(event.data, [event.data]);
      return;
    }
    let message;
    try {
      message = JSON.parse(event.data);
    } catch (err) {
      return;
    }
    if (message.type === "state" || message.type === "refused") clearTimeout(unanswered);
    if (message.type === "state") {
      stats.takenBy = message.taken_by;
      stats.mine = message.mine;
      if (message.mine) {
        stats.state = "taken over";
        say("You have the call: the caller hears you, the agent is silent.");
        startMic();
      } else {
        stopMic();
        stats.state = listening ? "listening" : "idle";
        say(message.taken_by ? `${message.taken_by} has taken over the call.` : listening ? "Listening." : "Not listening.");
      }
      takeButton.hidden = message.mine;
      backButton.hidden = !message.mine;
    } else if (message.type === "refused") {
      fail(message.reason);
    } else if (message.type === "listening" && !message.on) {
      listening = false;
    } else if (message.type === "ended") {
      stats.state = "ended";
      say("The call has ended.");
      listenButton.disabled = takeButton.disabled = backButton.disabled = true;
    }
  }

  async function startMic() {
    if (mic) return;
    try {
      mic = await navigator.mediaDevices.getUserMedia({
        audio: { channelCount: 1, echoCancellation: true, noiseSuppression: true, autoGainControl: true },
      });
    } catch (err) {
      fail("No microphone: allow this page to use it, then take over again.");
      send("hand_back");
      return;
    }
    await audio();
    micNode = new AudioWorkletNode(ctx, "cc-mic", { numberOfInputs: 1, numberOfOutputs: 1 });
    micNode.port.onmessage = (event) => {
      if (ws && ws.readyState === WebSocket.OPEN && stats.mine) {
        stats.loudestMicRms = Math.max(stats.loudestMicRms, rms(event.data));
        ws.send(event.data);
        stats.micChunksSent++;
      }
    };
    const mute = new GainNode(ctx, { gain: 0 }); // keeps the node pulled; you do not hear yourself
    ctx.createMediaStreamSource(mic).connect(micNode).connect(mute).connect(ctx.destination);
  }

  function stopMic() {
    if (mic) mic.getTracks().forEach((t) => t.stop());
    if (micNode) micNode.disconnect();
    mic = micNode = null;
  }

  listenButton.addEventListener("click", async () => {
    if (listening) {
      send("stop");
      listening = false;
      listenButton.textContent = "Listen";
      stats.state = stats.mine ? "taken over" : "idle";
      if (!stats.mine) say("Not listening.");
      return;
    }
    try {
      await audio();
      await socket();
    } catch (err) {
      return;
    }
    send("listen");
    listening = true;
    listenButton.textContent = "Stop listening";
    stats.state = "listening";
    say("Listening.");
  });

  takeButton.addEventListener("click", async () => {
    try {
      await audio();
      await socket();
    } catch (err) {
      return;
    }
    listening = true;
    listenButton.textContent = "Stop listening";
    say("Taking over…");
    send("take_over");
  });

  backButton.addEventListener("click", () => {
    send("hand_back");
    say("Handing back to the agent…");
  });
})();
