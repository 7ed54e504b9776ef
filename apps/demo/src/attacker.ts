/**
 * The demo's attacker: a page on another site (http://127.0.0.1:$ATTACKER_PORT,
 * while the bank is on http://localhost:$PORT) that tries, with every classic
 * cross-site request forgery, to move money from alice (signed in at the bank
 * in the same browser) to mallory. Each attempt is followed by a look at what
 * the bank recorded (`observe`), so the page shows, per forgery, the bank's
 * answer and whether alice's balance moved.
 *
 * A web-standard handler (Request -> Response); the bank server mounts it on
 * Node's http. The page's HTML, script and stylesheet are strings in this
 * module, so it needs no file system and no build step.
 */

import type { SecurityEvent } from './events.ts'

/** One request the bank refused, as recorded by the bank. */
export type ObservedEvent = Pick<SecurityEvent, 'at' | 'method' | 'path' | 'status' | 'code' | 'reason'>

/** What the attacker page may see of the bank, for the demo's scoreboard. */
export interface Observation {
  /** Balances in cents, by username. */
  balances: Record<string, number>
  /** The latest refused requests. */
  events: ObservedEvent[]
}

export interface AttackerOptions {
  /** The bank's origin, e.g. `http://localhost:3000`. */
  bankOrigin: string
  observe: () => Promise<Observation> | Observation
}

export type AttackerHandler = (request: Request) => Promise<Response>

/** The forgeries the page offers, in the order they are shown and run. */
export const ATTACKS = [
  {
    name: 'form',
    title: 'Auto-submitted form',
    technique: 'A hidden <form method="POST"> (application/x-www-form-urlencoded) posting to=mallory&amount=5000 to /api/transfer, into a hidden iframe.',
    defence: 'SameSite=Lax keeps the access cookie off a cross-site POST; no X-CSRF-Token header; Origin and Sec-Fetch-Site say cross-site.',
  },
  {
    name: 'multipart',
    title: 'Multipart form',
    technique: 'The same form with enctype="multipart/form-data", which some servers parse as readily as JSON.',
    defence: 'Same as above: no cookie, no CSRF header, a foreign Origin, and a body that is not JSON.',
  },
  {
    name: 'text-plain',
    title: 'The text/plain JSON trick',
    technique: 'enctype="text/plain" with a field named {"to":"mallory","amount":5000,"x":" and the value "} so the body reads as valid JSON.',
    defence: 'A valid JSON body is not enough: forms cannot add the X-CSRF-Token header and Lax cookies are not sent.',
  },
  {
    name: 'fetch-no-cors',
    title: 'fetch() in no-cors mode',
    technique: "fetch(bank + '/api/transfer', { method: 'POST', mode: 'no-cors', credentials: 'include', headers: { 'Content-Type': 'text/plain' }, body })",
    defence: 'no-cors allows only safelisted headers, so no X-CSRF-Token; the cookies stay home (SameSite); the answer is opaque anyway.',
  },
  {
    name: 'img',
    title: 'Image GET',
    technique: '<img src="bank/api/transfer?to=mallory&amount=5000"> — the oldest trick: a GET that changes state.',
    defence: 'A GET never moves money: transfers are POST only, and cross-site images carry no Lax cookies.',
  },
  {
    name: 'navigation',
    title: 'Top-level cross-site POST',
    technique: 'A form POST that navigates a new window to the bank, a top-level navigation rather than a subresource.',
    defence: 'SameSite=Lax sends cookies on top-level GETs only, never on a cross-site POST; the CSRF header is still missing.',
  },
  {
    name: 'login-csrf',
    title: 'Login CSRF',
    technique: "A form POST to /auth/login with mallory's credentials, to sign alice's browser into mallory's account so she deposits into it.",
    defence: "Login needs an X-CSRF-Token bound to the browser's pre-session cookie, which this page can neither read nor send; Origin is refused.",
  },
] as const

export type AttackName = (typeof ATTACKS)[number]['name']

const VICTIM = 'alice'

function escapeHtml(text: string): string {
  return text
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replaceAll('"', '&quot;')
    .replaceAll("'", '&#39;')
}

/** The Content-Security-Policy of every answer: the page's own script and
 * style only, plus exactly what the forgeries need to reach the bank. */
