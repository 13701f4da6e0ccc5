// The example client of docs/chat-protocol.md: follows conversations on the portal's /chat
// namespace and shows every message exactly once, in `seq` order, even when live events arrive
// late, twice, or never.
//
//   As a module:  new ChatClient(io("/chat"), { onShow }).follow(conversationId)
//   As a program: node docs/examples/chat-client.mjs http://127.0.0.1:5000 (see `main` below)
// Tested by tests/chat/test_example_client.py.

export const GAP_WAIT_MS = 1500; // late live events usually fill a hole within this time
const ACK_TIMEOUT_MS = 10000;

export class ChatClient {
  // `socket`: a socket.io-client socket on the /chat namespace, connected or not.
  // `onShow(message, index)`: a new message, to insert at `index` among those shown (seq order).
  // `onUpdate(message, index)`: a shown message was edited or deleted.
  // `onFetch({ conversationId, afterSeq, reason })`: a `join` is sent (reason: "follow",
  // "gap", "connect", "resync", "started").
  constructor(socket, { onShow = () => {}, onUpdate = () => {}, onFetch = () => {},
    gapWaitMs = GAP_WAIT_MS } = {}) {
    Object.assign(this, { socket, onShow, onUpdate, onFetch, gapWaitMs });
    this.conversations = new Map(); // id -> { upTo, ahead, shown, gapTimer, joining, again }
    let connectedBefore = socket.connected;
    socket.on("connect", () => { // every reconnect replays what was missed meanwhile
      this.#joinAll(connectedBefore ? "connect" : "follow");
      connectedBefore = true;
    });
    socket.on("resync", () => this.#joinAll("resync")); // the server may have lost live events
    socket.on("message", (m) => {
      if (this.#add(m)) { // receipts say what is held: up to upTo, never past a hole
        const seq = this.contiguousSeq(m.conversation_id);
        this.#call("delivered", { conversation_id: m.conversation_id, seq });
      }
    });
    socket.on("message_updated", (m) => this.#update(m));
    socket.on("conversation_started", ({ conversation_id: id }) => {
      if (this.conversations.has(id)) { this.#join(id, "started"); }
    });
  }

  // Follow a conversation: replay what is stored after `afterSeq`, then keep it live.
  follow(conversationId, afterSeq = 0) {
    if (!this.conversations.has(conversationId)) {
      // upTo: every message up to this seq is held (the highest *contiguous* seq);
      // ahead: the seqs held beyond it, after a hole; shown: the messages, in seq order.
      this.conversations.set(conversationId, {
        upTo: afterSeq, ahead: new Set(), shown: [], gapTimer: null, joining: null, again: false,
      });
    }
    return this.socket.connected ? this.#join(conversationId, "follow") : Promise.resolve();
  }

  messages(conversationId) { return this.conversations.get(conversationId)?.shown ?? []; }
  contiguousSeq(conversationId) { return this.conversations.get(conversationId)?.upTo ?? 0; }

  // Send a text; after an error or a timeout, offer to resend with the same clientId.
  async send(conversationId, body, clientId = crypto.randomUUID()) {
    const payload = { conversation_id: conversationId, client_id: clientId, body };
    const ack = await this.#call("send", payload);
    if (ack.ok) { this.#add(ack.message); } // its seq can reveal a hole too
    return ack;
  }

  close() {
    for (const c of this.conversations.values()) { clearTimeout(c.gapTimer); }
    this.conversations.clear();
  }

  #call(event, payload) {
    return this.socket.timeout(ACK_TIMEOUT_MS).emitWithAck(event, payload)
      .catch(() => ({ ok: false, error: "unavailable", message: "No answer from the server." }));
  }

  // A MESSAGE from a live event, a `join` answer or a `send` ack: each seq is shown once.
  // Returns whether upTo moved.
  #add(m) {
    const c = this.conversations.get(m?.conversation_id);
    if (!c || m.seq <= c.upTo || c.ahead.has(m.seq)) { return false; } // not followed, or held
    c.ahead.add(m.seq);
    const index = insertionIndex(c.shown, m.seq);
    c.shown.splice(index, 0, m);
    this.onShow(m, index);
    const before = c.upTo;
    while (c.ahead.delete(c.upTo + 1)) { c.upTo += 1; }
    this.#checkGap(m.conversation_id, c);
    return c.upTo > before;
  }

  // A seq held beyond upTo means a hole: wait a moment for late live events, then fetch it.
  #checkGap(id, c) {
    if (c.ahead.size === 0) { clearTimeout(c.gapTimer); c.gapTimer = null; return; }
    c.gapTimer ??= setTimeout(() => {
      c.gapTimer = null;
      if (c.ahead.size > 0) { this.#join(id, "gap"); }
    }, this.gapWaitMs);
  }

  #update(m) {
    const c = this.conversations.get(m?.conversation_id);
    const index = c ? c.shown.findIndex((s) => s.seq === m.seq) : -1;
    if (index === -1) { return; } // not shown yet: the replay will bring the current version
    c.shown[index] = m;
    this.onUpdate(m, index);
  }

  #joinAll(reason) {
    return Promise.all([...this.conversations.keys()].map((id) => this.#join(id, reason)));
  }

  // `join` after upTo, page by page while `more`; one at a time per conversation.
  #join(id, reason) {
    const c = this.conversations.get(id);
    if (!c) { return Promise.resolve(); }
    if (c.joining) { c.again = true; return c.joining; } // runs once more when this one ends
    c.joining = (async () => {
      do {
        c.again = false;
        for (let more = true; more;) {
          const afterSeq = c.upTo;
          this.onFetch({ conversationId: id, afterSeq, reason });
          const ack = await this.#call("join", { conversation_id: id, after_seq: afterSeq });
          if (!ack.ok) { return ack; }
          ack.messages.forEach((m) => this.#add(m));
          more = ack.more && c.upTo > afterSeq;
        }
      } while (c.again);
      return { ok: true };
    })().then((ack) => {
      c.joining = null;
      // No answer while connected: try again shortly (a disconnect re-joins on connect anyway).
      if (ack.error === "unavailable" && this.socket.connected) {
        setTimeout(() => this.#join(id, reason), this.gapWaitMs);
      }
      this.#checkGap(id, c);
    });
    return c.joining;
  }
}

function insertionIndex(shown, seq) {
  let low = 0;
  let high = shown.length;
  while (low < high) {
    const mid = (low + high) >> 1;
    if (shown[mid].seq < seq) { low = mid + 1; } else { high = mid; }
  }
  return low;
}

// --- the program --------------------------------------------------------------------------------
// A socket for Node, signed in with the cookie of a session opened through /login by the same
// User-Agent (a session refuses any other browser). socket.io-client is loaded from the portal's
// own static/node_modules (`make install`), or wherever NODE_PATH says.
export async function openSocket(base, { cookie, userAgent }) {
  const { createRequire } = await import("node:module");
  const require = createRequire(new URL("../../static/package.json", import.meta.url));
  const { io } = require("socket.io-client");
  return io(`${base}/chat`, {
    transports: ["websocket"], extraHeaders: { Cookie: cookie, "User-Agent": userAgent },
  });
}

// PORTAL_COOKIE='session=…' PORTAL_USER_AGENT='…' node chat-client.mjs BASE_URL
//     [--conversation ID] [--json] [--gap-wait MS]
// Follows every conversation of the user (or one) and prints each message as it is shown; a
// line "send ID TEXT" on standard input sends TEXT to conversation ID; end of input quits.
async function main(argv) {
  const option = (name) => (argv.includes(name) ? argv[argv.indexOf(name) + 1] : null);
  const only = option("--conversation");
  const json = argv.includes("--json");
  const out = (record, text) => console.log(json ? JSON.stringify(record) : text);

  const socket = await openSocket(argv[0], {
    cookie: process.env.PORTAL_COOKIE ?? "",
    userAgent: process.env.PORTAL_USER_AGENT ?? "chat-client-example",
  });
  const client = new ChatClient(socket, {
    gapWaitMs: Number(option("--gap-wait") ?? GAP_WAIT_MS),
    onShow: (m, index) => {
      out({ event: "shown", index, ...m }, `${m.seq} ${m.sender_name}: ${m.body}`);
    },
    onFetch: (fetch) => { if (json) { out({ event: "fetch", ...fetch }); } },
  });
  socket.on("connect_error", (error) => {
    if (!socket.active) { console.error(`refused: ${error.message}`); process.exit(1); }
  });
  socket.once("connect", async () => {
    const ack = await socket.timeout(ACK_TIMEOUT_MS).emitWithAck("conversations", {});
    for (const c of ack.conversations ?? []) {
      if (only !== null && c.id !== Number(only)) { continue; }
      await client.follow(c.id);
      out({ event: "following", conversation_id: c.id, seq: client.contiguousSeq(c.id) },
        `-- following conversation ${c.id} with ${c.peer.name}`);
    }
  });

  const { createInterface } = await import("node:readline");
  for await (const line of createInterface({ input: process.stdin })) {
    const [, id, body] = line.match(/^send (\d+) (.+)$/) ?? [];
    if (!id) { continue; }
    const ack = await client.send(Number(id), body);
    out({ event: "sent", ...ack }, ack.ok ? `(sent: ${ack.message.seq})` : `(${ack.message})`);
  }
  client.close();
  socket.disconnect();
}

const isMain = typeof process !== "undefined" && process.argv[1] !== undefined &&
  import.meta.url === new URL(process.argv[1], "file://").href;
if (isMain) {
  await main(process.argv.slice(2));
}
