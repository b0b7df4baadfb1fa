/* The public verification page of the hub's verifier (hub/verifier/http.py serves it).
 *
 * Everything is checked here, in the browser, with WebCrypto; the file itself never leaves it:
 *   1. SHA-256 of the chosen file (crypto.subtle.digest), then GET lookup/document/<hex>;
 *   2. for each ledger entry found, from the entry's own bytes (base64 "entry" in the lookup):
 *      - the checkpoint note carries a valid Ed25519 signature (C2SP signed-note) by the log key,
 *        pinned by the party or else served by GET log-key, and its origin is the key's name;
 *      - the leaf hash SHA-256(0x00 || entry) is leaf <index> of that checkpoint's tree by the
 *        RFC 9162 inclusion proof (section 2.1.3.2);
 *      - the entry (Avro LedgerEntry) and the envelope it holds decode, and the file's 32-byte
 *        SHA-256 is in the envelope's payload (DocumentServed.document_sha256, EvidenceDeposited...)
 *        or, for an envelope v2 whose payload is encrypted, among its signed clear ("disclosed")
 *        fields (a path ending in sha256, the value in lowercase hex);
 *      - what the lookup says (index, sender, type, message id, leaf hash) is what the bytes say.
 *   What is shown (sender, type, index, times) is read from the verified bytes, not from the JSON.
 *
 * Plain JavaScript, no build step, no third-party code: the page works offline from the verifier,
 * under the verifier's Content-Security-Policy (default-src 'self'). WebCrypto needs a secure
 * context: HTTPS, or http://127.0.0.1 / localhost.
 */
"use strict";

