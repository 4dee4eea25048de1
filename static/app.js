// The demo page: one EventSource per panel, showing exactly what the browser sees.
// Plain JavaScript, no build step. Everything from the network is inserted as text, never HTML.
"use strict";

const STATES = ["CONNECTING", "OPEN", "CLOSED"];
const MAX_LOG = 50;

// "h2" or "http/1.1": how the browser fetched this page, and so how its streams will travel.
const PROTOCOL = performance.getEntriesByType("navigation")[0]?.nextHopProtocol || "http/1.1";

// `/?interval_ms=2000` sets every panel's interval before it connects.
const INTERVAL = new URLSearchParams(location.search).get("interval_ms");

for (const panel of document.querySelectorAll(".panel[data-path]")) {
  setUpPanel(panel);
}
showFramework();
showProtocol();

function setUpPanel(panel) {
  panel.append(document.getElementById("panel-controls").content.cloneNode(true));
  const $ = (selector) => panel.querySelector(selector);
  const isChat = Boolean(panel.dataset.chat);
  if (!panel.dataset.format) $(".format-label").remove();
  if (isChat) $(".interval-label").remove();
  else if (INTERVAL) $(".interval").value = INTERVAL;

  let source = null;
  let lastEventId = null;
  let reconnects = 0;
  // The chat follows rooms (rooms.js); a change of rooms connects again from where it was.
  const rooms = isChat ? setUpRooms(panel.querySelector(".rooms-bar"), () => connect()) : null;
  // With identity on, who the page is (identity.js): a new sign-in follows the private rooms
  // its token opens, and the chat signs posts with its name, so the name field goes.
  let signedInAs = null;
  const identity = isChat ? setUpIdentity(panel.querySelector(".identity"), (me) => {
    panel.querySelector(".chat-form .name").hidden = me.user !== null;
    const changed = rooms.setPrivate(me.rooms);
    if (changed || me.user !== signedInAs) {
      signedInAs = me.user;
      if (source) connect();
    }
  }) : null;

  const showState = () => {
    $(".state").textContent = source ? STATES[source.readyState] : "CLOSED";
    $(".state").dataset.state = $(".state").textContent;
    $(".last-id").textContent = lastEventId ?? "(none)";
    $(".reconnects").textContent = String(reconnects);
  };

  // `parts` are strings and elements; `append` inserts strings as text, never as HTML.
  const log = (parts, kind = "event", at = new Date(), id = undefined) => {
    const item = document.createElement("li");
    item.className = kind;
    if (id !== undefined) item.dataset.id = id;
    const time = document.createElement("time");
    time.textContent = at.toLocaleTimeString();
    item.append(time, " ", ...[parts].flat());
    $(".log").prepend(item);
    while ($(".log").children.length > MAX_LOG) $(".log").lastChild.remove();
  };

  const connect = () => {
    disconnect();
    const params = new URLSearchParams();
    if (!isChat) params.set("interval_ms", $(".interval").value);
    if (panel.dataset.format) params.set("format", $(".format").value);
    // A browser sends Last-Event-ID by itself only when it reconnects. After a manual
    // disconnect we pass it in the query, which the server reads when the header is absent.
    // The chat passes its position in each of its rooms, which also covers a change of rooms.
    if (rooms) {
      params.set("rooms", rooms.list());
      const cursor = rooms.cursor();
      if (cursor !== null) params.set("lastEventId", cursor);
    } else if (lastEventId !== null) {
      params.set("lastEventId", lastEventId);
    }
    const url = params.size ? `${panel.dataset.path}?${params}` : panel.dataset.path;
    source = new EventSource(url);
    log(`connecting to ${url}`, "info");

    source.onopen = () => {
      showState();
      log("open", "info");
    };
    source.onmessage = (event) => {
      lastEventId = event.lastEventId;
      log(`id ${event.lastEventId}: ${event.data}`, "event", new Date(), event.lastEventId);
      showState();
    };
    // Chat messages are `event: chat`, so `onmessage` does not see them.
    source.addEventListener("chat", (event) => {
      lastEventId = event.lastEventId;
      const message = JSON.parse(event.data);
      const user = document.createElement("strong");
      user.textContent = message.user;
      const text = document.createElement("span");
      text.className = "text";
      text.textContent = message.text;
      const room = document.createElement("span");
      room.className = "room-tag";
      room.textContent = message.room;
      log([room, ` #${message.id} `, user, ": ", text], "chat", new Date(message.time), message.id);
      rooms?.record(event, message);
      showState();
    });
    // With identity on: the token this stream was opened with has expired. The chat stops
    // following its private rooms and goes on with the public ones; signing in again resumes
    // the private ones from where they were. Other panels let the browser reconnect.
    source.addEventListener("expired", (event) => {
      const { user } = JSON.parse(event.data);
      log(`expired: ${user}'s token has expired, and the server ended the stream`, "info");
      if (identity) {
        identity.expired();
        rooms.setPrivate([]);
        signedInAs = null;
        connect();
      }
    });
    source.addEventListener("lagged", (event) => {
      const { missed, room } = JSON.parse(event.data);
      log(`lagged: ${missed} messages of ${room} were lost, they had left the server's history`, "info");
    });
    // The paragraph's last event. The page could close the stream here; it lets the browser do
    // what it does when a server ends a stream instead: reconnect with Last-Event-ID 5, which
    // the server answers with 204 No Content, and that stops the browser for good.
    source.addEventListener("end", (event) => {
      log(`event "end": ${event.data} The server now closes the stream.`, "info");
    });
    source.onerror = () => {
      if (source.readyState === EventSource.CLOSED) {
        // The browser gave up: the server answered 204, or another status than 200.
        log("stopped: the server answered 204 No Content (nothing is left to send), or refused the stream (401 or 403: its token does not open these rooms)", "info");
        log("the browser will not reconnect (press Start over to read it again)", "info");
      } else {
        reconnects += 1;
        log(`connection lost, reconnecting with Last-Event-ID ${lastEventId ?? "(none)"}`, "info");
      }
      showState();
    };
    showState();
  };

  const disconnect = () => {
    if (source) {
      source.close();
      source = null;
      log("disconnected", "info");
    }
    showState();
  };

  $(".connect").addEventListener("click", connect);
  $(".disconnect").addEventListener("click", disconnect);
  $(".start-over").addEventListener("click", () => {
    lastEventId = null;
    rooms?.forget();
    reconnects = 0;
    $(".log").replaceChildren();
    connect();
  });
  if (isChat) setUpChatForm(panel.querySelector(".chat-form"), rooms);
  // data-autoconnect="h2": on load only when the streams share one HTTP/2 connection.
  const auto = panel.dataset.autoconnect;
  if (auto === undefined || (auto === "h2" && PROTOCOL === "h2")) connect();
}