export function attackerCsp(bankOrigin: string): string {
  return [
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    `img-src 'self' ${bankOrigin}`,
    `connect-src 'self' ${bankOrigin}`,
    `form-action ${bankOrigin}`,
    `frame-src ${bankOrigin}`,
    "object-src 'none'",
    "base-uri 'none'",
    "frame-ancestors 'none'",
  ].join('; ')
}

function renderPage(bankOrigin: string): string {
  const bank = escapeHtml(bankOrigin)
  const rows = ATTACKS.map(
    (attack, index) => `
      <li class="attack" id="attack-${attack.name}">
        <div class="attack-head">
          <span class="num">${String(index + 1).padStart(2, '0')}</span>
          <div class="attack-text">
            <h3>${escapeHtml(attack.title)}</h3>
            <p class="technique"><code>${escapeHtml(attack.technique)}</code></p>
            <p class="defence">Why it should fail: ${escapeHtml(attack.defence)}</p>
          </div>
          <button type="button" class="launch" data-attack="${attack.name}">Launch</button>
        </div>
        <div class="result" data-result="${attack.name}" data-outcome="idle" aria-live="polite">
          <span class="badge badge-idle">not run yet</span>
          <span class="said"></span>
          <span class="bal"></span>
        </div>
      </li>`,
  ).join('')

  return `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>Totally legit cat pictures (demo attacker)</title>
  <link rel="stylesheet" href="/attacker.css">
  <script type="module" src="/attacker.js"></script>
</head>
<body data-bank-origin="${bank}" data-victim="${VICTIM}">
  <div class="warning" role="note">
    <strong>Demo attacker.</strong> This page is part of the Bastion demo. It lives on another site
    (<span class="mono" id="attacker-origin">this origin</span>) and forges requests to the bank at
    <span class="mono">${bank}</span>. Sign in there as <b>alice</b> in this same browser, then press the buttons.
  </div>
  <header class="hero">
    <div class="cats" aria-hidden="true">=^..^=&nbsp;&nbsp;=^..^=&nbsp;&nbsp;=^..^=</div>
    <h1>Totally legit cat pictures</h1>
    <p class="tagline">Nothing to see here. Just cats. Definitely not moving <b>$50.00</b> from alice to mallory.</p>
  </header>
  <main>
    <section class="panel scoreboard">
      <div>
        <div class="label">alice's balance at the bank</div>
        <div id="alice-balance" class="big" data-cents="">…</div>
      </div>
      <div class="controls">
        <button type="button" id="run-all" class="primary">Run all</button>
        <span id="status" class="status" aria-live="polite"></span>
      </div>
    </section>
    <ol class="attacks">${rows}
    </ol>
    <section class="panel">
      <h2>The bank's refusal log <span class="muted">(latest requests the bank refused)</span></h2>
      <div class="table-wrap">
        <table id="events">
          <thead><tr><th>time</th><th>request</th><th>status</th><th>code</th><th>reason</th></tr></thead>
          <tbody></tbody>
        </table>
      </div>
      <p id="events-empty" class="muted">Nothing refused yet.</p>
    </section>
  </main>
  <footer>Bastion demo · the attacker page reads the scoreboard from <span class="mono">/observe</span>, a demo-only window into the bank.</footer>
  <div id="sinks" hidden></div>
</body>
</html>
`
}

