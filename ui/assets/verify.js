// pouch explorer: checks, in the visitor's browser, what the explorer
// shows. The server's word counts for nothing here: the checkpoint's
// signature is checked against a log key the visitor gave (or pinned),
// its witnesses' cosignatures against the visitor's policy (C2SP
// tlog-policy), and a record's inclusion proof (RFC 6962) against the
// checkpoint's root. It uses the browser's own cryptography (WebCrypto:
// Ed25519, ML-DSA-44, SHA-256) and asks nothing of any other host.
// SPEC: spec/ui.md#in-browser-checks
"use strict";
(function () {
  var STORE = "pouch.trust";
  var enc = new TextEncoder();

  function b64(s) {
    var bin = atob(s), out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out;
  }
  function hex(a) { return Array.prototype.map.call(a, function (x) { return ("0" + x.toString(16)).slice(-2); }).join(""); }
  function concat() {
    var n = 0, i, parts = arguments;
    for (i = 0; i < parts.length; i++) n += parts[i].length;
    var out = new Uint8Array(n), o = 0;
    for (i = 0; i < parts.length; i++) { out.set(parts[i], o); o += parts[i].length; }
    return out;
  }
  function u64(n) { var b = new Uint8Array(8); var v = BigInt(n); for (var i = 7; i >= 0; i--) { b[i] = Number(v & 255n); v >>= 8n; } return b; }
  function readU64(a) { var v = 0n; for (var i = 0; i < 8; i++) v = (v << 8n) | BigInt(a[i]); return v; }
  function equalBytes(a, b) { if (a.length !== b.length) return false; for (var i = 0; i < a.length; i++) if (a[i] !== b[i]) return false; return true; }
  async function sha256(b) { return new Uint8Array(await crypto.subtle.digest("SHA-256", b)); }

  // A verifier key: name+hash+base64(alg || key).
  function parseKey(vkey) {
    var m = /^([^+\s]+)\+([0-9a-f]{8})\+([A-Za-z0-9+/=]+)$/.exec(vkey.trim());
    if (!m) throw new Error("not a verifier key: " + vkey);
    var raw = b64(m[3]);
    return { name: m[1], hash: m[2], alg: raw[0], key: raw.slice(1), text: vkey.trim() };
  }

  // A C2SP tlog-policy, or a bare log key.
  function parsePolicy(text) {
    var lines = text.split("\n").map(function (l) { return l.replace(/#.*/, "").trim(); }).filter(Boolean);
    if (lines.length === 1 && lines[0].indexOf(" ") < 0) return { log: parseKey(lines[0]), witnesses: {}, groups: {}, quorum: null };
    var p = { log: null, witnesses: {}, groups: {}, quorum: null };
    lines.forEach(function (l) {
      var f = l.split(/\s+/);
      if (f[0] === "log") p.log = parseKey(f[1]);
      else if (f[0] === "witness") p.witnesses[f[1]] = parseKey(f[2]);
      else if (f[0] === "group") p.groups[f[1]] = { k: f[2], members: f.slice(3) };
      else if (f[0] === "quorum") p.quorum = f[1] === "none" ? null : f[1];
      else throw new Error("policy line not understood: " + l);
    });
    if (!p.log) throw new Error("the policy names no log key (a line: log KEY)");
    return p;
  }

  function quorumMet(p, name, ok, seen) {
    seen = seen || {};
    if (p.witnesses[name]) return !!ok[name];
    var g = p.groups[name];
    if (!g || seen[name]) return false;
    seen[name] = true;
    var n = g.members.filter(function (m) { return quorumMet(p, m, ok, seen); }).length;
    var k = g.k === "all" ? g.members.length : g.k === "any" ? 1 : Number(g.k);
    return n >= k;
  }

  function parseNote(text) {
    var i = text.indexOf("\n\n");
    if (i < 0) throw new Error("not a signed note");
    var body = text.slice(0, i + 1);
    var sigs = text.slice(i + 2).split("\n").filter(Boolean).map(function (l) {
      var m = /^\u2014 (\S+) ([A-Za-z0-9+/=]+)$/.exec(l);
      if (!m) throw new Error("bad signature line: " + l);
      var raw = b64(m[2]);
      return { name: m[1], hash: hex(raw.slice(0, 4)), sig: raw.slice(4) };
    });
    var lines = body.split("\n");
    return { body: body, sigs: sigs, origin: lines[0], size: Number(lines[1]), root: b64(lines[2]) };
  }

  async function verifyEd25519(key, sig, msg) {
    var k = await crypto.subtle.importKey("raw", key, { name: "Ed25519" }, false, ["verify"]);
    return crypto.subtle.verify({ name: "Ed25519" }, k, sig, msg);
  }
  async function verifyMLDSA44(key, sig, msg) {
    var k = await crypto.subtle.importKey("raw-public", key, { name: "ML-DSA-44" }, false, ["verify"]);
    return crypto.subtle.verify({ name: "ML-DSA-44" }, k, sig, msg);
  }

  function sigFor(note, k) { return note.sigs.find(function (s) { return s.name === k.name && s.hash === k.hash; }); }

  // checkCosignature verifies witness key k's cosignature on note; it
  // returns the cosignature's time (a Date) or throws.
  async function checkCosignature(note, k) {
    var s = sigFor(note, k);
    if (!s) throw new Error("no cosignature by " + k.name);
    var ts, ok;
    if (k.alg === 0x04) {
      ts = readU64(s.sig.slice(0, 8));
      ok = await verifyEd25519(k.key, s.sig.slice(8), enc.encode("cosignature/v1\ntime " + ts + "\n" + note.body));
    } else if (k.alg === 0x06) {
      ts = readU64(s.sig.slice(0, 8));
      var name = enc.encode(k.name), origin = enc.encode(note.origin);
      var msg = concat(enc.encode("subtree/v1\n\0"), new Uint8Array([name.length]), name, u64(ts), new Uint8Array([origin.length]), origin, u64(0), u64(note.size), note.root);
      try { ok = await verifyMLDSA44(k.key, s.sig.slice(8), msg); }
      catch (e) { throw new Error("this browser cannot check " + k.name + "'s ML-DSA-44 cosignature (" + e.message + ")"); }
    } else if (k.alg === 0x01) {
      ok = await verifyEd25519(k.key, s.sig, enc.encode(note.body)); ts = 0n;
    } else throw new Error("unknown key type " + k.alg + " for " + k.name);
    if (!ok) throw new Error(k.name + "'s cosignature does not verify");
    return new Date(Number(ts) * 1000);
  }

  async function checkCheckpoint(text, p) {
    var note = parseNote(text);
    if (p.log.alg !== 0x01) throw new Error("the log key is not an Ed25519 note key");
    if (note.origin !== p.log.name) throw new Error("the checkpoint is for the log " + note.origin + ", not " + p.log.name);
    var s = sigFor(note, p.log);
    if (!s) throw new Error("the checkpoint carries no signature by the log key you gave");
    if (!(await verifyEd25519(p.log.key, s.sig, enc.encode(note.body)))) throw new Error("the log's signature on the checkpoint does not verify");
    var ok = {}, times = {}, problems = [];
    for (var name in p.witnesses) {
      try { times[name] = await checkCosignature(note, p.witnesses[name]); ok[name] = true; }
      catch (e) { problems.push(e.message); }
    }
    var witnessed = p.quorum !== null;
    var met = !witnessed || quorumMet(p, p.quorum, ok);
    return { note: note, cosigned: Object.keys(ok), times: times, witnessed: witnessed, met: met, problems: problems };
  }

  async function checkInclusion(leaf, index, size, hashes, root) {
    var r = await sha256(concat(new Uint8Array([0]), leaf));
    var fn = index, sn = size - 1;
    if (index >= size) throw new Error("index " + index + " is outside the tree of " + size);
    for (var i = 0; i < hashes.length; i++) {
      var p = hashes[i];
      if (sn === 0) throw new Error("the inclusion proof is too long");
      if (fn % 2 === 1 || fn === sn) {
        r = await sha256(concat(new Uint8Array([1]), p, r));
        if (fn % 2 === 0) { while (fn % 2 === 0 && fn !== 0) { fn = Math.floor(fn / 2); sn = Math.floor(sn / 2); } }
      } else {
        r = await sha256(concat(new Uint8Array([1]), r, p));
      }
      fn = Math.floor(fn / 2); sn = Math.floor(sn / 2);
    }
    if (sn !== 0) throw new Error("the inclusion proof is too short");
    if (!equalBytes(r, root)) throw new Error("the inclusion proof does not lead to the checkpoint's root");
  }

  function say(state, text) {
    var v = document.getElementById("verdict");
    if (!v) return;
    v.dataset.state = state;
    v.textContent = text;
  }

  async function run() {
    var text = localStorage.getItem(STORE);
    if (!text) { say("none", "No key or policy given: nothing on this page is verified."); return; }
    var p;
    try { p = parsePolicy(text); } catch (e) { say("bad", "\u2717 Your key or policy: " + e.message); return; }
    if (!window.crypto || !crypto.subtle) { say("none", "This browser has no WebCrypto here: check with the command shown instead."); return; }
    var proof = document.getElementById("proof");
    var cpEl = proof || document.getElementById("checkpoint");
    if (!cpEl) { say("none", "Nothing to check on this page."); return; }
    try {
      say("none", "Checking\u2026");
      var cp = await checkCheckpoint(cpEl.dataset.checkpoint, p);
      var what = "checkpoint of " + cp.note.size + " records signed by the log key you gave";
      if (proof) {
        var leaf = b64(proof.dataset.leaf);
        var id = proof.dataset.id;
        var idBytes = new Uint8Array(id.match(/../g).map(function (h) { return parseInt(h, 16); }));
        if (!containsSeq(leaf, concat(new Uint8Array([0x58, 0x20]), idBytes))) throw new Error("the leaf proven is not record " + id.slice(0, 16));
        if (Number(proof.dataset.size) !== cp.note.size) throw new Error("the proof is for a tree of " + proof.dataset.size + ", the checkpoint of " + cp.note.size);
        var hs = proof.dataset.hashes ? proof.dataset.hashes.split(" ").map(b64) : [];
        await checkInclusion(leaf, Number(proof.dataset.index), cp.note.size, hs, cp.note.root);
        what = "record " + id.slice(0, 16) + " is at index " + proof.dataset.index + " of the log, in the " + what;
      }
      if (!cp.met) {
        say("bad", "\u2717 The witness quorum of your policy is not met: " + (cp.problems.join("; ") || "too few cosignatures") + ". The log's signature alone proves nothing against a split view.");
        return;
      }
      if (!cp.witnessed) {
        say("partial", "\u2713 Verified in your browser: " + what + ". Your key names no witness, so a split view would go unnoticed.");
        return;
      }
      var ages = cp.cosigned.map(function (n) { return n + " (" + cp.times[n].toISOString().replace(".000", "") + ")"; });
      say("ok", "\u2713 Verified in your browser: " + what + ", cosigned by " + ages.join(", ") + ": your policy's quorum is met.");
    } catch (e) {
      say("bad", "\u2717 Does not verify: " + e.message);
    }
  }

  function containsSeq(a, s) {
    outer: for (var i = 0; i + s.length <= a.length; i++) {
      for (var j = 0; j < s.length; j++) if (a[i + j] !== s[j]) continue outer;
      return true;
    }
    return false;
  }

  var form = document.getElementById("trust-form");
  if (form) {
    var ta = document.getElementById("trust-text");
    ta.value = localStorage.getItem(STORE) || "";
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      if (ta.value.trim()) localStorage.setItem(STORE, ta.value.trim()); else localStorage.removeItem(STORE);
      run();
    });
    document.getElementById("trust-forget").addEventListener("click", function () {
      localStorage.removeItem(STORE); ta.value = ""; run();
    });
  }
  run();
})();
