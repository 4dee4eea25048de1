// The side-by-side page: one column per server, each with its own EventSources to that server's
// port on this page's host. Plain JavaScript, no build step. Everything from the network is
// inserted as text, never HTML.
"use strict";

const STATES = ["CONNECTING", "OPEN", "CLOSED"];
const MAX_LOG = 8;
const SERVERS = [
  { name: "axum", port: 3000 },
  { name: "actix-web", port: 3001 },
  { name: "warp", port: 3002 },
];

// `?ports=4000,4001,4002` points the columns at other ports (the browser tests use it).
const ports = new URLSearchParams(location.search).get("ports")?.split(",") ?? [];
const columns = SERVERS.map((server, i) => makeColumn({ ...server, port: ports[i] ?? server.port }));
for (const column of columns) column.connect();
document.getElementById("reconnect").addEventListener("click", () => {
  for (const column of columns) column.connect();
});

function makeColumn({ name, port }) {
  const template = document.getElementById("column");
  const node = template.content.firstElementChild.cloneNode(true);
  document.getElementById("columns").append(node);
  const $ = (selector) => node.querySelector(selector);
  const base = `${location.protocol}//${location.hostname}:${port}`;
  node.dataset.port = port;
  $(".name").textContent = name;
  $(".origin").textContent = `:${port}`;

  let clock = null;
  let chat = null;
  let stats = null;
  // With identity on (`/health` says so), every request carries the sign-in cookie: a page on
  // this host signed in on one port is signed in on all three, since cookies do not care about
  // ports. Credentials must be asked for, across origins; without identity the servers answer
  // `Access-Control-Allow-Origin: *`, which a request with credentials may not read.
  let withCredentials = false;

  const show = () => {
    const state = clock ? STATES[clock.readyState] : "CLOSED";
    $(".state").textContent = state;
    $(".state").dataset.state = state;
    $(".last-id").textContent = stats.lastId ?? "(none)";
    $(".count").textContent = String(stats.count);
    const ms = (value) => (value === null ? "–" : `${value.toFixed(1)} ms`);
    $(".gap").textContent = ms(stats.gap);
    $(".jitter-mean").textContent = ms(stats.jitters ? stats.jitterSum / stats.jitters : null);
    $(".jitter-max").textContent = ms(stats.jitters ? stats.jitterMax : null);
  };

  const log = (list, parts, id) => {
    const item = document.createElement("li");
    if (id !== undefined) item.dataset.id = id;
    item.append(...parts);
    list.prepend(item);
    while (list.children.length > MAX_LOG) list.lastChild.remove();
  };

  const connect = async () => {
    clock?.close();
    chat?.close();
    const health = await showServer();
    withCredentials = Boolean(health?.identity) && health.identity !== "off";
    $(".ticks").replaceChildren();
    $(".chat-log").replaceChildren();
    const interval = Number(document.getElementById("interval").value);
    stats = { opened: false, lastId: null, count: 0, arrived: null, gap: null,
              jitters: 0, jitterSum: 0, jitterMax: 0 };

    clock = new EventSource(`${base}/events?interval_ms=${interval}&format=rfc3339`, { withCredentials });
    clock.onopen = () => {
      stats.opened = true;
      $(".hint").hidden = true;
      show();
    };
    clock.onmessage = (event) => {
      const now = performance.now();
      if (stats.arrived !== null) {
        stats.gap = now - stats.arrived;
        const jitter = Math.abs(stats.gap - interval);
        stats.jitters += 1;
        stats.jitterSum += jitter;
        stats.jitterMax = Math.max(stats.jitterMax, jitter);
      }
      stats.arrived = now;
      stats.lastId = event.lastEventId;
      stats.count += 1;
      log($(".ticks"), [`#${event.lastEventId} ${event.data}`], event.lastEventId);
      show();
    };
    clock.onerror = () => {
      // Never opened: nothing is listening there (the browser keeps trying, and this column
      // comes alive by itself once the server starts).
      if (!stats.opened) $(".hint").hidden = false;
      show();
    };

    chat = new EventSource(`${base}/events/chat?history=5`, { withCredentials });
    chat.addEventListener("chat", (event) => {
      const message = JSON.parse(event.data);
      const user = document.createElement("strong");
      user.textContent = message.user;
      log($(".chat-log"), [`#${message.id} `, user, `: ${message.text}`], message.id);
    });

    show();
  };

  // The server's `/health`, shown in the column; `null` when it does not answer.
  const showServer = async () => {
    try {
      const health = await (await fetch(`${base}/health`)).json();
      $(".served-by").textContent = `${health.server} ${health.version}`;
      if (health.hub === "redis") showSharedChat(health.redis);
      return health;
    } catch {
      $(".served-by").textContent = "not answering";
      $(".hint").hidden = false;
      return null;
    }
  };

  // Started with --redis, every server keeps the chat in the same Redis stream: one room.
  const showSharedChat = (redis) => {
    $(".chat-title").textContent = `Chat, shared through Redis (${redis})`;
    document.querySelector("#chat-note").textContent =
      "The servers keep the chat in one Redis stream (--redis): a message sent in any column " +
      "appears in every column, with one sequence of ids.";
  };

  const form = $(".chat-form");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const error = $(".chat-error");
    error.textContent = "";
    try {
      const response = await fetch(`${base}/chat`, {
        method: "POST",
        credentials: withCredentials ? "include" : "same-origin",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({
          user: localStorage.getItem("chat-user") ?? "compare",
          text: form.elements.text.value,
        }),
      });
      const reply = await response.json();
      if (response.ok) form.elements.text.value = "";
      else error.textContent = `${response.status}: ${reply.error}`;
    } catch (failure) {
      error.textContent = `not sent: ${failure.message}`;
    }
  });

  return { connect };
}