// The page's script. Kept free of backticks and `${` so it can live in this
// template literal verbatim (String.raw keeps its backslashes).
const ATTACKER_JS = String.raw`'use strict';
(function () {
  var BANK = document.body.getAttribute('data-bank-origin') || '';
  var VICTIM = document.body.getAttribute('data-victim') || 'alice';
  var TO = 'mallory';
  var CENTS = 5000;
  var WAIT_MS = 1000;
  var NAV_WINDOW = 'bastion-attack-nav';
  var navWindow = null;
  var busy = false;

  var PATHS = {
    'form': '/api/transfer', 'multipart': '/api/transfer', 'text-plain': '/api/transfer',
    'fetch-no-cors': '/api/transfer', 'img': '/api/transfer', 'navigation': '/api/transfer',
    'login-csrf': '/auth/login'
  };
  var ORDER = ['form', 'multipart', 'text-plain', 'fetch-no-cors', 'img', 'navigation', 'login-csrf'];

  function byId(id) { return document.getElementById(id); }
  function sleep(ms) { return new Promise(function (r) { setTimeout(r, ms); }); }

  function money(cents) {
    if (typeof cents !== 'number' || !isFinite(cents)) return 'unknown';
    var sign = cents < 0 ? '-' : '';
    var abs = Math.abs(Math.round(cents));
    var dollars = Math.floor(abs / 100).toLocaleString('en-US');
    var rest = String(abs % 100).padStart(2, '0');
    return sign + '$' + dollars + '.' + rest;
  }

  function sink(name) {
    var id = 'sink-' + name;
    var frame = byId(id);
    if (!frame) {
      frame = document.createElement('iframe');
      frame.id = id;
      frame.name = id;
      frame.title = 'hidden target for ' + name;
      frame.tabIndex = -1;
      byId('sinks').appendChild(frame);
    }
    return frame.name;
  }

  function submitForm(action, enctype, fields, target) {
    var form = document.createElement('form');
    form.method = 'POST';
    form.action = action;
    form.enctype = enctype;
    form.target = target;
    form.hidden = true;
    fields.forEach(function (pair) {
      var input = document.createElement('input');
      input.type = 'hidden';
      input.name = pair[0];
      input.value = pair[1];
      form.appendChild(input);
    });
    document.body.appendChild(form);
    form.submit();
    setTimeout(function () { form.remove(); }, 0);
  }

  var TRANSFER_FIELDS = [['to', TO], ['amount', String(CENTS)]];

  var LAUNCH = {
    'form': function () {
      submitForm(BANK + '/api/transfer', 'application/x-www-form-urlencoded', TRANSFER_FIELDS, sink('form'));
    },
    'multipart': function () {
      submitForm(BANK + '/api/transfer', 'multipart/form-data', TRANSFER_FIELDS, sink('multipart'));
    },
    'text-plain': function () {
      submitForm(BANK + '/api/transfer', 'text/plain',
        [['{"to":"' + TO + '","amount":' + CENTS + ',"x":"', '"}']], sink('text-plain'));
    },
    'fetch-no-cors': function () {
      fetch(BANK + '/api/transfer', {
        method: 'POST', mode: 'no-cors', credentials: 'include',
        headers: { 'Content-Type': 'text/plain' },
        body: JSON.stringify({ to: TO, amount: CENTS })
      }).catch(function () { /* opaque or refused: the scoreboard tells */ });
    },
    'img': function () {
      var img = new Image();
      img.alt = '';
      img.hidden = true;
      img.src = BANK + '/api/transfer?to=' + encodeURIComponent(TO) + '&amount=' + CENTS;
      byId('sinks').appendChild(img);
    },
    'navigation': function () {
      var target = (navWindow && !navWindow.closed) ? NAV_WINDOW : '_blank';
      submitForm(BANK + '/api/transfer', 'application/x-www-form-urlencoded', TRANSFER_FIELDS, target);
    },
    'login-csrf': function () {
      submitForm(BANK + '/auth/login', 'application/x-www-form-urlencoded',
        [['username', 'mallory'], ['password', 'mallory-password-1']], sink('login-csrf'));
    }
  };

  // A popup needs a user gesture; "Run all" reaches the navigation long after
  // the click, so the window is opened (blank) while the click still counts.
  function openNavWindow() {
    if (navWindow && !navWindow.closed) return;
    try { navWindow = window.open('', NAV_WINDOW, 'popup,width=520,height=420'); } catch (e) { navWindow = null; }
  }
  function closeNavWindow() {
    if (navWindow && !navWindow.closed) { try { navWindow.close(); } catch (e) { /* ignore */ } }
    navWindow = null;
  }

  async function observe() {
    var res = await fetch('/observe', { cache: 'no-store' });
    if (!res.ok) throw new Error('the scoreboard answered ' + res.status);
    var body = await res.json();
    return {
      balances: (body && body.balances) || {},
      events: (body && Array.isArray(body.events)) ? body.events : []
    };
  }

  function eventKey(e) {
    return [e.at, e.method, e.path, e.status, e.code || '', e.reason || ''].join('|');
  }
  function pathOf(p) { return String(p || '').split('?')[0]; }
  function newest(events) {
    var best = null;
    events.forEach(function (e) {
      if (!best || String(e.at) >= String(best.at)) best = e;
    });
    return best;
  }

  function describe(e, path) {
    if (!e) {
      return path === '/auth/login'
        ? 'no request reached the login handler'
        : 'no request reached the transfer handler';
    }
    var parts = [e.method + ' ' + pathOf(e.path) + ' \u2192 ' + e.status];
    if (e.code) parts.push(e.code);
    var reason = e.reason || (e.code === 'unauthenticated' ? 'request had no cookies' : '');
    return parts.join(' ') + (reason ? ' \u2014 ' + reason : '');
  }

  function setBalance(obs) {
    var el = byId('alice-balance');
    var cents = obs.balances[VICTIM];
    el.textContent = money(cents);
    el.setAttribute('data-cents', typeof cents === 'number' ? String(cents) : '');
  }

  function renderEvents(obs) {
    var body = document.querySelector('#events tbody');
    var rows = obs.events.slice().sort(function (a, b) { return String(b.at).localeCompare(String(a.at)); }).slice(0, 12);
    body.replaceChildren();
    rows.forEach(function (e) {
      var tr = document.createElement('tr');
      var t = new Date(e.at);
      [isNaN(t.getTime()) ? String(e.at) : t.toLocaleTimeString(),
       e.method + ' ' + e.path, String(e.status), e.code || '', e.reason || ''].forEach(function (text, i) {
        var td = document.createElement('td');
        td.textContent = text;
        if (i === 1) td.className = 'mono';
        tr.appendChild(td);
      });
      body.appendChild(tr);
    });
    byId('events-empty').hidden = rows.length > 0;
  }

  function resultEl(name) { return document.querySelector('[data-result="' + name + '"]'); }

  function renderResult(name, outcome, badgeText, said, balanceText) {
    var el = resultEl(name);
    el.setAttribute('data-outcome', outcome);
    var badge = el.querySelector('.badge');
    badge.className = 'badge badge-' + outcome;
    badge.textContent = badgeText;
    el.querySelector('.said').textContent = said;
    el.querySelector('.bal').textContent = balanceText;
  }

  function status(text) { byId('status').textContent = text; }

  async function run(name) {
    var path = PATHS[name];
    renderResult(name, 'running', 'launching\u2026', '', '');
    var before;
    try {
      before = await observe();
    } catch (err) {
      renderResult(name, 'error', 'scoreboard unavailable', String(err && err.message || err), '');
      return;
    }
    setBalance(before);
    var seen = new Set(before.events.map(eventKey));
    var note = '';
    try { LAUNCH[name](); } catch (err) { note = ' (the browser refused to send it: ' + (err && err.message || err) + ')'; }
    await sleep(WAIT_MS);
    var after;
    try {
      after = await observe();
    } catch (err) {
      renderResult(name, 'error', 'scoreboard unavailable', String(err && err.message || err), '');
      return;
    }
    if (name === 'navigation') closeNavWindow();
    setBalance(after);
    renderEvents(after);
    var fresh = after.events.filter(function (e) { return !seen.has(eventKey(e)) && pathOf(e.path) === path; });
    var b0 = before.balances[VICTIM];
    var b1 = after.balances[VICTIM];
    var moved = typeof b0 === 'number' && typeof b1 === 'number' && b1 !== b0;
    var balanceText = 'alice: ' + money(b0) + ' \u2192 ' + money(b1);
    renderResult(name, moved ? 'moved' : 'blocked', moved ? 'MONEY MOVED' : 'balance unchanged',
      'bank: ' + describe(newest(fresh), path) + note, balanceText);
  }

  function setBusy(on) {
    busy = on;
    document.querySelectorAll('button').forEach(function (b) { b.disabled = on; });
  }

  async function runOne(name) {
    if (busy) return;
    if (name === 'navigation') openNavWindow();
    setBusy(true);
    status('running ' + name + '\u2026');
    try { await run(name); } finally { setBusy(false); status(''); }
  }

  async function runAll() {
    if (busy) return;
    openNavWindow();
    setBusy(true);
    try {
      for (var i = 0; i < ORDER.length; i++) {
        status('running ' + (i + 1) + ' of ' + ORDER.length + ': ' + ORDER[i] + '\u2026');
        await run(ORDER[i]);
      }
      var moved = document.querySelectorAll('[data-outcome="moved"]').length;
      status(moved === 0 ? 'all ' + ORDER.length + ' forgeries failed: alice keeps her money' : moved + ' forgery(ies) moved money!');
    } finally {
      closeNavWindow();
      setBusy(false);
    }
  }

  document.querySelectorAll('[data-attack]').forEach(function (button) {
    button.addEventListener('click', function () { runOne(button.getAttribute('data-attack')); });
  });
  byId('run-all').addEventListener('click', function () { runAll(); });
  byId('attacker-origin').textContent = location.origin;

  function refresh() {
    observe().then(function (obs) { setBalance(obs); renderEvents(obs); })
      .catch(function (err) { status('scoreboard unavailable: ' + (err && err.message || err)); });
  }
  window.addEventListener('focus', function () { if (!busy) refresh(); });
  refresh();
})();
`

