// The Assistant panel: a model's answer over POST, as AI APIs stream it, read with fetch.
//
// EventSource can only GET, with no body and no headers of the page's choosing, so an answer
// to a question sent as JSON is read another way: fetch posts it, and the response body, an
// event stream, is read as it arrives by readEvents below, a small reader written to the
// WHATWG rules (the page has no build step to bring in a library). Stop aborts the fetch, which
// closes the response; the server notices and stops generating, and the panel shows how many
// tokens it generated, read from /metrics. A resumable answer is finished by the server even
// if the page goes away: its id and last event id are kept in localStorage, and after a reload
// GET /v1/streams/{id} with Last-Event-ID sends the rest.
"use strict";

// Calls onEvent({ id, event, data }) for each event of the stream `body` (a ReadableStream of
// bytes), and ignores comments, as EventSource does. Lines end with CRLF, LF or CR; a CR at the
// end of a chunk waits for the next one, which may start with its LF.
async function readEvents(body, onEvent) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  let event = { id: null, event: "message", data: [] };
  const line = (text) => {
    if (text === "") {
      if (event.data.length) onEvent({ ...event, data: event.data.join("\n") });
      event = { id: event.id, event: "message", data: [] };
      return;
    }
    if (text.startsWith(":")) return;
    const colon = text.indexOf(":");
    const field = colon < 0 ? text : text.slice(0, colon);
    let value = colon < 0 ? "" : text.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "data") event.data.push(value);
    else if (field === "event") event.event = value;
    else if (field === "id" && !value.includes("\0")) event.id = value;
  };
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    const held = buffer.endsWith("\r") ? "\r" : "";
    const lines = (held ? buffer.slice(0, -1) : buffer).split(/\r\n|\r|\n/);
    buffer = lines.pop() + held;
    lines.forEach(line);
  }
}

// The server's count of tokens generated, from /metrics.
async function tokensGenerated() {
  const text = await (await fetch("/metrics")).text();
  const line = text.split("\n").find((l) => l.startsWith("sse_answer_tokens_total "));
  return line ? Number(line.split(" ")[1]) : NaN;
}

function setUpAssistant(panel) {
  const form = panel.querySelector(".ask-form");
  const stop = panel.querySelector(".stop");
  const answer = panel.querySelector(".answer");
  const state = panel.querySelector(".answer-state");
  const read = panel.querySelector(".tokens-read");
  const generated = panel.querySelector(".tokens-generated");
  const KEPT = "sse-demo-answer";
  let controller = null;
  let current = null; // { id, lastId, text, question, resumable, before }

  const show = (what) => {
    state.textContent = what;
    state.dataset.state = what;
  };
  const keep = () => {
    if (current?.resumable && current.id) localStorage.setItem(KEPT, JSON.stringify(current));
  };
  const forget = () => localStorage.removeItem(KEPT);

  // Reads one response of answer events into `current`; true when [DONE] came.
  const readAnswer = async (response) => {
    let done = false;
    await readEvents(response.body, ({ id, data }) => {
      if (id !== null) current.lastId = id;
      if (data === "[DONE]") {
        done = true;
        return;
      }
      const chunk = JSON.parse(data);
      current.id = chunk.id;
      const content = chunk.choices?.[0]?.delta?.content;
      if (content) {
        current.text += content;
        current.tokens += 1;
        answer.textContent = current.text;
        read.textContent = String(current.tokens);
      }
      keep();
    });
    return done;
  };

  const follow = async (request, init) => {
    controller = new AbortController();
    stop.disabled = false;
    form.elements.ask.disabled = true;
    try {
      const response = await fetch(request, { ...init, signal: controller.signal });
      if (response.status === 204) return show("done");
      if (!response.ok) {
        const error = await response.json().catch(() => ({}));
        answer.textContent = error.error?.message ?? `the server answered ${response.status}`;
        forget();
        return show("refused");
      }
      show("streaming");
      const done = await readAnswer(response);
      if (done) forget();
      show(done ? "done" : "cut");
    } catch (failure) {
      if (failure.name !== "AbortError") show(`failed: ${failure.message}`);
    } finally {
      stop.disabled = true;
      form.elements.ask.disabled = false;
    }
  };

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const question = form.elements.question.value;
    const resumable = form.elements.resumable.checked;
    current = { id: null, lastId: null, text: "", tokens: 0, question, resumable };
    current.before = await tokensGenerated();
    answer.textContent = "";
    read.textContent = "0";
    generated.textContent = "–";
    show("thinking");
    const body = {
      model: "stand-in",
      messages: [{ role: "user", content: question }],
      stream: true,
      ...(resumable ? { stream_options: { resumable: true } } : {}),
    };
    await follow("/v1/chat/completions", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
    });
  });

  // Stop means stop: a resumable answer is deleted (the server would finish it otherwise),
  // and the response is closed. Then the server's count says what it generated for it.
  stop.addEventListener("click", async () => {
    if (current?.resumable && current.id) {
      await fetch(`/v1/streams/${encodeURIComponent(current.id)}`, { method: "DELETE" });
    }
    controller?.abort();
    forget();
    show("stopped");
    await new Promise((resolve) => setTimeout(resolve, 500));
    const count = (await tokensGenerated()) - current.before;
    generated.textContent = String(count);
    generated.dataset.count = String(count);
  });

  // After a reload: the kept answer's text so far, then the rest from the server.
  const kept = JSON.parse(localStorage.getItem(KEPT) ?? "null");
  if (kept?.id) {
    current = kept;
    form.elements.question.value = kept.question;
    form.elements.resumable.checked = true;
    answer.textContent = kept.text;
    read.textContent = String(kept.tokens);
    show("resuming");
    const headers = kept.lastId === null ? {} : { "Last-Event-ID": kept.lastId };
    follow(`/v1/streams/${encodeURIComponent(kept.id)}`, { headers });
  }
}

setUpAssistant(document.querySelector(".panel.assistant"));
