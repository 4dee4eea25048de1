// The chat panel's rooms: which rooms it follows, where it is in each, and a badge per room
// counting what arrived while another room was selected. Loaded before app.js.
//
// One EventSource follows every joined room (`/events/chat?rooms=lobby,news`). Joining or
// leaving a room opens a new one, with the panel's position in each room as `lastEventId`:
// `lobby:12,news:5` (the cursor the server sends as the id of each event of a stream of several
// rooms). So a change of rooms repeats nothing already shown and loses nothing posted
// meanwhile; a room just joined starts with its recent history.
"use strict";

const ROOM_NAME = /^[a-z0-9_-]{1,32}$/;

// `bar` holds the list and the join form; `onChange` reconnects the panel.
function setUpRooms(bar, onChange) {
  const joined = ["lobby"];
  const positions = new Map(); // room -> id of the last message shown
  const unread = new Map();
  let current = "lobby";
  const list = bar.querySelector(".rooms");
  const form = bar.querySelector(".join-form");

  const render = () => {
    list.replaceChildren(...joined.map((room) => roomItem(room)));
    bar.closest(".panel").querySelectorAll(".to").forEach((to) => { to.textContent = current; });
  };

  const roomItem = (room) => {
    const item = document.createElement("li");
    item.dataset.room = room;
    const select = document.createElement("button");
    select.type = "button";
    select.className = "room";
    select.setAttribute("aria-pressed", String(room === current));
    const badge = document.createElement("span");
    badge.className = "badge";
    badge.textContent = String(unread.get(room) ?? 0);
    if (!unread.get(room)) badge.dataset.zero = "";
    select.append(room, " ", badge);
    select.addEventListener("click", () => {
      current = room;
      unread.set(room, 0);
      render();
    });
    item.append(select);
    if (joined.length > 1) {
      const leave = document.createElement("button");
      leave.type = "button";
      leave.className = "leave";
      leave.title = `leave ${room}`;
      leave.textContent = "×";
      leave.addEventListener("click", () => {
        joined.splice(joined.indexOf(room), 1);
        if (current === room) current = joined[0];
        render();
        onChange();
      });
      item.append(leave);
    }
    return item;
  };

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const room = form.elements.room.value.trim();
    const error = form.querySelector(".join-error");
    if (!ROOM_NAME.test(room)) {
      error.textContent = "a room name is 1 to 32 characters of a-z, 0-9, - and _";
      return;
    }
    if (joined.length >= 16) {
      error.textContent = "a page follows at most 16 rooms";
      return;
    }
    error.textContent = "";
    form.elements.room.value = "";
    if (!joined.includes(room)) joined.push(room);
    current = room;
    render();
    onChange();
  });

  render();
  return {
    // The rooms to follow, for `?rooms=`.
    list: () => joined.join(","),
    // Where to resume: the known position in each joined room, as a cursor.
    cursor: () => {
      const pairs = joined.filter((room) => positions.has(room))
        .map((room) => `${room}:${positions.get(room)}`);
      return pairs.length ? pairs.join(",") : null;
    },
    // A chat event arrived: remember where the stream is in its rooms, count it if unseen.
    record: (event, message) => {
      for (const pair of event.lastEventId.split(",")) {
        const [room, id] = pair.includes(":") ? pair.split(":") : [message.room, pair];
        if (joined.includes(room)) positions.set(room, id);
      }
      if (message.room !== current) {
        unread.set(message.room, (unread.get(message.room) ?? 0) + 1);
        render();
      }
    },
    // The room a message is sent to.
    current: () => current,
    // Start over: forget every position.
    forget: () => positions.clear(),
    // Follow exactly these private rooms (the ones the token opens), keeping the public ones
    // and every position (a room joined again resumes where it was); true if the list changed.
    setPrivate: (allowed) => {
      const before = joined.join(",");
      for (const room of [...joined]) {
        if (room.startsWith("_") && !allowed.includes(room)) joined.splice(joined.indexOf(room), 1);
      }
      for (const room of allowed) {
        if (!joined.includes(room) && joined.length < 16) joined.push(room);
      }
      if (!joined.includes(current)) current = joined[0];
      render();
      return joined.join(",") !== before;
    },
  };
}
