// The live map: sign in (token → HttpOnly session cookie), open the live stream, and move the
// markers as frames arrive. No polling: the stream sends a snapshot, then every event in seq order;
// on reconnect it resumes with ?since=<last seq>. A position frame is applied only when its
// recorded_at is newer than what the map shows (late fixes never move a vehicle back).
(() => {
  "use strict";
  const main = document.getElementById("harbor-map");
  const config = JSON.parse(main.dataset.config);
  const vehicles = new Map(); // vehicle_id -> {vehicle, marker, row}
  let seq = null;
  let socket = null;
  let attempts = 0;
  let map = null;

  const byId = (id) => document.getElementById(id);

  function setConnection(state, text) {
    const badge = byId("connection");
    badge.dataset.state = state;
    badge.textContent = text;
  }

  function showSignIn(message) {
    main.hidden = true;
    byId("sign-out").hidden = true;
    byId("sign-in").hidden = false;
    byId("sign-in-error").textContent = message || "";
  }

  function showMap() {
    byId("sign-in").hidden = true;
    byId("sign-out").hidden = false;
    main.hidden = false;
    if (!map) {
      map = L.map("map", { zoomControl: true }).setView([20, 0], 2);
      L.tileLayer(config.tiles, { attribution: config.attribution, maxZoom: 19 }).addTo(map);
    }
  }

  async function start() {
    const response = await fetch("/api/v1/session", { credentials: "same-origin" });
    if (!response.ok) return showSignIn();
    const body = await response.json();
    if (!body.fleets.includes(config.fleetId)) return showSignIn(`This token may not watch fleet ${config.fleetId}.`);
    showMap();
    connect();
  }

  async function signIn(event) {
    event.preventDefault();
    const token = byId("token").value.trim();
    byId("token").value = "";
    const response = await fetch("/api/v1/session", {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json" }, body: JSON.stringify({ token }),
    });
    if (!response.ok) {
      const problem = await response.json().catch(() => ({}));
      return showSignIn((problem.error && problem.error.message) || "Sign-in failed.");
    }
    start();
  }

  async function signOut() {
    if (socket) { socket.onclose = null; socket.close(1000); socket = null; }
    await fetch("/api/v1/session", { method: "DELETE", credentials: "same-origin" });
    setConnection("idle", "not connected");
    showSignIn();
  }

  function connect() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const since = seq === null ? "" : `?since=${seq}`;
    const url = `${scheme}://${location.host}/api/v1/fleets/${encodeURIComponent(config.fleetId)}/live${since}`;
    setConnection(attempts ? "reconnecting" : "connecting", attempts ? "reconnecting…" : "connecting…");
    socket = new WebSocket(url);
    socket.onopen = () => { attempts = 0; setConnection("live", "live"); };
    socket.onmessage = (message) => handle(JSON.parse(message.data));
    socket.onclose = () => {
      socket = null;
      attempts += 1;
      const delay = Math.min(15000, 500 * 2 ** Math.min(attempts, 5)) * (0.75 + Math.random() / 2);
      setConnection("reconnecting", `reconnecting in ${Math.round(delay / 1000)} s…`);
      setTimeout(async () => {
        const check = await fetch("/api/v1/session", { credentials: "same-origin" }).catch(() => null);
        if (check && check.status === 401) return showSignIn("Your session has ended; sign in again.");
        connect();
      }, delay);
    };
  }

  function handle(frame) {
    if (frame.type === "snapshot") {
      seq = frame.seq;
      for (const id of [...vehicles.keys()]) remove(id);
      frame.vehicles.forEach(upsert);
      fit();
    } else if (frame.type === "position") {
      if (seq !== null && frame.seq <= seq) return;
      seq = frame.seq;
      const known = vehicles.get(frame.vehicle_id);
      if (!known || frame.recorded_at > known.vehicle.recorded_at) upsert({ ...frame, status: "online" });
    } else if (frame.type === "vehicle_status") {
      if (seq !== null && frame.seq <= seq) return;
      seq = frame.seq;
      const known = vehicles.get(frame.vehicle_id);
      if (known) upsert({ ...known.vehicle, status: frame.status });
    } // other frame types are ignored
    byId("vehicle-count").textContent = String(vehicles.size);
  }

  function upsert(vehicle) {
    let entry = vehicles.get(vehicle.vehicle_id);
    const created = !entry;
    if (!entry) {
      const marker = L.circleMarker([vehicle.lat, vehicle.lng], { radius: 8, weight: 2, className: "vehicle-marker" });
      marker.bindTooltip(vehicle.vehicle_id, { permanent: true, direction: "right", className: "vehicle-label" });
      marker.addTo(map);
      const row = document.createElement("li");
      byId("vehicles").appendChild(row);
      entry = { vehicle, marker, row };
      vehicles.set(vehicle.vehicle_id, entry);
    }
    entry.vehicle = vehicle;
    const online = vehicle.status !== "offline";
    entry.marker.setLatLng([vehicle.lat, vehicle.lng]);
    entry.marker.setStyle({ color: online ? "#1f8a4c" : "#8a94a0", fillColor: online ? "#2fbf6a" : "#c3cad2", fillOpacity: 0.9 });
    const speed = vehicle.speed_kmh === null ? "speed unknown" : `${vehicle.speed_kmh.toFixed(1)} km/h`;
    entry.marker.bindPopup(`${vehicle.vehicle_id} · ${speed} · ${vehicle.recorded_at}`);
    const row = entry.row;
    row.dataset.vehicleId = vehicle.vehicle_id;
    row.dataset.lat = String(vehicle.lat);
    row.dataset.lng = String(vehicle.lng);
    row.dataset.status = vehicle.status;
    row.replaceChildren();
    const name = document.createElement("strong");
    name.textContent = vehicle.vehicle_id;
    const badge = document.createElement("span");
    badge.className = `status ${online ? "online" : "offline"}`;
    badge.textContent = online ? "online" : "offline";
    const meta = document.createElement("span");
    meta.className = "meta";
    meta.textContent = `${speed} · ${vehicle.lat.toFixed(5)}, ${vehicle.lng.toFixed(5)} · ${vehicle.recorded_at}`;
    row.append(name, badge, meta);
    if (created) sortRows();
  }

  function remove(id) {
    const entry = vehicles.get(id);
    entry.marker.remove();
    entry.row.remove();
    vehicles.delete(id);
  }

  function sortRows() {
    const list = byId("vehicles");
    [...list.children].sort((a, b) => (a.dataset.vehicleId || "").localeCompare(b.dataset.vehicleId || ""))
      .forEach((row) => list.appendChild(row));
  }

  function fit() {
    const points = [...vehicles.values()].map((entry) => [entry.vehicle.lat, entry.vehicle.lng]);
    if (points.length) map.fitBounds(points, { padding: [40, 40], maxZoom: 15 });
  }

  byId("sign-in").addEventListener("submit", signIn);
  byId("sign-out").addEventListener("click", signOut);
  start();
})();
