// The chat panel's sign-in: who the page is, with identity on. Loaded before app.js.
//
// The token lives in an HttpOnly cookie, which no script can read (so no injected script can
// steal it) and which the browser sends by itself with every EventSource and fetch to this
// site. So the page asks the server who it is (`GET /me`) instead of reading the token, signs
// in with `POST /login` (the demo sign-in of `--demo-login`) and out with `POST /logout`.
// When the token expires, the server ends the stream with `event: expired`: the page closes
// it, says so, and after a new sign-in connects again from its last id, losing nothing.
"use strict";

// `box` is the panel's `.identity`; `onChange(me)` reconnects the chat as the new identity.
function setUpIdentity(box, onChange) {
  const who = box.querySelector(".who");
  const form = box.querySelector(".login-form");
  const logout = box.querySelector(".logout");
  const error = box.querySelector(".login-error");
  let me = { identity: "off", user: null, rooms: [] };
  let timer = null;

  const render = () => {
    box.hidden = me.identity === "off";
    const signedIn = me.user !== null;
    form.hidden = signedIn || !me.login;
    logout.hidden = !signedIn || !me.login;
    clearInterval(timer);
    if (signedIn) {
      const show = () => {
        const left = Math.max(0, me.exp - Math.floor(Date.now() / 1000));
        const rooms = me.rooms.length ? `, private rooms ${me.rooms.join(", ")}` : "";
        who.textContent = `signed in as ${me.user}${rooms}; the token expires in ${left} s`;
      };
      show();
      timer = setInterval(show, 1000);
    } else if (me.login) {
      who.textContent = me.problem ? `not signed in: ${me.problem}` : "not signed in: you read the public rooms, and need to sign in to post";
    } else {
      who.textContent = "this server checks tokens minted by its application; it has no sign-in of its own (--demo-login)";
    }
  };

  const refresh = async () => {
    try {
      me = await (await fetch("/me")).json();
    } catch (failure) {
      me = { identity: "off", user: null, rooms: [] };
    }
    render();
    onChange(me);
  };

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.textContent = "";
    const rooms = form.elements.rooms.value.split(",").map((r) => r.trim()).filter(Boolean);
    const body = { user: form.elements.user.value, rooms, ttl_secs: Number(form.elements.ttl.value) };
    const response = await fetch("/login", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
    });
    if (!response.ok) {
      error.textContent = `${response.status}: ${(await response.json()).error}`;
      return;
    }
    await refresh();
  });
  logout.addEventListener("click", async () => {
    await fetch("/logout", { method: "POST" });
    await refresh();
  });

  refresh();
  return {
    // The server's identity mode and who the page is (see `GET /me`).
    me: () => me,
    // The stream said `expired`: the cookie is gone too (it lived as long as the token).
    expired: () => {
      me = { ...me, user: null, rooms: [], problem: "your sign-in expired; sign in again to go on from where the chat stopped" };
      render();
    },
  };
}
