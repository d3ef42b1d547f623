// WebSocket clients for bench/live.py: `node client.mjs URL TOKEN COUNT`. Writes "connected" on stderr
// once every client has its snapshot; on SIGTERM prints one JSON line: frames, snapshots after falling
// behind, seq gaps, fix→frame latencies in ms (arrival minus the frame's recorded_at), its own CPU, and
// the span from the first frame's arrival to the last one's.
import WebSocket from "ws";

const [url, token, countText] = process.argv.slice(2);
const count = Number(countText);
let ready = 0, frames = 0, snapshots = 0, gaps = 0, first = 0, lastArrival = 0;
const latencies = [];
const epochMs = (recordedAt) => Date.parse(recordedAt) + Number(recordedAt.slice(23, 26)) / 1000;

for (let i = 0; i < count; i++) {
  const ws = new WebSocket(url, { headers: { Authorization: `Bearer ${token}` }, perMessageDeflate: false });
  let last = -1;
  ws.on("message", (data) => {
    const arrived = performance.timeOrigin + performance.now();
    const frame = JSON.parse(data);
    if (frame.type === "snapshot") {
      if (last >= 0) snapshots += 1;
      else if (++ready === count) console.error("connected");
      last = frame.seq;
      return;
    }
    if (frame.type !== "position") return;
    if (last >= 0 && frame.seq !== last + 1) gaps += 1;
    last = frame.seq;
    frames += 1;
    if (!first) first = arrived;
    lastArrival = arrived;
    latencies.push(arrived - epochMs(frame.recorded_at));
  });
  ws.on("error", (error) => console.error(`client ${i}: ${error.message}`));
}

process.on("SIGTERM", () => {
  const cpu = process.cpuUsage();
  process.stdout.write(JSON.stringify({ frames, snapshots, gaps, latencies, cpu_s: (cpu.user + cpu.system) / 1e6,
    span_s: (lastArrival - first) / 1000 }) + "\n",
    () => process.exit(0));
});
