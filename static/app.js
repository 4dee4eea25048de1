// The demo page: one EventSource per panel, showing exactly what the browser sees.
// Plain JavaScript, no build step. Everything from the network is inserted as text, never HTML.
"use strict";

const STATES = ["CONNECTING", "OPEN", "CLOSED"];
const MAX_LOG = 50;

for (const panel of document.querySelectorAll(".panel")) {
  setUpPanel(panel);
}
showFramework();

function setUpPanel(panel) {
  panel.append(document.getElementById("panel-controls").content.cloneNode(true));
  const $ = (selector) => panel.querySelector(selector);
  if (!panel.dataset.format) $(".format-label").remove();

  let source = null;
  let lastEventId = null;
  let reconnects = 0;

  const showState = () => {
    $(".state").textContent = source ? STATES[source.readyState] : "CLOSED";
    $(".state").dataset.state = $(".state").textContent;
    $(".last-id").textContent = lastEventId ?? "(none)";
    $(".reconnects").textContent = String(reconnects);
  };

  const log = (text, kind = "event") => {
    const item = document.createElement("li");
    item.className = kind;
    const time = document.createElement("time");
    time.textContent = new Date().toLocaleTimeString();
    item.append(time, " ", text);
    $(".log").prepend(item);
    while ($(".log").children.length > MAX_LOG) $(".log").lastChild.remove();
  };

  const connect = () => {
    disconnect();
    const params = new URLSearchParams({ interval_ms: $(".interval").value });
    if (panel.dataset.format) params.set("format", $(".format").value);
    // A browser sends Last-Event-ID by itself only when it reconnects. After a manual
    // disconnect we pass it in the query, which the server reads when the header is absent.
    if (lastEventId !== null) params.set("lastEventId", lastEventId);
    const url = `${panel.dataset.path}?${params}`;
    source = new EventSource(url);
    log(`connecting to ${url}`, "info");

    source.onopen = () => {
      showState();
      log("open", "info");
    };
    source.onmessage = (event) => {
      lastEventId = event.lastEventId;
      log(`id ${event.lastEventId}: ${event.data}`);
      showState();
    };
    source.addEventListener("end", (event) => {
      log(`event "end": ${event.data} (closing, nothing more will come)`, "info");
      disconnect();
    });
    source.onerror = () => {
      if (source.readyState === EventSource.CLOSED) {
        // The browser gave up: the server answered 204 or an error status.
        log("closed by the server (a 204 says: nothing left to send)", "info");
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
    reconnects = 0;
    $(".log").replaceChildren();
    connect();
  });
  connect();
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