const ATTACKER_CSS = `:root {
  color-scheme: dark;
  --bg: #0b0f14;
  --panel: #121922;
  --panel-2: #0f151d;
  --line: #223042;
  --text: #d7e1ec;
  --muted: #7f93a8;
  --accent: #39e58c;
  --warn: #ffb347;
  --bad: #ff5c6c;
  --mono: ui-monospace, SFMono-Regular, Menlo, Consolas, "Liberation Mono", monospace;
  --sans: system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
}
* { box-sizing: border-box; }
[hidden] { display: none !important; }
html, body { margin: 0; }
body { background: radial-gradient(1200px 600px at 70% -10%, #14301f 0%, var(--bg) 55%); background-color: var(--bg); color: var(--text); font: 15px/1.5 var(--sans); min-height: 100vh; }
.mono, code { font-family: var(--mono); }
.muted { color: var(--muted); font-weight: normal; font-size: .85em; }
.warning { background: #2a1d05; border-bottom: 1px solid #5c4310; color: #ffd99a; padding: .6rem 1rem; font-size: .9rem; text-align: center; }
.warning .mono { color: #fff; }
.hero { max-width: 960px; margin: 0 auto; padding: 2rem 1rem 1rem; }
.cats { font-family: var(--mono); color: var(--accent); opacity: .8; letter-spacing: .1em; }
h1 { font-family: var(--mono); font-size: clamp(1.6rem, 5vw, 2.4rem); margin: .3rem 0; color: #fff; }
h1::after { content: "_"; color: var(--accent); animation: blink 1.1s steps(1) infinite; }
@keyframes blink { 50% { opacity: 0; } }
@media (prefers-reduced-motion: reduce) { h1::after { animation: none; } }
.tagline { color: var(--muted); margin: 0; }
main { max-width: 960px; margin: 0 auto; padding: 0 1rem 2rem; display: grid; grid-template-columns: minmax(0, 1fr); gap: 1rem; }
.panel { background: var(--panel); border: 1px solid var(--line); border-radius: 12px; padding: 1rem 1.2rem; }
.panel h2 { font-size: 1rem; margin: 0 0 .6rem; font-family: var(--mono); }
.scoreboard { display: flex; flex-wrap: wrap; gap: 1rem; align-items: center; justify-content: space-between; }
.label { color: var(--muted); font-size: .8rem; text-transform: uppercase; letter-spacing: .08em; }
.big { font-family: var(--mono); font-size: 2rem; color: #fff; }
.controls { display: flex; align-items: center; gap: .8rem; flex-wrap: wrap; }
.status { color: var(--muted); font-family: var(--mono); font-size: .85rem; }
button { font: 600 .9rem var(--mono); border-radius: 8px; border: 1px solid var(--accent); background: transparent; color: var(--accent); padding: .5rem .9rem; cursor: pointer; white-space: nowrap; }
button:hover:not(:disabled) { background: rgba(57, 229, 140, .12); }
button:focus-visible { outline: 2px solid var(--accent); outline-offset: 2px; }
button:disabled { opacity: .45; cursor: progress; }
button.primary { background: var(--accent); color: #04110a; }
button.primary:hover:not(:disabled) { background: #5ff0a5; }
.attacks { list-style: none; margin: 0; padding: 0; display: grid; gap: .75rem; }
.attack { background: var(--panel); border: 1px solid var(--line); border-radius: 12px; overflow: hidden; }
.attack-head { display: grid; grid-template-columns: auto minmax(0, 1fr) auto; gap: .9rem; align-items: start; padding: 1rem 1.2rem; }
.num { font-family: var(--mono); color: var(--accent); font-size: 1.1rem; padding-top: .1rem; }
.attack h3 { margin: 0 0 .25rem; font-size: 1rem; color: #fff; }
.technique { margin: 0 0 .3rem; }
.attack-text { min-width: 0; }
.technique code { font-size: .8rem; color: #b9c7d6; overflow-wrap: anywhere; }
.defence { margin: 0; color: var(--muted); font-size: .85rem; }
.result { display: flex; flex-wrap: wrap; gap: .4rem .9rem; align-items: center; padding: .6rem 1.2rem; background: var(--panel-2); border-top: 1px solid var(--line); font-family: var(--mono); font-size: .8rem; min-height: 2.4rem; }
.result .said { color: var(--text); overflow-wrap: anywhere; min-width: 0; }
.result .bal { color: var(--muted); }
.badge { display: inline-block; border-radius: 999px; padding: .1rem .6rem; font-weight: 700; font-size: .75rem; letter-spacing: .03em; border: 1px solid currentColor; }
.badge-idle { color: var(--muted); }
.badge-running { color: var(--warn); }
.badge-blocked { color: #04110a; background: var(--accent); border-color: var(--accent); }
.badge-moved { color: #fff; background: var(--bad); border-color: var(--bad); }
.badge-error { color: var(--warn); }
.result[data-outcome="moved"] { background: #2a0d12; }
.table-wrap { overflow-x: auto; }
table { width: 100%; border-collapse: collapse; font-family: var(--mono); font-size: .8rem; }
th, td { text-align: left; padding: .35rem .5rem; border-bottom: 1px solid var(--line); vertical-align: top; }
th { color: var(--muted); font-weight: 600; }
footer { max-width: 960px; margin: 0 auto; padding: 0 1rem 2rem; color: var(--muted); font-size: .8rem; }
@media (max-width: 560px) {
  .attack-head { grid-template-columns: auto minmax(0, 1fr); padding: .9rem; }
  .result { padding: .6rem .9rem; }
  .panel { padding: .9rem; }
  .warning { text-align: left; }
  .attack-head .launch { grid-column: 1 / -1; width: 100%; }
  .big { font-size: 1.6rem; }
}
`