(function () {
  const enc = new TextEncoder();
  const dec = new TextDecoder("utf-8", { fatal: true });
  const PIN_STORAGE = "judicial-hub.pinned-log-key";
  const TYPE_LABELS = {
    "cn.judicial.hub.document_service.DocumentServed": ["送达记录", "document served", "送达", "served"],
    "cn.judicial.hub.evidence.EvidenceDeposited": ["证据存证", "evidence deposited", "存证", "deposited"],
  };

  // --- bytes ---------------------------------------------------------------------------------

  function b64decode(text, what) {
    if (typeof text !== "string" || !/^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/.test(text)) {
      throw new Error(`${what} is not standard base64`);
    }
    const bin = atob(text);
    const out = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out;
  }

  function hex(bytes) {
    return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  function fromHex(text) {
    if (typeof text !== "string" || !/^(?:[0-9a-fA-F]{2})*$/.test(text)) throw new Error("not hexadecimal");
    const out = new Uint8Array(text.length / 2);
    for (let i = 0; i < out.length; i++) out[i] = parseInt(text.substr(2 * i, 2), 16);
    return out;
  }

  function concat(...parts) {
    const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const p of parts) { out.set(p, at); at += p.length; }
    return out;
  }

  function equal(a, b) {
    if (a.length !== b.length) return false;
    let diff = 0;
    for (let i = 0; i < a.length; i++) diff |= a[i] ^ b[i];
    return diff === 0;
  }

  function contains(haystack, needle) {
    outer: for (let i = 0; i + needle.length <= haystack.length; i++) {
      for (let j = 0; j < needle.length; j++) if (haystack[i + j] !== needle[j]) continue outer;
      return true;
    }
    return false;
  }

  async function sha256(bytes) {
    return new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  }

  async function sha256Hex(bytes) {
    return hex(await sha256(bytes));
  }

  // --- RFC 9162 Merkle trees -----------------------------------------------------------------

  const leafHash = (entry) => sha256(concat(new Uint8Array([0]), entry));
  const nodeHash = (left, right) => sha256(concat(new Uint8Array([1]), left, right));

  /** The root an inclusion proof yields (RFC 9162 2.1.3.2, steps 1-4); throws if it is malformed. */
  async function rootFromInclusionProof(leaf, index, size, proof) {
    let fn = BigInt(index), sn = BigInt(size) - 1n;
    if (fn < 0n || fn > sn) throw new Error(`index ${index} is not below tree size ${size}`);
    if (leaf.length !== 32) throw new Error("the leaf hash is not 32 bytes");
    let r = leaf;
    for (const p of proof) {
      if (p.length !== 32) throw new Error("a proof hash is not 32 bytes");
      if (sn === 0n) throw new Error("the inclusion proof is longer than the path to the root");
      if ((fn & 1n) === 1n || fn === sn) {
        r = await nodeHash(p, r);
        while ((fn & 1n) === 0n && fn !== 0n) { fn >>= 1n; sn >>= 1n; }
      } else {
        r = await nodeHash(r, p);
      }
      fn >>= 1n; sn >>= 1n;
    }
    if (sn !== 0n) throw new Error("the inclusion proof is shorter than the path to the root");
    return r;
  }

  // --- C2SP signed notes and checkpoints -----------------------------------------------------

  /** A verifier key "<name>+<hex8 key ID>+<base64(0x01 || 32-byte Ed25519 key)>", checked. */
  async function parseVkey(vkey) {
    const text = String(vkey).trim();
    const a = text.indexOf("+"), b = text.indexOf("+", a + 1);
    if (a <= 0 || b < 0) throw new Error("a verifier key is <name>+<key ID>+<key>");
    const name = text.slice(0, a), id = text.slice(a + 1, b), material = b64decode(text.slice(b + 1), "the key");
    if (!/^[0-9a-fA-F]{8}$/.test(id)) throw new Error("the key ID is not 8 hex digits");
    if (material.length !== 33 || material[0] !== 0x01) throw new Error("not an Ed25519 (type 0x01) key");
    const raw = material.slice(1);
    const keyId = hex((await sha256(concat(enc.encode(name + "\n"), material))).slice(0, 4));
    if (keyId !== id.toLowerCase()) throw new Error("the key ID does not match the key");
    return { vkey: text, name, keyId, raw, fingerprint: await sha256Hex(raw) };
  }

  /** Split a signed note into its text (UTF-8 bytes, final newline included) and signatures. */
  function parseNote(note) {
    if (typeof note !== "string") throw new Error("the checkpoint is not text");
    const split = note.lastIndexOf("\n\n");
    if (split < 0 || !note.endsWith("\n")) throw new Error("the checkpoint note is malformed");
    const text = note.slice(0, split + 1);
    const sigs = note.slice(split + 2, -1).split("\n").map((line) => {
      const m = /^\u2014 (\S+) (\S+)$/.exec(line);
      if (!m) throw new Error("a checkpoint signature line is malformed");
      const raw = b64decode(m[2], "a checkpoint signature");
      if (raw.length < 5) throw new Error("a checkpoint signature is too short");
      return { name: m[1], keyId: hex(raw.slice(0, 4)), signature: raw.slice(4) };
    });
    return { text, sigs };
  }

  /** Verify the checkpoint's signature by one of `keys` and parse it: {origin, size, root, key}. */
  async function openCheckpoint(note, keys) {
    const { text, sigs } = parseNote(note);
    const body = enc.encode(text);
    let signedBy = null;
    for (const key of keys) {
      const sig = sigs.find((s) => s.name === key.name && s.keyId === key.keyId);
      if (!sig) continue;
      const pub = await crypto.subtle.importKey("raw", key.raw, { name: "Ed25519" }, false, ["verify"]);
      const ok = sig.signature.length === 64 &&
        await crypto.subtle.verify({ name: "Ed25519" }, pub, sig.signature, body);
      if (!ok) throw new Error(`the signature by ${key.name}+${key.keyId} does not verify`);
      signedBy = signedBy || key;
    }
    if (!signedBy) throw new Error("the checkpoint carries no signature by the trusted log key");
    const lines = text.slice(0, -1).split("\n");
    if (lines.length < 3 || !/^(0|[1-9][0-9]*)$/.test(lines[1])) throw new Error("the checkpoint text is malformed");
    const root = b64decode(lines[2], "the checkpoint's root hash");
    if (root.length !== 32) throw new Error("the checkpoint's root hash is not 32 bytes");
    if (lines[0] !== signedBy.name) {
      throw new Error(`the checkpoint's origin ${lines[0]} is not the log key's name ${signedBy.name}`);
    }
    return { origin: lines[0], size: BigInt(lines[1]), root, key: signedBy };
  }

  // --- Avro binary (LedgerEntry.v1, Envelope.v1 and Envelope.v2) ------------------------------

  class Reader {
    constructor(bytes) { this.b = bytes; this.at = 0; }
    take(n) {
      if (n < 0 || this.at + n > this.b.length) throw new Error("truncated");
      const out = this.b.subarray(this.at, this.at + n);
      this.at += n;
      return out;
    }
    long() {
      let v = 0n, shift = 0n, byte;
      do {
        byte = this.take(1)[0];
        v |= BigInt(byte & 0x7f) << shift;
        shift += 7n;
        if (shift > 70n) throw new Error("varint too long");
      } while (byte & 0x80);
      return (v >> 1n) ^ -(v & 1n);
    }
    count() {
      const n = this.long();
      if (n < 0n || n > BigInt(this.b.length)) throw new Error("bad length");
      return Number(n);
    }
    bytes() { return this.take(this.count()); }
    string() { return dec.decode(this.bytes()); }
    strings() {
      const out = [];
      for (;;) {
        let n = this.long();
        if (n === 0n) return out;
        if (n < 0n) { n = -n; this.long(); }
        for (let i = 0n; i < n; i++) out.push(this.string());
      }
    }
    end() { if (this.at !== this.b.length) throw new Error("trailing bytes"); }
  }

  function uuid(bytes) {
    const h = hex(bytes);
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
  }

  function decodeEntry(raw) {
    const r = new Reader(raw);
    const entry = { index: r.long(), prevLeafHash: r.take(32), notarisedAt: r.long(),
                    topic: r.string(), partition: r.long(), offset: r.long(), membershipVersion: r.long(),
                    envelope: r.bytes() };
    r.end();
    const e = new Reader(entry.envelope);
    const env = { version: e.long(), messageId: uuid(e.take(16)), type: e.string(), schemaFingerprint: e.take(32),
                  sender: e.string(), senderKeyId: e.string(), recipients: e.strings(), createdAt: e.long() };
    const branch = e.long();
    if (branch === 1n) env.correlationId = uuid(e.take(16));
    else if (branch !== 0n) throw new Error("bad correlation_id union branch");
    env.disclosed = [];
    if (env.version === 2n) {  // envelope v2: deliver_by, the fields kept in clear, the commitment
      const bound = e.long();
      if (bound === 1n) env.deliverBy = e.long();
      else if (bound !== 0n) throw new Error("bad deliver_by union branch");
      for (;;) {
        let n = e.long();
        if (n === 0n) break;
        if (n < 0n) { n = -n; e.long(); }
        for (let i = 0n; i < n; i++) env.disclosed.push({ path: e.string(), value: e.string() });
      }
      env.commitment = e.take(32);
    } else if (env.version !== 1n) {
      throw new Error(`unsupported envelope version ${env.version}`);
    }
    env.payload = e.bytes();
    env.signature = e.bytes();
    e.end();
    return { entry, env };
  }

  function isoMicros(us) {
    const ms = Number(us / 1000n);
    const micros = String(((us % 1000000n) + 1000000n) % 1000000n).padStart(6, "0");
    return new Date(ms).toISOString().replace(/\.\d{3}Z$/, `.${micros}Z`);
  }

  function beijing(us) {
    return new Date(Number(us / 1000n)).toLocaleString("zh-CN", { timeZone: "Asia/Shanghai", hour12: false });
  }

  // --- one lookup entry ------------------------------------------------------------------------

  /**
   * Verify one entry of GET lookup/document/<hex> for the file whose SHA-256 is `digestHex`,
   * trusting `keys` (verifier key strings, or keys from parseVkey). Never throws: returns
   * {ok, checks: [{id, ok, zh, en, detail}], facts} where facts come from the verified bytes.
   */
  async function verifyEntry(item, digestHex, keys) {
    const checks = [];
    const facts = {};
    const check = (id, zh, en, ok, detail) => { checks.push({ id, zh, en, ok: !!ok, detail: detail || "" }); return ok; };
    const attempt = async (id, zh, en, fn) => {
      try { const detail = await fn(); return check(id, zh, en, true, detail); }
      catch (err) { return check(id, zh, en, false, err && err.message ? err.message : String(err)); }
    };
    let cp = null, raw = null, decoded = null;

    await attempt("signature", "检查点签名有效", "checkpoint signed by the log key", async () => {
      const trusted = [];
      for (const k of keys || []) trusted.push(typeof k === "string" ? await parseVkey(k) : k);
      if (!trusted.length) throw new Error("no log key to verify with");
      cp = await openCheckpoint(item.checkpoint, trusted);
      facts.origin = cp.origin;
      facts.checkpointSize = cp.size.toString();
      facts.keyId = cp.key.keyId;
      return `${cp.key.name}+${cp.key.keyId}`;
    });

    await attempt("entry", "账本条目可解析", "ledger entry decodes", async () => {
      if (typeof item.entry !== "string") throw new Error("the lookup carries no ledger entry bytes");
      raw = b64decode(item.entry, "the ledger entry");
      decoded = decodeEntry(raw);
      const { entry, env } = decoded;
      Object.assign(facts, {
        index: entry.index.toString(), notarisedAt: isoMicros(entry.notarisedAt),
        notarisedAtBeijing: beijing(entry.notarisedAt), createdAt: isoMicros(env.createdAt),
        sender: env.sender, type: env.type, messageId: env.messageId, recipients: env.recipients.join(", "),
        partition: entry.partition.toString(),
      });
      if (typeof item.sender_name === "string") facts.senderName = item.sender_name;
      return `${raw.length} bytes`;
    });

    await attempt("inclusion", "包含证明通过（RFC 9162）", "inclusion proof leads to the checkpoint's root (RFC 9162)", async () => {
      if (!cp || !decoded) throw new Error("needs a verified checkpoint and the entry");
      const leaf = await leafHash(raw);
      const proof = (item.inclusion_proof || []).map((h, i) => b64decode(h, `proof hash ${i}`));
      const root = await rootFromInclusionProof(leaf, decoded.entry.index, cp.size, proof);
      if (!equal(root, cp.root)) throw new Error("the proof does not lead to the checkpoint's root hash");
      return `leaf ${decoded.entry.index} of ${cp.size}`;
    });

    await attempt("document", "文件哈希在已签名报文中", "the file's SHA-256 is in the signed message", async () => {
      if (!decoded) throw new Error("needs the entry");
      if (!/^[0-9a-f]{64}$/.test(digestHex)) throw new Error("the file's digest is not 64 hex digits");
      const env = decoded.env;
      if (env.version === 2n) {  // the payload is encrypted; its hashes are among the signed clear fields
        const named = env.disclosed.some(d => /(^|\.|_)sha256$/.test(d.path) && d.value === digestHex);
        if (!named) throw new Error("the message's clear fields do not carry this file's SHA-256");
      } else if (!contains(env.payload, fromHex(digestHex))) {
        throw new Error("the message's payload does not carry this file's SHA-256");
      }
      return digestHex;
    });

    await attempt("fields", "查询结果与条目一致", "the lookup agrees with the entry's bytes", async () => {
      if (!decoded) throw new Error("needs the entry");
      const { entry, env } = decoded;
      const wrong = [];
      if (String(item.index) !== entry.index.toString()) wrong.push("index");
      if (item.sender !== env.sender) wrong.push("sender");
      if (item.type !== env.type) wrong.push("type");
      if (item.message_id !== env.messageId) wrong.push("message_id");
      if (item.leaf_hash !== undefined && !equal(b64decode(item.leaf_hash, "leaf_hash"), await leafHash(raw))) {
        wrong.push("leaf_hash");
      }
      if (wrong.length) throw new Error(`the lookup differs from the entry in: ${wrong.join(", ")}`);
      return "";
    });

    const ok = checks.every((c) => c.ok);
    return { ok, checks, facts, failed: checks.filter((c) => !c.ok).map((c) => c.id) };
  }

  // --- the page ----------------------------------------------------------------------------------

  const $ = (id) => document.getElementById(id);
  const state = { served: [], pinned: null };

  function el(tag, props, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(props || {})) {
      if (k === "class") node.className = v;
      else if (k.startsWith("data-")) node.setAttribute(k, v);
      else node[k] = v;
    }
    for (const c of children) node.append(c);
    return node;
  }

  function bilingual(zh, en) {
    return [zh + " ", el("span", { class: "en" }, en)];
  }

  function verdict(status, zh, en, reasonText) {
    $("result").hidden = false;
    const v = $("verdict");
    v.setAttribute("data-status", status);
    v.replaceChildren(...bilingual(zh, en));
    $("reason").textContent = reasonText || "";
  }

  function trustedKeys() {
    return state.pinned ? [state.pinned] : state.served;
  }

  async function loadKeys() {
    try {
      const stored = localStorage.getItem(PIN_STORAGE);
      if (stored) state.pinned = await parseVkey(stored);
    } catch (err) {
      localStorage.removeItem(PIN_STORAGE);
    }
    try {
      const resp = await fetch("log-key", { method: "GET", cache: "no-store", credentials: "omit" });
      if (!resp.ok) throw new Error(`HTTP ${resp.status}`);
      const lines = (await resp.text()).split("\n").map((s) => s.trim()).filter(Boolean);
      state.served = [];
      for (const line of lines) state.served.push(await parseVkey(line));
    } catch (err) {
      state.served = [];
      $("served-key").textContent = `无法取得 cannot fetch the log key: ${err.message}`;
    }
    renderKeys();
  }

  function renderKeys() {
    if (state.served.length) {
      $("served-key").textContent = state.served.map((k) => k.vkey).join("\n");
      $("served-key-id").textContent = state.served.map((k) => k.keyId).join(" ");
      $("served-key-fp").textContent = state.served.map((k) => k.fingerprint.match(/.{4}/g).join(" ")).join("\n");
    }
    $("pinned-key").replaceChildren(...(state.pinned
      ? [`${state.pinned.vkey}  (${state.pinned.keyId})`]
      : bilingual("未固定", "none: the served key is used")));
    const warn = $("key-warning");
    if (state.pinned && !state.served.some((k) => k.vkey === state.pinned.vkey)) {
      warn.hidden = false;
      warn.replaceChildren(...bilingual("注意：服务端公钥与已固定公钥不同，仅接受已固定公钥签名的检查点。",
        "The verifier serves a key other than the pinned one: only checkpoints signed by the pinned key are accepted."));
    } else {
      warn.hidden = true;
    }
  }

  async function pin(vkey) {
    try {
      const key = await parseVkey(vkey);
      localStorage.setItem(PIN_STORAGE, key.vkey);
      state.pinned = key;
    } catch (err) {
      alert(`无效公钥 invalid key: ${err.message}`);
    }
    renderKeys();
  }

  function fact(dl, field, zh, en, value) {
    if (value === undefined || value === "") return;
    dl.append(el("dt", {}, ...bilingual(zh, en)), el("dd", { class: "mono", "data-field": field }, value));
  }

  function renderEntry(result) {
    const f = result.facts;
    const labels = TYPE_LABELS[f.type] || [f.type || "?", "", "发送", "sent"];
    const dl = el("dl", { class: "facts" });
    fact(dl, "sender", "发送方（成员）", "Sender (member id)", f.sender);
    fact(dl, "sender-name", "发送方名称", "Sender name", f.senderName);
    fact(dl, "type", "类型", "Type", f.type ? `${labels[0]} ${labels[1]} (${f.type})` : undefined);
    fact(dl, "recipients", "接收方", "Recipients", f.recipients);
    fact(dl, "created-at", "报文生成时间", "Message created (UTC)", f.createdAt);
    fact(dl, "notarised-at", "上链公证时间 (UTC)", "Notarised (UTC)", f.notarisedAt);
    fact(dl, "notarised-at-beijing", "上链公证时间（北京时间）", "Notarised (Beijing time)", f.notarisedAtBeijing);
    fact(dl, "index", "账本序号", "Ledger index", f.index);
    fact(dl, "checkpoint-size", "检查点规模", "Checkpoint size", f.checkpointSize);
    fact(dl, "origin", "账本", "Log", f.origin);
    fact(dl, "message-id", "报文编号", "Message id", f.messageId);
    const list = el("ul", { class: "checks" });
    for (const c of result.checks) {
      list.append(el("li", { class: c.ok ? "pass" : "fail", "data-check": c.id },
        ...bilingual(c.zh, c.en), c.detail ? el("span", { class: "mono" }, ` — ${c.detail}`) : ""));
    }
    const title = result.ok ? bilingual(`已验证：${labels[2]}`, `verified: ${labels[3]}`) : bilingual("未通过验证", "not verified");
    return el("div", { class: `entry ${result.ok ? "ok" : "bad"}`, "data-index": f.index || "" },
      el("h3", {}, ...title), dl, list);
  }

  async function verifyFile(file) {
    $("entries").replaceChildren();
    verdict("pending", "正在计算文件哈希…", "Hashing the file locally…");
    try {
      await state.ready;
      if (!window.isSecureContext || !crypto.subtle) {
        throw new Error("WebCrypto needs HTTPS (or localhost): open this page over https://");
      }
      const digestHex = await sha256Hex(new Uint8Array(await file.arrayBuffer()));
      const info = $("file-info");
      info.hidden = false;
      info.textContent = `${file.name} · ${file.size} bytes · SHA-256 ${digestHex}`;
      verdict("pending", "正在查询并验证…", "Looking up and verifying…");
      const resp = await fetch(`lookup/document/${digestHex}`, { method: "GET", cache: "no-store", credentials: "omit" });
      if (resp.status === 404) {
        verdict("notfound", "未找到：账本中没有该文件的记录", "NOT FOUND: no published ledger entry carries this file",
          `SHA-256 ${digestHex}`);
        return;
      }
      if (!resp.ok) throw new Error(`the verifier answered HTTP ${resp.status}`);
      const body = await resp.json();
      if (body.document_sha256 !== digestHex || !Array.isArray(body.entries) || !body.entries.length) {
        throw new Error("the lookup answered for another document");
      }
      if (!trustedKeys().length) throw new Error("no log key: the verifier did not serve one and none is pinned");
      const results = [];
      for (const item of body.entries) results.push(await verifyEntry(item, digestHex, trustedKeys()));
      $("entries").replaceChildren(...results.map(renderEntry));
      const bad = results.find((r) => !r.ok);
      if (bad) {
        const c = bad.checks.find((x) => !x.ok);
        verdict("failed", "验证失败", "NOT VERIFIED", `${c.zh} / ${c.en}: ${c.detail}`);
      } else {
        const f = results[0].facts;
        verdict("verified", "已验证", "VERIFIED",
          `${f.sender} · ${f.type} · #${f.index} · ${f.notarisedAt}` + (results.length > 1 ? ` (+${results.length - 1})` : ""));
      }
    } catch (err) {
      verdict("error", "无法验证", "COULD NOT VERIFY", err && err.message ? err.message : String(err));
    }
  }

  function wire() {
    const input = $("file"), drop = $("drop");
    input.addEventListener("change", () => { if (input.files.length) verifyFile(input.files[0]); });
    drop.addEventListener("dragover", (ev) => { ev.preventDefault(); drop.classList.add("over"); });
    drop.addEventListener("dragleave", () => drop.classList.remove("over"));
    drop.addEventListener("drop", (ev) => {
      ev.preventDefault();
      drop.classList.remove("over");
      if (ev.dataTransfer && ev.dataTransfer.files.length) verifyFile(ev.dataTransfer.files[0]);
    });
    $("pin-served").addEventListener("click", () => { if (state.served.length) pin(state.served[0].vkey); });
    $("pin-pasted").addEventListener("click", () => pin($("pin-input").value));
    $("unpin").addEventListener("click", () => {
      localStorage.removeItem(PIN_STORAGE);
      state.pinned = null;
      renderKeys();
    });
    state.ready = loadKeys();
  }

  window.HubVerify = { sha256Hex, parseVkey, openCheckpoint, rootFromInclusionProof, decodeEntry,
                       verifyEntry, verifyFile, trustedKeys, state };
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", wire);
  else wire();
})();
