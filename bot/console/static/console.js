// exchops console: the page's behaviour, plain JavaScript with no build step.
//
// The server renders every message (html/template escapes what people typed), so this
// file only places those fragments, sends what people type and click, and keeps
// relative times fresh. Every message has a stable id: a card that changes arrives
// again with the same id and replaces itself in place.
(function () {
  "use strict";

  const $ = (sel, root) => (root || document).querySelector(sel);
  const $$ = (sel, root) => Array.from((root || document).querySelectorAll(sel));

  const transcript = $("#transcript");
  const input = $("#command");
  const compose = $("#compose");

  const state = {
    me: "",
    epoch: "",
    seq: 0,
    skew: 0, // server clock minus this browser's, in ms
    loaded: false,
    source: null,
    history: [],
    pos: 0, // position in history while going through it with the arrows
    draft: "", // what was typed before going up in history
  };

  // ---- who you are -------------------------------------------------------------

  function people() {
    return $$("button.person").map((b) => b.dataset.person);
  }

  function choose(name) {
    state.me = name;
    for (const b of $$("button.person")) {
      b.setAttribute("aria-pressed", String(b.dataset.person === name));
    }
    document.body.dataset.me = name;
    $("#as").textContent = name ? "You are " + name + "." : "Pick who you are first.";
    try {
      localStorage.setItem("exchops.person", name);
    } catch (e) {
      // private browsing: the choice just is not remembered
    }
    dimOthers();
  }

  // Everyone sees every message (one browser plays every person), but private replies
  // meant for someone else are dimmed.
  function dimOthers() {
    for (const el of $$(".msg[data-for]", transcript)) {
      el.classList.toggle("others", el.dataset.for !== state.me);
    }
  }

  // ---- the transcript ----------------------------------------------------------

  function nearBottom() {
    return window.innerHeight + window.scrollY >= document.documentElement.scrollHeight - 120;
  }

  function fragment(html) {
    const t = document.createElement("template");
    t.innerHTML = html;
    return t.content.firstElementChild;
  }

  // keepState carries what a person was doing on a card (an open deny form, a folded
  // or unfolded section) over to its new version.
  function keepState(old, next) {
    for (const d of $$("details[data-key][data-toggled]", old)) {
      const n = $('details[data-key="' + d.dataset.key + '"]', next);
      if (n) {
        n.open = d.open;
        n.dataset.toggled = "1";
      }
    }
    const oldForm = $("form.deny-form", old);
    const nextForm = $("form.deny-form", next);
    if (oldForm && nextForm && !oldForm.hidden) {
      nextForm.hidden = false;
      const oldReason = $("input.reason", oldForm);
      const nextReason = $("input.reason", nextForm);
      nextReason.value = oldReason.value;
      if (document.activeElement === oldReason) {
        requestAnimationFrame(() => nextReason.focus());
      }
    }
  }

  function place(m) {
    const el = fragment(m.html);
    if (!el) return false;
    el.id = m.id;
    el.dataset.seq = String(m.seq);
    const old = document.getElementById(m.id);
    if (old && old.parentNode === transcript) {
      keepState(old, el);
      old.replaceWith(el);
      return false;
    }
    transcript.append(el);
    return true;
  }

  function apply(b) {
    const stick = nearBottom();
    if (b.reset) transcript.replaceChildren();
    let added = false;
    for (const m of b.messages || []) {
      added = place(m) || added;
    }
    state.seq = b.seq;
    state.epoch = b.epoch;
    if (b.now) state.skew = Date.parse(b.now) - Date.now();
    $("#empty").hidden = transcript.children.length > 0;
    dimOthers();
    refreshTimes();
    if (added && stick) window.scrollTo(0, document.documentElement.scrollHeight);
  }

  // note shows something only this page knows (a refused POST, a lost connection).
  function note(text) {
    const el = document.createElement("div");
    el.className = "msg reply error local";
    el.setAttribute("role", "alert");
    const p = document.createElement("p");
    p.className = "text";
    p.textContent = text;
    el.append(p);
    transcript.append(el);
    $("#empty").hidden = true;
    window.scrollTo(0, document.documentElement.scrollHeight);
  }

  // ---- relative times (the same words as the server's bot.Age) -------------------

  function age(ms) {
    const s = Math.floor(Math.abs(ms) / 1000);
    if (s < 60) return s + "s";
    const m = Math.floor(s / 60);
    if (m < 60) return m + "m";
    const h = Math.floor(m / 60);
    if (h < 48) return m % 60 ? h + "h " + (m % 60) + "m" : h + "h";
    return Math.floor(h / 24) + "d";
  }

  function refreshTimes() {
    const now = Date.now() + state.skew;
    for (const el of $$("[data-expires]", transcript)) {
      const t = Date.parse(el.dataset.expires);
      el.textContent = t > now ? "in " + age(t - now) : "now";
    }
    for (const el of $$("[data-since]", transcript)) {
      el.textContent = age(now - Date.parse(el.dataset.since));
    }
  }

  // ---- talking to exchops --------------------------------------------------------

  function setConn(text, live) {
    const el = $("#conn");
    el.textContent = text;
    el.classList.toggle("live", !!live);
  }

  function connect() {
    if (state.source) state.source.close();
    const url = "events?since=" + state.seq + "&epoch=" + encodeURIComponent(state.epoch);
    const es = new EventSource(url);
    state.source = es;
    es.onopen = () => {
      setConn("live", true);
      if (state.loaded) document.body.dataset.ready = "true";
    };
    es.onmessage = (ev) => {
      const b = JSON.parse(ev.data);
      const restarted = b.epoch !== state.epoch;
      apply(b);
      // exchops restarted: reconnect so that later reconnections name the new epoch.
      if (restarted) connect();
    };
    es.onerror = () => {
      if (es !== state.source) return;
      if (es.readyState === EventSource.CLOSED) {
        setConn("offline, retrying…", false);
        setTimeout(() => {
          if (es === state.source) connect();
        }, 3000);
      } else {
        setConn("reconnecting…", false);
      }
    };
  }

  async function load() {
    try {
      const res = await fetch("api/transcript", { headers: { Accept: "application/json" } });
      if (!res.ok) throw new Error(res.status + " " + res.statusText);
      apply(await res.json());
      state.loaded = true;
      connect();
    } catch (e) {
      setConn("cannot reach exchops, retrying…", false);
      setTimeout(load, 2000);
    }
  }

  async function post(path, body) {
    try {
      const res = await fetch(path, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(body),
      });
      if (!res.ok) {
        let msg = res.status + " " + res.statusText;
        try {
          const j = await res.json();
          if (j.error) msg = j.error;
        } catch (e) {
          // not JSON: keep the status
        }
        note(msg);
      }
    } catch (e) {
      note("exchops did not answer: " + e.message);
    }
  }

  function needPerson() {
    if (state.me) return false;
    note("Pick who you are first: the buttons at the top.");
    const first = $("button.person");
    if (first) first.focus();
    return true;
  }

  function send(text) {
    text = text.trim();
    if (text === "" || needPerson()) return false;
    if (state.history[state.history.length - 1] !== text) state.history.push(text);
    state.pos = state.history.length;
    state.draft = "";
    post("api/command", { person: state.me, text: text });
    return true;
  }

  function act(id, decision, reason) {
    if (needPerson()) return;
    post("api/action", { person: state.me, id: id, decision: decision, reason: reason || "" });
  }

  // ---- what people do ------------------------------------------------------------

  compose.addEventListener("submit", (e) => {
    e.preventDefault();
    if (send(input.value)) input.value = "";
    input.focus();
  });

  input.addEventListener("keydown", (e) => {
    if (e.key === "ArrowUp" && state.pos > 0) {
      if (state.pos === state.history.length) state.draft = input.value;
      state.pos--;
      input.value = state.history[state.pos];
    } else if (e.key === "ArrowDown" && state.pos < state.history.length) {
      state.pos++;
      input.value = state.pos === state.history.length ? state.draft : state.history[state.pos];
    } else {
      return;
    }
    e.preventDefault();
    const end = input.value.length;
    input.setSelectionRange(end, end);
  });

  function denyForm(card) {
    return card && $("form.deny-form", card);
  }

  document.addEventListener("click", (e) => {
    const t = e.target instanceof Element ? e.target : null;
    if (!t) return;
    const summary = t.closest("details[data-key] > summary");
    if (summary) {
      summary.parentElement.dataset.toggled = "1";
      return;
    }
    const b = t.closest("button");
    if (!b) return;
    if (b.matches("button.person")) {
      choose(b.dataset.person);
      input.focus();
    } else if (b.matches("button.hint")) {
      input.value = b.dataset.text;
      input.focus();
    } else if (b.matches("button.quick-cmd")) {
      send(b.dataset.command);
    } else if (b.matches("button.approve")) {
      act(b.dataset.id, "approve");
    } else if (b.matches("button.deny")) {
      const form = denyForm(b.closest(".card"));
      if (form) {
        form.hidden = false;
        $("input.reason", form).focus();
      }
    } else if (b.matches("button.cancel-deny")) {
      const form = b.closest("form.deny-form");
      form.hidden = true;
      const deny = $("button.deny", form.closest(".card"));
      if (deny) deny.focus();
    }
  });

  document.addEventListener("submit", (e) => {
    const form = e.target;
    if (!(form instanceof HTMLFormElement) || !form.matches("form.deny-form")) return;
    e.preventDefault();
    const reason = $("input.reason", form).value.trim();
    form.hidden = true;
    act(form.dataset.id, "deny", reason);
  });

  document.addEventListener("keydown", (e) => {
    if (e.key !== "Escape") return;
    const t = e.target instanceof Element ? e.target : null;
    const form = t && t.closest("form.deny-form");
    if (!form) return;
    form.hidden = true;
    const deny = $("button.deny", form.closest(".card"));
    if (deny) deny.focus();
  });

  // ---- start ---------------------------------------------------------------------

  // Signed in through exchops' proxy: the person is fixed and the server knows it.
  const signed = document.body.dataset.signedIn || "";
  if (signed) {
    state.me = signed;
    document.body.dataset.me = signed;
  } else {
    let saved = "";
    try {
      saved = localStorage.getItem("exchops.person") || "";
    } catch (e) {
      // no storage: start with the first person
    }
    const names = people();
    choose(names.includes(saved) ? saved : names[0] || "");
  }
  setInterval(refreshTimes, 15000);
  load();
})();