const TEXT_HEADERS = {
  'X-Content-Type-Options': 'nosniff',
  'Cache-Control': 'no-store',
}

/** Builds the attacker site's request handler. */
export function createAttackerApp(options: AttackerOptions): AttackerHandler {
  let bankOrigin: string
  try {
    bankOrigin = new URL(options.bankOrigin).origin
  } catch {
    throw new TypeError(`createAttackerApp: bankOrigin is not a URL: ${String(options.bankOrigin)}`)
  }
  if (bankOrigin === 'null') throw new TypeError('createAttackerApp: bankOrigin must be an http(s) origin')

  const csp = attackerCsp(bankOrigin)
  const page = renderPage(bankOrigin)

  const respond = (request: Request, status: number, body: string, contentType: string): Response =>
    new Response(request.method === 'HEAD' ? null : body, {
      status,
      headers: { ...TEXT_HEADERS, 'Content-Type': contentType, 'Content-Security-Policy': csp },
    })

  return async (request: Request): Promise<Response> => {
    const { pathname } = new URL(request.url)
    const readable = request.method === 'GET' || request.method === 'HEAD'
    if (readable) {
      switch (pathname) {
        case '/':
          return respond(request, 200, page, 'text/html; charset=utf-8')
        case '/attacker.js':
          return respond(request, 200, ATTACKER_JS, 'text/javascript; charset=utf-8')
        case '/attacker.css':
          return respond(request, 200, ATTACKER_CSS, 'text/css; charset=utf-8')
        case '/observe': {
          let observation: Observation
          try {
            observation = await options.observe()
          } catch {
            const error = { error: { code: 'unavailable', message: 'The bank could not be observed.' } }
            return respond(request, 503, JSON.stringify(error), 'application/json; charset=utf-8')
          }
          const body: Observation = {
            balances: observation?.balances ?? {},
            events: Array.isArray(observation?.events) ? observation.events : [],
          }
          return respond(request, 200, JSON.stringify(body), 'application/json; charset=utf-8')
        }
      }
    }
    const error = { error: { code: 'not_found', message: 'Nothing here but cats.' } }
    return respond(request, 404, JSON.stringify(error), 'application/json; charset=utf-8')
  }
}
