// Livebot live run page.
//
// Plain browser JavaScript, no build step. Loaded by run.html after the vendored
// markdown-it (window.markdownit). Reads its configuration from the JSON data block
// <script id="run-config" type="application/json">, follows the run's Server-Sent
// Events stream and renders the answer as Markdown as it is written.
//
// Contract for browser tests (see run.html):
//   #answer        rendered Markdown of the answer so far
//   #status        the current status message
//   #connection    data-state="open" | "reconnecting" | "closed"; its text is
//                  "reconnecting…" only while the stream is down
//   #activity      list of status changes, tool calls (with their results) and errors
//   #outcome       data-status="succeeded" | "failed" | "cancelled" once the run is over
//   #expired       shown when the run's log has expired
//   #demo-banner   shown for a demo run
//   body[data-run-state] = "connecting" | "streaming" | "complete" | "expired"
//   window.livebot.answerText()  the raw answer text (concatenation of every token)
//   window.livebot.lastEventId() the id of the last event processed ("" if none)
(function () {
  "use strict";

  const TERMINAL = new Set(["succeeded", "failed", "cancelled"]);
  const BACKOFF_MIN_MS = 1000;
  const BACKOFF_MAX_MS = 10000;
  const SVG_NS = "http://www.w3.org/2000/svg";

  const $ = (id) => document.getElementById(id);

  // ---------------------------------------------------------------- state

  let config = {};
  let answer = "";          // the raw answer: every token's text, in order, once
  let renderedText = null;  // the text #answer currently shows
  let frameRequested = false;
  let lastId = "";          // id of the last event processed
  let lastKey = null;       // lastId parsed as [ms, seq]
  let firstEventMs = null;
  let complete = false;
  let source = null;        // the current EventSource
  let backoffMs = BACKOFF_MIN_MS;
  let reconnectTimer = null;
  let stateCheck = null;    // pending fetch of state_url, if any
  let md = null;

  // ---------------------------------------------------------------- helpers

  function setRunState(value) {
    document.body.dataset.runState = value;
  }

  function setConnection(state) {
    const el = $("connection");
    el.dataset.state = state;
    el.textContent = state === "open" ? "Live" : state === "reconnecting" ? "reconnecting…" : "";
    el.hidden = state === "closed";
  }

  function setStatus(text) {
    $("status").textContent = text;
  }

  const STATE_LABELS = {
    connecting: "Connecting",
    queued: "Queued",
    running: "Running",
    succeeded: "Succeeded",
    failed: "Failed",
    cancelled: "Cancelled",
    expired: "Expired",
  };

  function setStateLabel(state) {
    const el = $("state-label");
    el.dataset.state = state;
    el.textContent = STATE_LABELS[state] || state;
  }

  // Event ids look like "1732400000000-3" (Redis stream ids): compare as (ms, seq).
  function parseId(id) {
    const m = /^(\d+)-(\d+)$/.exec(id || "");
    return m ? [Number(m[1]), Number(m[2])] : null;
  }

  function compareKeys(a, b) {
    return a[0] !== b[0] ? a[0] - b[0] : a[1] - b[1];
  }

  // True if the event with this id is new; records it as the last one processed.
  function accept(id) {
    if (!id) return true; // the server always sends ids; nothing to dedupe on otherwise
    const key = parseId(id);
    if (key) {
      if (lastKey && compareKeys(key, lastKey) <= 0) return false;
      lastKey = key;
      if (firstEventMs === null) firstEventMs = key[0];
    } else if (id === lastId) {
      return false; // opaque id we cannot order: at least drop an exact repeat
    }
    lastId = id;
    return true;
  }

  function timeOf(id) {
    const key = parseId(id);
    return key ? new Date(key[0]) : new Date();
  }

  function formatTime(date) {
    return date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
  }

  function formatNumber(n) {
    return typeof n === "number" && isFinite(n) ? n.toLocaleString("en-US") : null;
  }

  function formatDuration(ms) {
    const s = Math.max(0, Math.round(ms / 1000));
    if (s < 60) return s + " s";
    const m = Math.floor(s / 60);
    return m + " min " + (s % 60) + " s";
  }

  function safeHttpUrl(value) {
    if (typeof value !== "string" || !value) return null;
    try {
      const url = new URL(value, location.href);
      return url.protocol === "https:" || url.protocol === "http:" ? url.href : null;
    } catch (e) {
      return null;
    }
  }

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = text;
    return node;
  }

  function icon(kind) {
    const svg = document.createElementNS(SVG_NS, "svg");
    svg.setAttribute("viewBox", "0 0 16 16");
    svg.setAttribute("width", "16");
    svg.setAttribute("height", "16");
    svg.setAttribute("aria-hidden", "true");
    svg.setAttribute("class", "icon icon-" + kind);
    const paths = {
      succeeded: ["M3.5 8.5l3 3 6-7"],
      failed: ["M4.5 4.5l7 7", "M11.5 4.5l-7 7"],
      cancelled: ["M8 2.5a5.5 5.5 0 1 0 0 11a5.5 5.5 0 1 0 0-11z", "M4.2 11.8l7.6-7.6"],
    }[kind] || [];
    for (const d of paths) {
      const p = document.createElementNS(SVG_NS, "path");
      p.setAttribute("d", d);
      svg.appendChild(p);
    }
    return svg;
  }

  // ---------------------------------------------------------------- Markdown

  function makeRenderer() {
    if (typeof window.markdownit !== "function") return null;
    const m = window.markdownit({ html: false, linkify: true, typographer: false, breaks: false });

    // Links open in a new tab, without handing over the opener, the referrer or our ranking.
    const defaultLinkOpen =
      m.renderer.rules.link_open ||
      ((tokens, idx, options, env, self) => self.renderToken(tokens, idx, options));
    m.renderer.rules.link_open = (tokens, idx, options, env, self) => {
      const token = tokens[idx];
      token.attrSet("target", "_blank");
      token.attrSet("rel", "noopener noreferrer nofollow");
      return defaultLinkOpen(tokens, idx, options, env, self);
    };

    // Images: only https and data: images load (the page's CSP allows nothing else);
    // any other image is shown as a plain link so it neither breaks nor trips the CSP.
    const defaultImage = m.renderer.rules.image;
    m.renderer.rules.image = (tokens, idx, options, env, self) => {
      const token = tokens[idx];
      const src = token.attrGet("src") || "";
      if (/^https:/i.test(src) || /^data:image\//i.test(src)) {
        token.attrSet("loading", "lazy");
        token.attrSet("referrerpolicy", "no-referrer");
        return defaultImage(tokens, idx, options, env, self);
      }
      const alt = self.renderInlineAsText(token.children || [], options, env) || src;
      const href = m.utils.escapeHtml(src);
      return '<a href="' + href + '" target="_blank" rel="noopener noreferrer nofollow">' +
        m.utils.escapeHtml(alt) + "</a>";
    };
    return m;
  }

  function render() {
    frameRequested = false;
    if (renderedText === answer) return;
    const target = $("answer");
    const follow = nearBottom();
    if (md) {
      target.innerHTML = md.render(answer);
    } else {
      // markdown-it failed to load: still show the text, safely, as plain text.
      target.textContent = answer;
      target.classList.add("plain");
    }
    renderedText = answer;
    if (follow) scrollToBottom();
  }

  // At most one render per display frame, and only when the text changed.
  function scheduleRender() {
    if (frameRequested || renderedText === answer) return;
    frameRequested = true;
    requestAnimationFrame(render);
  }

  function nearBottom() {
    const doc = document.documentElement;
    return window.innerHeight + window.scrollY >= doc.scrollHeight - 48;
  }

  function scrollToBottom() {
    window.scrollTo(0, document.documentElement.scrollHeight);
  }

  // ---------------------------------------------------------------- activity list

  function addActivity(kind, id, build) {
    const section = $("activity-section");
    section.hidden = false;
    const list = $("activity");
    const follow = list.scrollHeight - list.scrollTop - list.clientHeight < 24;
    const item = el("li", "activity-item activity-" + kind);
    item.dataset.kind = kind;
    if (id) item.dataset.eventId = id;
    const marker = el("span", "activity-marker");
    marker.setAttribute("aria-hidden", "true");
    const body = el("div", "activity-body");
    build(body, item);
    const time = el("time", "activity-time", formatTime(timeOf(id)));
    time.dateTime = timeOf(id).toISOString();
    item.append(marker, body, time);
    list.appendChild(item);
    if (follow) list.scrollTop = list.scrollHeight;
    return item;
  }

  function summarizeArguments(args) {
    if (args === undefined || args === null) return "";
    if (typeof args === "string") return args;
    if (typeof args === "object" && !Array.isArray(args)) {
      const parts = [];
      for (const [k, v] of Object.entries(args)) {
        parts.push(k + "=" + (typeof v === "string" ? v : JSON.stringify(v)));
      }
      return parts.join(", ");
    }
    return JSON.stringify(args);
  }

  function truncate(text, max) {
    return text.length > max ? text.slice(0, max - 1) + "…" : text;
  }

  let lastStatusMessage = null;

  function onStatus(data, id) {
    const state = typeof data.state === "string" ? data.state : "running";
    const message = typeof data.message === "string" && data.message ? data.message : STATE_LABELS[state] || state;
    if (!complete) {
      setStatus(message);
      setStateLabel(state === "queued" ? "queued" : "running");
    }
    if (message !== lastStatusMessage) {
      lastStatusMessage = message;
      addActivity("status", id, (body) => {
        body.appendChild(el("span", "activity-text", message));
      });
    }
  }

  function onToken(data) {
    if (typeof data.text !== "string" || !data.text) return;
    answer += data.text;
    if (!complete) {
      $("answer").classList.add("streaming");
      $("answer-caption").textContent = "is writing…";
      setStateLabel("running");
    }
    scheduleRender();
  }

  function onToolCall(data, id) {
    const name = typeof data.name === "string" ? data.name : "tool";
    const args = summarizeArguments(data.arguments);
    const item = addActivity("tool_call", id, (body) => {
      const line = el("div", "activity-line");
      line.append(el("span", "activity-label", "Calling"), " ", el("code", "tool-name", name));
      if (args) {
        const a = el("span", "tool-args", truncate(args, 160));
        a.title = args;
        line.append(" ", a);
      }
      body.appendChild(line);
    });
    item.dataset.tool = name;
    item.dataset.status = "running";
  }

  function onToolResult(data, id) {
    const name = typeof data.name === "string" ? data.name : "tool";
    const summary = typeof data.summary === "string" ? data.summary : "";
    // Attach the result to the oldest call of that tool still waiting for one.
    const pending = Array.from(document.querySelectorAll('#activity li[data-kind="tool_call"][data-status="running"]'))
      .find((li) => li.dataset.tool === name);
    if (pending) {
      pending.dataset.status = "done";
      const body = pending.querySelector(".activity-body");
      const result = el("div", "activity-result", summary || "done");
      result.dataset.kind = "tool_result";
      body.appendChild(result);
      return;
    }
    addActivity("tool_result", id, (body) => {
      const line = el("div", "activity-line");
      line.append(el("code", "tool-name", name), " ", el("span", "activity-text", summary || "done"));
      body.appendChild(line);
    });
  }

  function onError(data, id) {
    const message = typeof data.message === "string" && data.message ? data.message : "Something went wrong";
    addActivity("error", id, (body, item) => {
      const line = el("div", "activity-line");
      line.append(el("span", "activity-label error-label", "Error"), " ", el("span", "activity-text", message));
      body.appendChild(line);
      const details = [];
      if (typeof data.code === "string" && data.code) details.push(data.code);
      if (data.recoverable) {
        const n = Number(data.retry_count);
        details.push(n > 0 ? "retrying (retry " + n + ")" : "retrying");
      }
      if (details.length) body.appendChild(el("div", "activity-detail", details.join(" · ")));
      item.dataset.recoverable = data.recoverable ? "true" : "false";
    });
  }

  // ---------------------------------------------------------------- outcome

  const OUTCOME_TEXT = {
    succeeded: ["Succeeded", "The answer is complete."],
    failed: ["Failed", "The run did not finish. The comment on GitHub says what failed and how to retry."],
    cancelled: ["Cancelled", "The run was cancelled before it finished."],
  };

  // The run is over (or gone): no more stream, no reconnect.
  function stopStreaming() {
    complete = true;
    clearTimeout(reconnectTimer);
    if (source) {
      source.close();
      source = null;
    }
    setConnection("closed");
  }

  function finish(status, info, endMs) {
    if (!TERMINAL.has(status)) status = "failed";
    stopStreaming();

    // Final render now, not on the next frame.
    $("answer").classList.remove("streaming");
    render();
    if (!answer) $("answer-section").hidden = status !== "succeeded";

    const [title, plainSentence] = OUTCOME_TEXT[status];
    const sentence = status === "succeeded" && safeHttpUrl(info && info.comment_url)
      ? "The answer is posted on GitHub." : plainSentence;
    setStatus("Run " + title.toLowerCase());
    document.querySelector(".status-line").dataset.outcome = status;
    setStateLabel(status);
    $("answer-caption").textContent = status === "succeeded" ? "answered" : status === "failed" ? "stopped" : "was cancelled";

    const box = $("outcome");
    box.replaceChildren();
    box.dataset.status = status;
    const head = el("div", "outcome-head");
    head.append(icon(status), el("strong", "outcome-title", title), el("span", "outcome-text", sentence));
    box.appendChild(head);

    const facts = el("div", "outcome-facts");
    const link = safeHttpUrl(info && info.comment_url);
    if (link) {
      const a = el("a", "outcome-link", "View the comment on GitHub");
      a.href = link;
      a.target = "_blank";
      a.rel = "noopener noreferrer";
      facts.appendChild(a);
    }
    const usage = info && info.usage;
    if (usage && typeof usage === "object") {
      const p = usage.prompt_tokens, c = usage.completion_tokens;
      const total = (typeof p === "number" ? p : 0) + (typeof c === "number" ? c : 0);
      if (formatNumber(p) !== null || formatNumber(c) !== null) {
        facts.appendChild(el("span", "outcome-usage",
          "Tokens used: " + formatNumber(total) + " (" + (formatNumber(p) || "0") + " prompt + " +
          (formatNumber(c) || "0") + " completion)"));
      }
    }
    if (firstEventMs !== null && endMs && endMs >= firstEventMs) {
      facts.appendChild(el("span", "outcome-duration", "Took " + formatDuration(endMs - firstEventMs)));
    }
    if (facts.childNodes.length) box.appendChild(facts);
    box.hidden = false;
    setRunState("complete");
  }

  function onComplete(data, id) {
    const key = parseId(id);
    finish(data.status, data, key ? key[0] : null);
  }

  function showExpired() {
    stopStreaming();
    setRunState("expired");
    setStateLabel("expired");
    setStatus("This run's log has expired.");
    $("expired").hidden = false;
    $("answer-section").hidden = true;
    $("activity-section").hidden = true;
  }

  // ---------------------------------------------------------------- the stream

  const HANDLERS = {
    status: onStatus,
    token: onToken,
    tool_call: onToolCall,
    tool_result: onToolResult,
    error: onError,
    complete: onComplete,
  };

  function eventsUrl() {
    const url = new URL(config.events_url, location.href);
    if (lastId) url.searchParams.set("after", lastId);
    return url.href;
  }

  function connect() {
    reconnectTimer = null;
    if (complete) return;
    const es = new EventSource(eventsUrl());
    source = es;

    for (const [type, handler] of Object.entries(HANDLERS)) {
      es.addEventListener(type, (ev) => {
        if (es !== source || complete) return; // a stale source, or the run is over
        // A MessageEvent from the server; the EventSource's own connection errors
        // are plain Events without data and are handled by onerror below.
        if (!(ev instanceof MessageEvent)) return;
        if (!accept(ev.lastEventId)) return; // already seen: no text is repeated
        let data;
        try {
          data = JSON.parse(ev.data);
        } catch (e) {
          return;
        }
        if (!data || typeof data !== "object") return;
        if (document.body.dataset.runState === "connecting") setRunState("streaming");
        handler(data, ev.lastEventId);
      });
    }

    es.onopen = () => {
      if (es !== source || complete) return;
      backoffMs = BACKOFF_MIN_MS;
      setConnection("open");
      setRunState("streaming");
    };

    es.onerror = (ev) => {
      // A server-sent `event: error` is also dispatched as "error" (a MessageEvent,
      // handled above); only the EventSource's own connection errors matter here.
      if (ev instanceof MessageEvent) return;
      if (es !== source || complete) return;
      setConnection("reconnecting");
      if (es.readyState === EventSource.CLOSED) {
        // The browser gave up (an HTTP error status, or 204 at the end of a run):
        // ask the server what became of the run, then resume or show the outcome.
        source = null;
        checkState();
      }
      // Otherwise (CONNECTING) the browser reconnects by itself, sending Last-Event-ID.
    };
  }

  function scheduleReconnect() {
    if (complete || reconnectTimer) return;
    const delay = backoffMs;
    backoffMs = Math.min(backoffMs * 2, BACKOFF_MAX_MS);
    reconnectTimer = setTimeout(connect, delay);
  }

  async function checkState() {
    if (stateCheck || complete) return;
    stateCheck = (async () => {
      let response;
      try {
        response = await fetch(config.state_url, { cache: "no-store", credentials: "same-origin" });
      } catch (e) {
        scheduleReconnect(); // server unreachable: try the stream again later
        return;
      }
      if (complete) return;
      if (response.status === 404 || response.status === 410) {
        showExpired();
        return;
      }
      if (!response.ok) {
        scheduleReconnect();
        return;
      }
      let state;
      try {
        state = await response.json();
      } catch (e) {
        scheduleReconnect();
        return;
      }
      if (complete) return;
      if (state && TERMINAL.has(state.status)) {
        // The run is over but we never saw `complete`: the state holds the whole text.
        if (typeof state.text === "string" && state.text !== answer) answer = state.text;
        finish(state.status, state, null);
        return;
      }
      scheduleReconnect();
    })();
    try {
      await stateCheck;
    } finally {
      stateCheck = null;
    }
  }

  // ---------------------------------------------------------------- start

  function fillHeader() {
    const ref = config.repository
      ? config.repository + (config.number !== null && config.number !== undefined ? "#" + config.number : "")
      : "";
    $("run-title").textContent = config.title || (ref ? "Livebot run on " + ref : "Livebot run");
    $("run-ref").textContent = config.title && config.number !== null && config.number !== undefined
      ? "#" + config.number : "";
    $("run-repo").textContent = ref;
    $("run-repo").hidden = !ref;
    $("run-workflow").textContent = workflowLabel(config.workflow);
    $("run-id").textContent = config.run_id || "";
  }

  const WORKFLOWS = {
    comment_on_issue: "Comment on issue",
    review_pull_request: "Review pull request",
    review_pr: "Review pull request",
    identify_pr_goal: "Identify PR goal",
    resolve_issue: "Resolve issue",
    demo: "Demo",
  };

  function workflowLabel(name) {
    if (typeof name !== "string" || !name) return "Run";
    const key = name.toLowerCase().replace(/[\s-]+/g, "_");
    if (WORKFLOWS[key]) return WORKFLOWS[key];
    const words = name.replace(/[_-]+/g, " ").trim();
    return words.charAt(0).toUpperCase() + words.slice(1);
  }

  function start() {
    try {
      config = JSON.parse($("run-config").textContent) || {};
    } catch (e) {
      config = {};
    }
    window.livebot = {
      answerText: () => answer,
      lastEventId: () => lastId,
    };
    fillHeader();
    $("demo-banner").hidden = !config.demo;
    setConnection("closed");

    if (config.expired) {
      showExpired();
      return;
    }
    if (!config.events_url) {
      setStatus("This page is missing its run configuration.");
      return;
    }
    md = makeRenderer();
    setRunState("connecting");
    setStateLabel("connecting");
    setStatus("Connecting…");
    connect();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