// Sending is a plain fetch: EventSource only receives. The server answers 201 {"id": n},
// or a status and {"error": "..."} naming what was wrong, which is shown as it is.
function setUpChatForm(form, rooms) {
  const { user, text } = form.elements;
  const error = form.querySelector(".chat-error");
  user.value = localStorage.getItem("chat-user") ?? `guest-${Math.floor(Math.random() * 1000)}`;

  const send = async () => {
    error.textContent = "";
    localStorage.setItem("chat-user", user.value);
    try {
      const response = await fetch(`/chat/${rooms.current()}`, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ user: user.value, text: text.value }),
      });
      const reply = await response.json();
      if (response.ok) {
        text.value = "";
      } else {
        error.textContent = `${response.status}: ${reply.error}`;
      }
    } catch (failure) {
      error.textContent = `not sent: ${failure.message}`;
    }
  };

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    send();
  });
  text.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey) {
      event.preventDefault();
      form.requestSubmit();
    }
  });
}

function showProtocol() {
  document.getElementById("protocol").textContent =
    PROTOCOL === "h2" ? "HTTP/2 (h2): every stream shares one connection" : PROTOCOL;
  const link = document.getElementById("https-link");
  link.href = `https://localhost:${location.port || 443}/`;
  if (PROTOCOL === "h2") document.getElementById("six-connections").classList.add("h2");
}

async function showFramework() {
  const target = document.getElementById("framework");
  try {
    const health = await (await fetch("/health")).json();
    target.textContent = health.server;
  } catch (error) {
    target.textContent = "an unknown server";
  }
}
