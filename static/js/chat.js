// The chat page: a client of the Socket.IO namespace /chat (docs/chat-protocol.md).
// Plain ES2017, no build step. Every piece of user text is put on the page with textContent:
// nothing a participant writes is ever parsed as HTML, and links are not made clickable.
(function () {
  "use strict";

  var SEND_TIMEOUT_MS = 10000;
  var TYPING_EVERY_MS = 3000;
  var TYPING_SHOWN_MS = 4000;
  // A hole in the seqs received is fetched after this wait: late live events usually fill it.
  var GAP_WAIT_MS = 1500;
  // Words the reader sees, translated by the page (the #chat-i18n JSON of templates/chat/index.html,
  // keyed by the English text); the English is the fallback when the page gives none.
  var WORDS = (function () {
    var node = document.getElementById("chat-i18n");
    try { return node ? JSON.parse(node.textContent) : {}; } catch (error) { return {}; }
  })();
  function t(text, values) {
    var out = Object.prototype.hasOwnProperty.call(WORDS, text) ? WORDS[text] : text;
    if (!values) { return out; }
    return out.replace(/%\((\w+)\)s/g, function (whole, name) {
      return Object.prototype.hasOwnProperty.call(values, name) ? String(values[name]) : whole;
    });
  }
  var AE_BANNER = "This message may describe an adverse event: a PV case was opened; complete the report.";
  // message id -> {reference, url?}: the PV case a message went to, as the server lets this
  // viewer know (the staff participant; never the HCP). Kept across re-renders and replays.
  var pvCases = {};
  function notePvCase(messageId, notice) {
    if (notice && typeof notice.reference === "string") { pvCases[messageId] = notice; }
  }
  // Refusals that a retry cannot fix: the text goes back into the composer to be rephrased.
  var PERMANENT = { restricted: true, too_long: true, invalid: true, consent_required: true,
    not_found: true, forbidden: true };

  var dataEl = document.getElementById("chat-data");
  if (!dataEl) { return; }
  var data = JSON.parse(dataEl.textContent);
  var me = data.me;
  var selectedId = data.selected;

  // --- state -----------------------------------------------------------------------------------
  // Live events may arrive late, twice or never (docs/chat-protocol.md, "Ordering and delivery
  // guarantees"). Per conversation: upTo, the highest *contiguous* seq (every message up to it
  // is here), and the seqs received beyond a hole. Replays (join) and receipts start from upTo,
  // never from the highest seq received, so a hole is always fetched.
  var tracks = {};
  function track(id) {
    if (!tracks[id]) { tracks[id] = { upTo: 0, ahead: new Set(), timer: null }; }
    return tracks[id];
  }
  function upTo(id) { return track(id).upTo; }
  // Note that message `seq` is here; true when it is new.
  function note(id, seq) {
    var t = track(id);
    if (seq <= t.upTo || t.ahead.has(seq)) { return false; }
    t.ahead.add(seq);
    while (t.ahead.delete(t.upTo + 1)) { t.upTo += 1; }
    checkGap(id);
    return true;
  }
  // Everything up to `seq` is accounted for (the server's list says so).
  function catchUp(id, seq) {
    var t = track(id);
    t.upTo = Math.max(t.upTo, seq);
    t.ahead.forEach(function (s) { if (s <= t.upTo) { t.ahead.delete(s); } });
    while (t.ahead.delete(t.upTo + 1)) { t.upTo += 1; }
    checkGap(id);
  }
  // A seq received beyond upTo means a hole: wait a moment, then fetch it with join.
  function checkGap(id) {
    var t = track(id);
    if (!t.ahead.size) { window.clearTimeout(t.timer); t.timer = null; return; }
    if (t.timer) { return; }
    t.timer = window.setTimeout(function () {
      t.timer = null;
      if (t.ahead.size) { joinConversation(id); }
    }, GAP_WAIT_MS);
  }

  var conversations = [];   // the list, in the server's order
  var byId = {};
  function setConversations(list) {
    conversations = list.slice();
    byId = {};
    conversations.forEach(function (c) {
      byId[c.id] = c;
      // The list's unread counts include everything up to last_seq (the open one's come by join).
      if (c.id !== selectedId) { catchUp(c.id, c.last_seq || 0); }
    });
  }
  setConversations(data.conversations || []);

  // The selected conversation's messages, by sequence, plus the ones not acknowledged yet.
  var store = { bySeq: new Map(), pending: [], more: !!data.more };
  var receipts = data.receipts || {};
  var readSent = 0;
  var deliveredSent = {};
  var lastTypingSent = 0;
  var typingTimer = null;

  function current() { return selectedId ? byId[selectedId] : null; }
  function peerId() { var c = current(); return c ? c.peer.id : null; }
  function seqs() { return Array.from(store.bySeq.keys()).sort(function (a, b) { return a - b; }); }
  function firstSeq() { var s = seqs(); return s.length ? s[0] : 0; }
  function lastSeq() { var s = seqs(); return s.length ? s[s.length - 1] : 0; }

  // --- small DOM helpers ---------------------------------------------------------------------
  function $(id) { return document.getElementById(id); }
  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) { node.className = className; }
    if (text !== undefined && text !== null) { node.textContent = String(text); }
    return node;
  }
  function parseTime(iso) {
    if (!iso) { return null; }
    // Server times are UTC; a time without an offset is read as UTC, never as local time.
    var withZone = /[zZ]|[+-]\d\d:?\d\d$/.test(iso) ? iso : iso + "Z";
    var date = new Date(withZone);
    return isNaN(date.getTime()) ? null : date;
  }
  // Times show in the page's language and zone (<html lang> and data-timezone, set by the
  // server from the user's choice or the browser's), so chat agrees with server-rendered pages.
  var pageLang = document.documentElement.lang || undefined;
  var pageZone = document.documentElement.dataset.timezone || undefined;
  function formatter(options) {
    var withZone = Object.assign({ timeZone: pageZone }, options);
    try {
      return new Intl.DateTimeFormat(pageLang, withZone);
    } catch (e) {  // an unknown zone or language: the browser's own, rather than no time at all
      return new Intl.DateTimeFormat(undefined, options);
    }
  }
  var dayKeyFormat = formatter({ year: "numeric", month: "2-digit", day: "2-digit" });
  var longDayFormat = formatter({ weekday: "long", day: "numeric", month: "long", year: "numeric" });
  var clockFormat = formatter({ hour: "numeric", minute: "2-digit" });
  var shortDayFormat = formatter({ day: "numeric", month: "short" });
  function sameDay(a, b) {
    return dayKeyFormat.format(a) === dayKeyFormat.format(b);
  }
  function relativeDay(offset) {
    var words = offset === 0 ? "Today" : "Yesterday";
    if (window.Intl && Intl.RelativeTimeFormat) {
      words = new Intl.RelativeTimeFormat(pageLang, { numeric: "auto" }).format(offset, "day");
    }
    return words.charAt(0).toUpperCase() + words.slice(1);
  }
  function dayLabel(date) {
    var today = new Date();
    var yesterday = new Date(today.getTime() - 86400000);
    if (sameDay(date, today)) { return relativeDay(0); }
    if (sameDay(date, yesterday)) { return relativeDay(-1); }
    return longDayFormat.format(date);
  }
  function clock(date) {
    return clockFormat.format(date);
  }
  function listTime(iso) {
    var date = parseTime(iso);
    if (!date) { return ""; }
    if (sameDay(date, new Date())) { return clock(date); }
    return shortDayFormat.format(date);
  }
  function uuid() {
    var c = window.crypto || window.msCrypto;
    if (c && typeof c.randomUUID === "function") { return c.randomUUID(); }
    var bytes = new Uint8Array(16);
    if (c && c.getRandomValues) { c.getRandomValues(bytes); } else {
      for (var i = 0; i < 16; i++) { bytes[i] = Math.floor(Math.random() * 256); }
    }
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    var hex = Array.from(bytes, function (b) { return (b + 0x100).toString(16).slice(1); }).join("");
    return hex.slice(0, 8) + "-" + hex.slice(8, 12) + "-" + hex.slice(12, 16) + "-" +
      hex.slice(16, 20) + "-" + hex.slice(20);
  }

  // --- the conversation list and the navigation badge ------------------------------------------
  function renderList() {
    var list = $("chat-list");
    if (!list || !conversations.length) { renderNavBadge(); return; }
    var base = window.location.pathname;
    var fragment = document.createDocumentFragment();
    conversations.forEach(function (c) {
      var item = el("a", "list-group-item list-group-item-action chat-item");
      item.href = base + "?conversation=" + encodeURIComponent(c.id);
      item.setAttribute("data-conversation-id", c.id);
      item.setAttribute("data-testid", "conversation");
      if (c.id === selectedId) { item.classList.add("active"); item.setAttribute("aria-current", "true"); }
      var row = el("div", "d-flex justify-content-between gap-2");
      var left = el("div", "chat-item-name");
      var name = el("div", "text-truncate");
      name.appendChild(presenceDot(c.peer));
      name.appendChild(document.createTextNode(" "));
      name.appendChild(el("strong", "", c.peer.name));
      left.appendChild(name);
      var sub = c.peer.role_label || c.peer.role;
      if (c.state === "ended") { sub += " · ended"; }
      if (c.state === "invited") { sub += " · invitation"; }
      left.appendChild(el("div", "small chat-item-sub", sub));
      var right = el("div", "text-end flex-shrink-0");
      right.appendChild(el("div", "small chat-item-sub chat-time", listTime(c.last_message_at)));
      if (c.unread > 0) {
        var badge = el("span", "badge rounded-pill text-bg-danger", c.unread > 99 ? "99+" : c.unread);
        badge.setAttribute("data-testid", "unread");
        badge.setAttribute("aria-label", c.unread + " unread");
        right.appendChild(badge);
      }
      row.appendChild(left);
      row.appendChild(right);
      item.appendChild(row);
      fragment.appendChild(item);
    });
    list.replaceChildren(fragment);
    renderNavBadge();
  }

  function presenceDot(peer) {
    var dot = el("span", "chat-presence" + (peer.online ? " online" : ""));
    dot.setAttribute("data-presence-user", peer.id);
    dot.setAttribute("role", "img");
    dot.setAttribute("aria-label", peer.online ? "Online" : "Offline");
    dot.title = peer.online ? t("Online") : t("Offline");
    return dot;
  }

  // The lead's navigation link carries a badge marked data-chat-unread: kept current here.
  function renderNavBadge() {
    var total = conversations.reduce(function (n, c) { return n + (c.unread || 0); }, 0);
    document.querySelectorAll("[data-chat-unread]").forEach(function (badge) {
      badge.textContent = total > 99 ? "99+" : String(total);
      badge.hidden = total === 0;
    });
  }

  function setPresence(userId, online) {
    conversations.forEach(function (c) { if (c.peer.id === userId) { c.peer.online = online; } });
    document.querySelectorAll("[data-presence-user]").forEach(function (dot) {
      if (Number(dot.getAttribute("data-presence-user")) !== userId) { return; }
      dot.classList.toggle("online", online);
      dot.setAttribute("aria-label", online ? "Online" : "Offline");
      dot.title = online ? t("Online") : t("Offline");
    });
  }

  // --- the message pane ----------------------------------------------------------------------
  var pane = $("chat-messages");
  var listEl = $("chat-message-list");

  function markFor(message) {
    var peer = receipts[String(peerId())] || { delivered_seq: 0, read_seq: 0 };
    if (peer.read_seq >= message.seq) { return ["read", "✓✓", t("Read")]; }
    if (peer.delivered_seq >= message.seq) { return ["delivered", "✓✓", t("Delivered")]; }
    return ["sent", "✓", t("Sent")];
  }

  function materialCard(material) {
    var card = el("div", "chat-material" + (material.available ? "" : " withdrawn"));
    card.setAttribute("data-testid", "material-card");
    card.appendChild(el("i", "bi bi-journal-text me-1"));
    // Only links the server made to this site's library are followed.
    if (material.available && typeof material.url === "string" && /^\/(?!\/)/.test(material.url)) {
      var link = el("a", "fw-semibold", material.title);
      link.href = material.url;
      card.appendChild(link);
      if (material.summary) { card.appendChild(el("div", "small chat-material-summary", material.summary)); }
    } else {
      card.appendChild(el("span", "fw-semibold", material.title || t("Material")));
      var note = el("div", "small", t("Withdrawn: this material is no longer available."));
      note.setAttribute("data-testid", "material-withdrawn");
      card.appendChild(note);
    }
    return card;
  }

  function messageItem(message, pending) {
    var mine = message.sender_id === me.id || pending;
    var item = el("li", "chat-msg " + (mine ? "mine" : "theirs"));
    item.setAttribute("data-testid", "message");
    if (message.seq) { item.setAttribute("data-seq", message.seq); }
    item.setAttribute("data-client-id", message.client_id);
    notePvCase(message.id, message.pv_case);
    var pvCase = pvCases[message.id];
    if (!data.is_hcp && (pvCase || (message.flags || []).indexOf("adverse_event") !== -1)) {
      var banner = el("div", "chat-ae-banner", AE_BANNER);
      banner.setAttribute("data-testid", "ae-banner");
      banner.setAttribute("role", "alert");
      banner.prepend(el("i", "bi bi-exclamation-triangle-fill me-1"));
      if (pvCase) {
        var reported = el("span", "d-block", "Reported to Pharmacovigilance as ");
        reported.setAttribute("data-testid", "ae-banner-case");
        // A link only when the server gave one (to a viewer who may open the case), and only
        // to this site.
        if (typeof pvCase.url === "string" && /^\/(?!\/)/.test(pvCase.url)) {
          var caseLink = el("a", "fw-semibold", pvCase.reference);
          caseLink.href = pvCase.url;
          reported.appendChild(caseLink);
        } else {
          reported.appendChild(el("strong", "", pvCase.reference));
        }
        reported.appendChild(document.createTextNode("."));
        banner.appendChild(reported);
      }
      item.appendChild(banner);
    }
    var bubble = el("div", "chat-bubble");
    if (message.deleted) {
      bubble.appendChild(el("div", "chat-body fst-italic text-muted", t("This message was deleted.")));
    } else if (message.kind === "material" && message.material) {
      bubble.appendChild(materialCard(message.material));
    } else {
      var body = el("div", "chat-body", message.body);
      body.setAttribute("data-testid", "message-body");
      bubble.appendChild(body);
    }
    var meta = el("div", "chat-meta");
    var sent = parseTime(message.sent_at);
    if (sent) { meta.appendChild(el("time", "", clock(sent))); }
    if (message.edited && !message.deleted) { meta.appendChild(el("span", "chat-label", t("edited"))); }
    if (mine) {
      var mark;
      if (pending) {
        mark = message.status === "failed" ? ["failed", "!", t("Not sent")] : ["sending", "…", t("Sending")];
      } else {
        mark = markFor(message);
      }
      var markEl = el("span", "chat-mark " + mark[0], mark[1]);
      markEl.setAttribute("data-testid", "mark");
      markEl.setAttribute("data-mark", mark[0]);
      markEl.title = mark[2];
      markEl.setAttribute("aria-label", mark[2]);
      meta.appendChild(markEl);
    }
    bubble.appendChild(meta);
    item.appendChild(bubble);
    if (!mine && !pending && data.csrf_token && !message.deleted && message.kind !== "material") {
      item.appendChild(reportControl(message));
    }
    if (pending && message.status === "failed") {
      var failed = el("div", "chat-failed small");
      failed.setAttribute("data-testid", "failed");
      failed.appendChild(el("span", "text-danger", t("Not sent") + (message.error ? ": " + message.error : ".") + " "));
      var retry = el("button", "btn btn-link btn-sm p-0 align-baseline", t("Retry"));
      retry.type = "button";
      retry.setAttribute("data-testid", "retry");
      retry.addEventListener("click", function () { transmit(message); });
      failed.appendChild(retry);
      item.appendChild(failed);
    }
    return item;
  }

  // --- one-click reports to Pharmacovigilance (staff) -------------------------------------------
  var reports = {};  // seq -> { ok, text }: the server's answer, kept across re-renders

  function reportControl(message) {
    var box = el("div", "chat-report");
    var done = reports[message.seq];
    if (!done || !done.ok) {
      var button = el("button", "btn btn-link btn-sm p-0 chat-report-button");
      button.type = "button";
      button.setAttribute("data-testid", "report-pv");
      button.title = "These words may describe an adverse event or a product complaint: " +
        "Pharmacovigilance gets them at once.";
      button.appendChild(el("i", "bi bi-shield-exclamation me-1"));
      button.appendChild(document.createTextNode("Report to PV"));
      button.addEventListener("click", function () { reportMessage(message.seq, button); });
      box.appendChild(button);
    }
    if (done) {
      var status = el("span", done.ok ? "text-success" : "text-danger ms-2", done.text);
      status.setAttribute("data-testid", "report-status");
      status.setAttribute("role", "status");
      box.appendChild(status);
    }
    return box;
  }

  function reportMessage(seq, button) {
    button.disabled = true;
    var url = data.chat_url + selectedId + "/messages/" + seq + "/report-pv";
    window.fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Accept": "application/json", "X-CSRFToken": data.csrf_token },
    }).then(function (response) {
      return response.json().catch(function () { return { ok: false }; });
    }).then(function (answer) {
      reports[seq] = {
        ok: !!answer.ok,
        text: answer.message || "The report could not be sent: try again.",
      };
      render();
    }).catch(function () {
      reports[seq] = { ok: false, text: "No connection: the report was not sent. Try again." };
      render();
    });
  }

  var renderQueued = false;
  var keepFromBottom = null;
  function render() {
    if (renderQueued) { return; }
    renderQueued = true;
    window.requestAnimationFrame(function () { renderQueued = false; renderMessages(); });
  }

  function renderMessages() {
    if (!listEl) { return; }
    var atBottom = pane.scrollHeight - pane.scrollTop - pane.clientHeight < 60;
    var fragment = document.createDocumentFragment();
    var previous = null;
    var all = seqs().map(function (s) { return [store.bySeq.get(s), false]; })
      .concat(store.pending.map(function (p) { return [p, true]; }));
    if (!all.length) {
      fragment.appendChild(el("li", "chat-empty text-muted small text-center", t("No messages yet.")));
    }
    all.forEach(function (pair) {
      var date = parseTime(pair[0].sent_at);
      if (date && (!previous || !sameDay(previous, date))) {
        var day = el("li", "chat-day");
        day.appendChild(el("span", "", dayLabel(date)));
        day.setAttribute("data-testid", "day");
        fragment.appendChild(day);
      }
      if (date) { previous = date; }
      fragment.appendChild(messageItem(pair[0], pair[1]));
    });
    listEl.replaceChildren(fragment);
    var earlier = $("chat-load-earlier");
    if (earlier) { earlier.hidden = !(store.more && firstSeq() > 1); }
    if (keepFromBottom !== null) {
      pane.scrollTop = pane.scrollHeight - keepFromBottom;
      keepFromBottom = null;
    } else if (atBottom || forceBottom) {
      pane.scrollTop = pane.scrollHeight;
    }
    forceBottom = false;
  }
  var forceBottom = true;

  function addMessages(messages) {
    var added = false;
    (messages || []).forEach(function (m) {
      if (!m || m.conversation_id !== selectedId || typeof m.seq !== "number") { return; }
      store.bySeq.set(m.seq, m);  // a replay or a second copy replaces, never duplicates
      note(selectedId, m.seq);  // from a live event, a join, or an ack: any can show a hole
      store.pending = store.pending.filter(function (p) { return p.client_id !== m.client_id; });
      added = true;
    });
    if (added) { render(); }
    return added;
  }

  // --- conversation state (active / ended / invited) -----------------------------------------
  function applyState() {
    var c = current();
    var section = $("chat-pane");
    if (!c || !section) { return; }
    section.setAttribute("data-state", c.state);
    var active = c.state === "active";
    ["chat-input", "chat-send"].forEach(function (id) { var n = $(id); if (n) { n.disabled = !active; } });
    var picker = $("chat-material");
    var share = $("chat-share");
    if (picker) {
      var any = picker.options.length > 1;
      picker.disabled = !active || !any;
      if (share) { share.disabled = !active || !any; }
    }
    var end = $("chat-end");
    if (end) { end.hidden = !active; }
    var notice = $("chat-state-notice");
    if (!notice) { return; }
    notice.hidden = active;
    if (active) { notice.replaceChildren(); return; }
    var parts = [];
    if (c.state === "ended") {
      if (data.is_hcp) {
        parts.push(t("You ended this chat.") + " ");
        parts.push([t("Chat again"), data.team_url]);
      } else {
        parts.push(c.peer.name + " ended this chat. You can no longer send messages in it.");
        // Ended while the page was open: the attestation is due (the page's own notice, when
        // it was due already on load, says so instead).
        if (data.attest_url && !$("chat-attest-notice") &&
            Math.max(lastSeq(), c.last_seq || 0) > (data.attested_seq || 0)) {
          parts.push(" ");
          parts.push(["Attest for safety", data.attest_url]);
        }
      }
    } else if (c.state === "invited") {
      if (data.is_hcp) {
        parts.push(t("%(name)s invited you to chat.", { name: c.peer.name }) + " ");
        parts.push([t("Answer the invitation"), data.team_url]);
      } else {
        parts.push("Invitation sent: waiting for " + c.peer.name + " to accept.");
      }
    }
    var fragment = document.createDocumentFragment();
    parts.forEach(function (part) {
      if (typeof part === "string") { fragment.appendChild(document.createTextNode(part)); return; }
      var link = el("a", "", part[0]);
      link.href = part[1];
      fragment.appendChild(link);
    });
    notice.replaceChildren(fragment);
  }

  // --- the socket ------------------------------------------------------------------------------
  if (typeof window.io !== "function") {
    showBanner(t("The chat could not load its connection library. Reload the page."));
    renderList();
    render();
    return;
  }
  var socket = window.io("/chat", { transports: ["websocket", "polling"] });

  function request(event, payload, callback) {
    socket.timeout(SEND_TIMEOUT_MS).emit(event, payload, function (err, ack) {
      if (err) { callback(null, "timeout"); return; }
      callback(ack, null);
    });
  }

  function showBanner(text) {
    var banner = $("chat-reconnecting");
    if (!banner) { return; }
    if (text) { $("chat-reconnecting-text").textContent = text; }
    banner.hidden = false;
  }
  function hideBanner() { var banner = $("chat-reconnecting"); if (banner) { banner.hidden = true; } }

  socket.on("connect", function () {
    hideBanner();
    resynchronise();
  });

  // The server could not deliver some live events to this socket (its message queue
  // reconnected): catch up as after a reconnect.
  socket.on("resync", function () { resynchronise(); });

  // Refresh the list (states and unread counts), then replay every conversation from upTo.
  function resynchronise() {
    request("conversations", {}, function (ack) {
      if (ack && ack.ok && Array.isArray(ack.conversations)) {
        var known = {};
        conversations.forEach(function (c) { known[c.id] = c; });
        ack.conversations.forEach(function (c) {
          // role_label is not part of the protocol's list: keep the page's one.
          var old = known[c.id];
          if (old && !c.peer.role_label) { c.peer.role_label = old.peer.role_label; }
        });
        setConversations(ack.conversations);
        renderList();
        applyState();
      }
      joinAll();
    });
  }

  socket.on("disconnect", function (reason) {
    var section = $("chat-pane");
    if (section) { section.removeAttribute("data-live"); }
    showBanner(t("Reconnecting… Messages you write are sent once the connection is back."));
    if (reason === "io server disconnect") { socket.connect(); }
  });

  socket.on("connect_error", function () {
    if (socket.active) {
      showBanner(t("Reconnecting… Messages you write are sent once the connection is back."));
    } else {
      showBanner(t("The chat connection was refused: your session may have ended. Reload the page to sign in again."));
    }
  });

  // On every (re)connect and resync: ask for what came after upTo, in order.
  function joinAll() {
    conversations.forEach(function (c) { joinConversation(c.id); });
    if (selectedId && !byId[selectedId]) { joinSelected(); }
  }

  function joinConversation(id) {
    if (id === selectedId) { joinSelected(); } else { joinOther(id); }
  }

  function joinSelected(rounds) {
    rounds = rounds || 0;
    var after = upTo(selectedId);
    request("join", { conversation_id: selectedId, after_seq: after }, function (ack) {
      if (!ack || !ack.ok) { checkGap(selectedId); return; }
      addMessages(ack.messages);
      acknowledgeSeen();
      // Tells people and tests that the pane now follows the conversation live.
      var section = $("chat-pane");
      if (section) { section.setAttribute("data-live", ack.live === false ? "no" : "yes"); }
      if (ack.more && rounds < 50 && upTo(selectedId) > after) { joinSelected(rounds + 1); }
      checkGap(selectedId);
    });
  }

  // Another conversation: its messages only count as unread and move it up the list.
  function joinOther(id, rounds) {
    rounds = rounds || 0;
    var after = upTo(id);
    request("join", { conversation_id: id, after_seq: after }, function (ack) {
      if (!ack || !ack.ok) { checkGap(id); return; }
      (ack.messages || []).forEach(otherConversationMessage);
      if (ack.more && rounds < 50 && upTo(id) > after) { joinOther(id, rounds + 1); }
      checkGap(id);
    });
  }

  function otherConversationMessage(message) {
    var c = byId[message.conversation_id];
    if (!c) { refreshConversations(); return; }
    if (!note(c.id, message.seq)) { return; }  // already counted
    if (message.seq >= (c.last_seq || 0)) {
      c.last_seq = message.seq;
      c.last_message_at = message.sent_at;
    }
    if (message.sender_id !== me.id) {
      c.unread = (c.unread || 0) + 1;
      sendReceipt("delivered", c.id, upTo(c.id));
    }
    moveToTop(c);
    renderList();
  }

  function moveToTop(c) {
    conversations = [c].concat(conversations.filter(function (o) { return o.id !== c.id; }));
  }

  function refreshConversations() {
    request("conversations", {}, function (ack) {
      if (!ack || !ack.ok) { return; }
      var before = byId;
      setConversations(ack.conversations);
      conversations.forEach(function (c) {
        var old = before[c.id];
        if (old && !c.peer.role_label) { c.peer.role_label = old.peer.role_label; }
        if (!old) { joinOther(c.id); }
      });
      renderList();
      applyState();
    });
  }

  function sendReceipt(kind, conversationId, seq) {
    var key = kind + ":" + conversationId;
    if ((deliveredSent[key] || 0) >= seq) { return; }
    deliveredSent[key] = seq;
    socket.emit(kind, { conversation_id: conversationId, seq: seq });
  }

  // The pane is read when it is on screen; otherwise what arrived is only "delivered".
  // Receipts never claim past a hole: read and delivered go up to upTo at most.
  function acknowledgeSeen() {
    var held = upTo(selectedId);
    var c = current();
    if (!selectedId || !held) { return; }
    var fromPeer = seqs().filter(function (s) {
      return s <= held && store.bySeq.get(s).sender_id !== me.id;
    });
    var lastFromPeer = fromPeer.length ? fromPeer[fromPeer.length - 1] : 0;
    if (document.visibilityState === "visible") {
      if (held > readSent) {
        readSent = held;
        sendReceipt("read", selectedId, held);
      }
      if (c && c.unread) { c.unread = 0; renderList(); }
    } else if (lastFromPeer) {
      sendReceipt("delivered", selectedId, lastFromPeer);
    }
    if (c) { c.last_seq = Math.max(c.last_seq || 0, lastSeq()); }
  }

  socket.on("message", function (message) {
    if (!message) { return; }
    if (message.conversation_id !== selectedId) { otherConversationMessage(message); return; }
    var c = current();
    var isNew = !store.bySeq.has(message.seq);
    addMessages([message]);
    if (c) {
      c.last_message_at = message.sent_at;
      if (isNew && message.sender_id !== me.id && document.visibilityState !== "visible" &&
          message.seq > (c.last_seq || 0)) {
        c.unread = (c.unread || 0) + 1;
      }
      moveToTop(c);
    }
    if (message.sender_id !== me.id) { hideTyping(); }
    acknowledgeSeen();
    renderList();
  });

  socket.on("pv_case", function (event) {
    // To the staff participant's own room: the case a message of theirs went to.
    if (!event || typeof event.message_id !== "number") { return; }
    notePvCase(event.message_id, event.pv_case);
    if (event.conversation_id === selectedId) { render(); }
  });

  socket.on("message_updated", function (message) {
    if (message && message.conversation_id === selectedId && store.bySeq.has(message.seq)) {
      store.bySeq.set(message.seq, message);
      render();
    }
  });

  socket.on("receipt", function (receipt) {
    if (!receipt || receipt.conversation_id !== selectedId) { return; }
    var key = String(receipt.user_id);
    var state = receipts[key] || { delivered_seq: 0, read_seq: 0 };
    state.delivered_seq = Math.max(state.delivered_seq, receipt.seq);
    if (receipt.kind === "read" || receipt.kind === undefined) {
      state.read_seq = Math.max(state.read_seq, receipt.seq);
    }
    receipts[key] = state;
    render();
  });

  socket.on("typing", function (event) {
    if (!event || event.conversation_id !== selectedId || event.user_id === me.id) { return; }
    var c = current();
    var box = $("chat-typing");
    if (!box || !c) { return; }
    box.textContent = t("%(name)s is typing…", { name: c.peer.name });
    window.clearTimeout(typingTimer);
    typingTimer = window.setTimeout(hideTyping, TYPING_SHOWN_MS);
  });
  function hideTyping() {
    var box = $("chat-typing");
    if (box) { box.textContent = ""; }
    window.clearTimeout(typingTimer);
  }

  socket.on("presence", function (event) {
    if (event && typeof event.user_id === "number") { setPresence(event.user_id, !!event.online); }
  });

  socket.on("conversation_ended", function (event) {
    var c = event && byId[event.conversation_id];
    if (!c) { return; }
    c.state = "ended";
    renderList();
    if (c.id === selectedId) { applyState(); hideTyping(); }
  });

  socket.on("conversation_started", function (event) {
    var c = event && byId[event.conversation_id];
    if (!c) { refreshConversations(); return; }
    c.state = "active";
    renderList();
    if (c.id === selectedId) { applyState(); joinSelected(); }
  });

  // --- sending -------------------------------------------------------------------------------
  var input = $("chat-input");
  var composer = $("chat-composer");
  var counter = $("chat-counter");
  var errorBox = $("chat-send-error");
  var maxLength = data.max_length || 4000;

  function showError(text) {
    if (!errorBox) { return; }
    errorBox.textContent = text || "";
    errorBox.hidden = !text;
  }

  function updateCounter() {
    if (!counter || !input) { return; }
    var used = input.value.length;
    counter.textContent = t("%(count)s / %(max)s characters", {
      count: used.toLocaleString("en-US"), max: maxLength.toLocaleString("en-US") });
    counter.classList.toggle("near-limit", used >= maxLength * 0.9);
  }

  function transmit(item) {
    item.status = "sending";
    item.error = "";
    render();
    var payload = { conversation_id: selectedId, client_id: item.client_id };
    if (item.material_id) { payload.material_id = item.material_id; } else { payload.body = item.body; }
    request("send", payload, function (ack, failure) {
      if (ack && ack.ok && ack.message) {
        addMessages([ack.message]);
        acknowledgeSeen();
        return;
      }
      if (failure || !ack) {
        item.status = "failed";
        item.error = t("no answer from the server");
      } else if (PERMANENT[ack.error]) {
        store.pending = store.pending.filter(function (p) { return p !== item; });
        if (item.body && input && !input.value) { input.value = item.body; updateCounter(); }
        var text = ack.message || t("Not sent.");
        if (ack.error === "restricted" && ack.phrase && text.indexOf(ack.phrase) === -1) {
          text += " (restricted phrase: " + ack.phrase + ")";
        }
        showError(text);
      } else {
        item.status = "failed";
        item.error = ack.message || "please try again";
      }
      render();
    });
  }

  function queue(item) {
    item.client_id = uuid();
    item.conversation_id = selectedId;
    item.sender_id = me.id;
    item.sent_at = new Date().toISOString();
    store.pending.push(item);
    forceBottom = true;
    showError("");
    transmit(item);
  }

  function sendText() {
    if (!input || input.disabled) { return; }
    var body = input.value;
    if (!body.trim()) { return; }
    if (body.length > maxLength) {
      showError(t("Messages are limited to %(max)s characters.", { max: maxLength.toLocaleString("en-US") }));
      return;
    }
    input.value = "";
    updateCounter();
    queue({ kind: "text", body: body, flags: [] });
  }

  if (composer && input) {
    composer.addEventListener("submit", function (event) { event.preventDefault(); sendText(); });
    input.addEventListener("keydown", function (event) {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        sendText();
      }
    });
    input.addEventListener("input", function () {
      updateCounter();
      if (errorBox && !errorBox.hidden) { showError(""); }
      var now = Date.now();
      if (input.value && now - lastTypingSent > TYPING_EVERY_MS && socket.connected) {
        lastTypingSent = now;
        socket.emit("typing", { conversation_id: selectedId });
      }
    });
    updateCounter();
  }

  var share = $("chat-share");
  var picker = $("chat-material");
  if (share && picker) {
    share.addEventListener("click", function () {
      var id = parseInt(picker.value, 10);
      if (!id) { return; }
      var title = picker.options[picker.selectedIndex].textContent;
      picker.value = "";
      queue({ kind: "material", material_id: id, body: title, flags: [],
        material: { id: id, title: title, available: true } });
    });
  }

  var earlier = $("chat-load-earlier");
  if (earlier) {
    earlier.addEventListener("click", function () {
      var before = firstSeq();
      if (!before) { return; }
      earlier.disabled = true;
      request("history", { conversation_id: selectedId, before_seq: before }, function (ack) {
        earlier.disabled = false;
        if (!ack || !ack.ok) { return; }
        keepFromBottom = pane.scrollHeight - pane.scrollTop;
        store.more = !!ack.more;
        if (!addMessages(ack.messages)) { keepFromBottom = null; render(); }
      });
    });
  }

  document.addEventListener("visibilitychange", acknowledgeSeen);
  window.addEventListener("focus", acknowledgeSeen);

  // --- first paint -----------------------------------------------------------------------------
  // The page holds the latest messages, without a hole: upTo starts just below the first.
  if (selectedId && data.messages && data.messages.length) {
    track(selectedId).upTo = data.messages[0].seq - 1;
  }
  addMessages(data.messages || []);
  renderList();
  applyState();
  render();
})();
