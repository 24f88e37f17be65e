// Livebot live run page.
//
// Plain browser JavaScript, no build step. Loaded by the run page (run.html's content in the
// one page shell, livebot/web/live/run_markup.py) after the vendored
// markdown-it and highlight.js, markdown.js (window.LivebotMarkdown) and views.js
// (window.LivebotViews). Reads its configuration from the JSON data block
// <script id="run-config" type="application/json">, follows the run's Server-Sent
// Events stream and renders the answer as Markdown as it is written.
//
// Contract for browser tests (see run.html):
//   #answer        rendered Markdown of the answer so far; aria-busy="false" once all of it is
//   #thinking      <details>, collapsed unless opened: the model's thinking (`thinking` events),
//                  shown once there is some; data-state="thinking" while the model thinks, "done"
//                  after; #thinking-label says which ("Thinking…" / "Thought for 12 s"), and
//                  #thinking-text holds the raw text, never rendered and never in the answer
//   #state-label   data-state="connecting" | "queued" | "running" | "succeeded" | "failed" |
//                  "cancelled" | "expired": the one place that names the run's state
//   #status        the current step's message (empty once the run is over)
//   #elapsed       time since the run started: ticking while it runs, the total once over
//   #viewers       data-count: how many pages watch the run now, on every server (while live)
//   #cancel        button shown while the run is queued or running (a demo's too: its player
//                  plays the cancel); data-state="cancelling" once pressed (the server's answer,
//                  if it refused, in its title and the announcer)
//   #connection    data-state="open" | "reconnecting" | "closed"; its text is
//                  "reconnecting…" only while the stream is down
//   #activity      steps (li[data-step=current|done|failed]), tool calls (li[data-tool]) and errors
//   #findings      a review's findings (li.finding[data-severity])
//   #files, #diff  a resolve's changed files and its final diff
//   #outcome       data-status="succeeded" | "failed" | "cancelled" once the run is over; a failed
//                  run's .outcome-text names its cause (the last error that ended it)
//   document.title "● Running · …", "✓ Done · …", "✕ Failed · …", "⊘ Cancelled · …" (the state,
//                  then the server's title)
//   #announcer     polite live region: status changes and "answer finished", never tokens
//   #expired       shown when the run's log has expired
//   #demo-banner   shown for a demo run
//   body[data-run-state] = "connecting" | "streaming" | "complete" | "expired"
//   window.livebot.answerText()  the raw answer text (concatenation of every token)
//   window.livebot.thinkingText() the raw thinking text (concatenation of every `thinking`)
//   window.livebot.lastEventId() the id of the last event processed ("" if none)
//   window.livebot.renderFull()  the answer rendered in one piece (to check the incremental render)
(function () {
  "use strict";

  const TERMINAL = new Set(["succeeded", "failed", "cancelled"]);
  const BACKOFF_MIN_MS = 1000;
  const BACKOFF_MAX_MS = 10000;
  // A render of the unfinished tail that took t ms is followed by a pause of
  // RENDER_PAUSE_FACTOR × t (capped): a huge last block then costs a bounded share of the CPU.
  const RENDER_PAUSE_FACTOR = 3;
  const RENDER_PAUSE_MAX_MS = 1000;
  // A long answer arriving at once is rendered in slices for at most this long per frame.
  const SLICE_BUDGET_MS = 50;
  const ARGS_SUMMARY_CHARS = 160;
  const ARGS_DETAIL_CHARS = 4000;
  const PREVIEW_LINES = 12;
  const SVG_NS = "http://www.w3.org/2000/svg";

  const $ = (id) => document.getElementById(id);

  // ---------------------------------------------------------------- state

  let config = {};
  let answer = "";          // the raw answer: every token's text, in order, once
  let thinking = "";        // the raw thinking: every `thinking` event's text, in order, once
  let thinkingSince = null; // when the current stretch of thinking began (event time, ms)
  let thoughtMs = 0;        // how long the finished stretches of thinking took together
  let renderedText = null;  // the text #answer currently shows
  let renderTimer = null;   // a pending render (frame or pause)
  let renderCostMs = 0;
  let lastId = "";          // id of the last event processed
  let lastKey = null;       // lastId parsed as [ms, seq]
  let startMs = null;       // when the run started running (event time)
  let complete = false;
  let source = null;        // the current EventSource
  let backoffMs = BACKOFF_MIN_MS;
  let reconnectTimer = null;
  let elapsedTimer = null;
  let stateCheck = null;    // pending fetch of state_url, if any
  let md = null;
  let renderer = null;      // LivebotMarkdown.Incremental on #answer
  let answerReplaced = false; // the answer was replaced (not extended) since the last render
  let views = null;
  let runState = "connecting";
  let cancelledBy = "";     // the message of a `cancelled` error: who stopped the run
  let failedBecause = "";   // the message of the last error that ended the run: why it failed
  let pageTitle = "";       // the server's title of the page, after the state in the tab's title

  // ---------------------------------------------------------------- helpers

  function setRunState(value) {
    document.body.dataset.runState = value;
  }

  function setConnection(state) {
    const node = $("connection");
    node.dataset.state = state;
    node.textContent = state === "open" ? "Live" : state === "reconnecting" ? "reconnecting…" : "";
    node.hidden = state === "closed";
  }

  // Sent by the server on connect and whenever the count changes; hidden once the run is over.
  function setViewers(count) {
    const node = $("viewers");
    if (typeof count !== "number" || !(count >= 1) || complete) {
      node.hidden = true;
      return;
    }
    const n = Math.floor(count);
    node.dataset.count = String(n);
    node.replaceChildren(svg("icon icon-eye", ICON_PATHS.eye), n === 1 ? "1 person watching" : n + " people watching");
    node.title = "Pages open on this run right now";
    node.hidden = false;
  }

  function setStatus(text) {
    $("status").textContent = text;
  }

  // Polite, and only for what a listener needs: never for each token.
  function announce(text) {
    const node = $("announcer");
    node.textContent = "";
    setTimeout(() => {
      node.textContent = text;
    }, 50);
  }

  const STATE_LABELS = {
    connecting: "Connecting…",
    queued: "Queued",
    running: "Running",
    succeeded: "Succeeded",
    failed: "Failed",
    cancelled: "Cancelled",
    expired: "Expired",
  };

  // The tab's title leads with the state, so a run in a background tab is read at a glance.
  const TAB_STATES = {
    queued: "◷ Queued",
    running: "● Running",
    succeeded: "✓ Done",
    failed: "✕ Failed",
    cancelled: "⊘ Cancelled",
    expired: "Expired",
  };

  function setStateLabel(state) {
    const node = $("state-label");
    if (runState === state) return;
    node.dataset.state = state;
    node.textContent = "";
    node.append(stateIcon(state), STATE_LABELS[state] || state);
    runState = state;
    document.title = TAB_STATES[state] ? TAB_STATES[state] + " · " + pageTitle : pageTitle;
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

  // views.js (loaded first) owns the check of links that come from events and the config.
  const safeHttpUrl = window.LivebotViews.safeHttpUrl;

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = text;
    return node;
  }

  function svg(className, paths) {
    const node = document.createElementNS(SVG_NS, "svg");
    node.setAttribute("viewBox", "0 0 16 16");
    node.setAttribute("width", "16");
    node.setAttribute("height", "16");
    node.setAttribute("aria-hidden", "true");
    node.setAttribute("class", className);
    for (const d of paths) {
      const p = document.createElementNS(SVG_NS, "path");
      p.setAttribute("d", d);
      node.appendChild(p);
    }
    return node;
  }

  const ICON_PATHS = {
    succeeded: ["M3.5 8.5l3 3 6-7"],
    failed: ["M4.5 4.5l7 7", "M11.5 4.5l-7 7"],
    cancelled: ["M8 2.5a5.5 5.5 0 1 0 0 11a5.5 5.5 0 1 0 0-11z", "M4.2 11.8l7.6-7.6"],
    expired: ["M8 2.5a5.5 5.5 0 1 0 0 11a5.5 5.5 0 1 0 0-11z", "M8 5v3.2l2 1.3"],
    queued: ["M8 2.5a5.5 5.5 0 1 0 0 11a5.5 5.5 0 1 0 0-11z", "M8 5v3.2l2 1.3"],
    eye: ["M1.5 8s2.4-4.5 6.5-4.5S14.5 8 14.5 8s-2.4 4.5-6.5 4.5S1.5 8 1.5 8z", "M8 6.2a1.8 1.8 0 1 0 0 3.6a1.8 1.8 0 1 0 0-3.6z"],
  };

  function stateIcon(state) {
    if (state === "running" || state === "connecting") {
      const spinner = el("span", "spinner");
      spinner.setAttribute("aria-hidden", "true");
      return spinner;
    }
    return svg("icon icon-" + state, ICON_PATHS[state] || []);
  }

  // ---------------------------------------------------------------- Markdown

  function render() {
    renderTimer = null;
    if (renderedText === answer) return;
    const target = $("answer");
    // Follow the text as it is written; a finished run is read from the top.
    const follow = !complete && !TERMINAL.has(config.status) && nearBottom();
    const started = performance.now();
    let done = true;
    let frozenBefore = 0;
    if (renderer) {
      if (answerReplaced) renderer.reset();
      answerReplaced = false;
      frozenBefore = renderer.frozen;
      do {
        done = renderer.update(answer, complete);
      } while (!done && performance.now() - started < SLICE_BUDGET_MS);
    } else {
      // markdown-it failed to load: still show the text, safely, as plain text.
      target.textContent = answer;
      target.classList.add("plain");
    }
    // Finishing blocks is work done once per text; only rendering the same unfinished block
    // again and again (a huge one) needs the pause that keeps the page responsive.
    renderCostMs = renderer && renderer.frozen > frozenBefore ? 0 : performance.now() - started;
    renderedText = done ? answer : null;
    target.setAttribute("aria-busy", String(!done || !complete));
    if (follow) scrollToBottom();
    // The rest of a long answer follows at once, a slice per frame.
    if (!done) scheduleRender(0);
  }

  // At most one render per display frame, and only when the text changed; after a slow
  // render, a pause in proportion.
  function scheduleRender(pause) {
    if (renderTimer !== null || renderedText === answer) return;
    if (pause === undefined) pause = Math.min(RENDER_PAUSE_MAX_MS, renderCostMs * RENDER_PAUSE_FACTOR);
    renderTimer = setTimeout(() => requestAnimationFrame(render), pause);
  }

  function renderNow() {
    clearTimeout(renderTimer);
    render();
  }

  function nearBottom() {
    const doc = document.documentElement;
    return window.innerHeight + window.scrollY >= doc.scrollHeight - 48;
  }

  function scrollToBottom() {
    window.scrollTo(0, document.documentElement.scrollHeight);
  }

  // ---------------------------------------------------------------- state line

  function tickElapsed() {
    const node = $("elapsed");
    if (startMs === null) {
      node.hidden = true;
      return;
    }
    node.hidden = false;
    node.textContent = formatDuration(Date.now() - startMs);
    node.title = "Time since the run started";
  }

  function startClock(ms) {
    if (startMs !== null || complete) return;
    startMs = ms;
    tickElapsed();
    elapsedTimer = setInterval(tickElapsed, 1000);
  }

  function enterState(state, message) {
    if (complete) return;
    const changed = runState !== state;
    setStateLabel(state);
    if (message !== undefined) setStatus(message);
    if (changed || message !== undefined) announce(STATE_LABELS[state] + (message ? ": " + message : ""));
  }

  // ---------------------------------------------------------------- activity list

  // The newest step is the current one while the run works; the steps before it are done.
  function markCurrent(item) {
    for (const old of document.querySelectorAll('#activity li[data-step="current"]')) {
      old.dataset.step = "done";
      old.removeAttribute("aria-current");
    }
    if (item && !complete) {
      item.dataset.step = "current";
      item.setAttribute("aria-current", "step");
    }
  }

  function addActivity(kind, id, build) {
    const section = $("activity-section");
    section.hidden = false;
    const list = $("activity");
    const follow = list.scrollHeight - list.scrollTop - list.clientHeight < 24;
    const item = el("li", "activity-item activity-" + kind);
    item.dataset.kind = kind;
    item.dataset.step = "done";
    if (id) item.dataset.eventId = id;
    const marker = el("span", "activity-marker");
    marker.setAttribute("aria-hidden", "true");
    const body = el("div", "activity-body");
    build(body, item);
    const time = el("time", "activity-time", formatTime(timeOf(id)));
    time.dateTime = timeOf(id).toISOString();
    item.append(marker, body, time);
    list.appendChild(item);
    if (kind !== "error") markCurrent(item);
    if (follow) list.scrollTop = list.scrollHeight;
    return item;
  }

  function truncate(text, max) {
    return text.length > max ? text.slice(0, max - 1) + "…" : text;
  }

  function summarizeArguments(name, args) {
    if (args === undefined || args === null) return "";
    if (typeof args === "string") return args;
    if (name === "submit_review" && Array.isArray(args.findings)) {
      const n = args.findings.length;
      return n + (n === 1 ? " finding" : " findings");
    }
    if (typeof args === "object" && !Array.isArray(args)) {
      const parts = [];
      for (const [k, v] of Object.entries(args)) {
        // A file's content is shown as a preview below, not inline.
        if (name === "write_file" && k === "content") continue;
        parts.push(k + "=" + (typeof v === "string" ? v : JSON.stringify(v)));
      }
      return parts.join(", ");
    }
    return JSON.stringify(args);
  }

  // What the collapsed part of a tool call shows: a file's first lines, else its arguments.
  function argumentDetail(name, args) {
    if (name === "write_file" && args && typeof args.content === "string") {
      const lines = args.content.split("\n");
      const shown = lines.slice(0, PREVIEW_LINES).join("\n");
      const more = lines.length - PREVIEW_LINES;
      return {
        note: lines.length + (lines.length === 1 ? " line" : " lines") + ", " +
          formatNumber(args.content.length) + " characters",
        text: truncate(shown, ARGS_DETAIL_CHARS) + (more > 0 ? "\n… " + more + " more lines" : ""),
      };
    }
    if (args === undefined || args === null) return null;
    let text;
    try {
      text = JSON.stringify(args, null, 2);
    } catch (e) {
      return null;
    }
    return { note: "", text: truncate(text, ARGS_DETAIL_CHARS) };
  }

  let lastStatusMessage = null;

  function onStatus(data, id) {
    const state = data.state === "queued" ? "queued" : "running";
    const message = typeof data.message === "string" && data.message ? data.message : STATE_LABELS[state];
    if (state === "running") startClock(timeOf(id).getTime());
    let text = message;
    if (state === "queued" && typeof data.position === "number" && data.position > 0) {
      text = message + " (position " + Math.floor(data.position) + " in the queue)";
    }
    enterState(state, text);
    if (message !== lastStatusMessage) {
      lastStatusMessage = message;
      addActivity("status", id, (body) => {
        body.appendChild(el("span", "activity-text", message));
      });
    }
  }

  function onToken(data, id) {
    if (typeof data.text !== "string" || !data.text) return;
    const first = answer === "";
    answer += data.text;
    if (!complete) {
      startClock(timeOf(id).getTime());
      $("answer").classList.add("streaming");
      $("answer-caption").textContent = "is writing…";
      if (runState !== "running") setStateLabel("running");
      if (first) announce("Livebot is writing the answer.");
    }
    scheduleRender();
  }

  // ---------------------------------------------------------------- thinking

  // Plain text in one Text node: a reasoning model's notes are read, not rendered, and
  // appendData keeps a long stream of them cheap.
  function thinkingNode() {
    const box = $("thinking-text");
    if (!box.firstChild) box.appendChild(document.createTextNode(""));
    return box.firstChild;
  }

  function setThinkingLabel() {
    const details = $("thinking");
    const live = thinkingSince !== null && !complete;
    details.dataset.state = live ? "thinking" : "done";
    const seconds = Math.round(thoughtMs / 1000);
    $("thinking-label").textContent = live ? "Thinking…" : seconds >= 1 ? "Thought for " + formatDuration(thoughtMs) : "Thoughts";
  }

  function onThinking(data, id) {
    if (typeof data.text !== "string" || !data.text) return;
    const details = $("thinking");
    const box = $("thinking-text");
    // Someone reading it with the section open follows it as it grows, like the activity list.
    const follow = details.open && box.scrollHeight - box.scrollTop - box.clientHeight < 24;
    const first = thinking === "";
    thinking += data.text;
    thinkingNode().appendData(data.text);
    details.hidden = false;
    if (follow) box.scrollTop = box.scrollHeight;
    if (thinkingSince === null) thinkingSince = timeOf(id).getTime();
    if (!complete) {
      startClock(timeOf(id).getTime());
      if (runState !== "running") setStateLabel("running");
      if (first) announce("Livebot is thinking.");
    }
    setThinkingLabel();
  }

  // Any other event ends a stretch of thinking: the model answers, calls a tool, or stops.
  function stopThinking(endMs) {
    if (thinkingSince === null) return;
    if (endMs !== null && endMs >= thinkingSince) thoughtMs += endMs - thinkingSince;
    thinkingSince = null;
    setThinkingLabel();
  }

  function replaceThinking(text) {
    thinking = text;
    thinkingNode().data = text;
    $("thinking").hidden = !text;
  }

  const pendingCalls = new Map(); // activity item -> view state (a review's group of findings)

  function onToolCall(data, id) {
    const name = typeof data.name === "string" ? data.name : "tool";
    const args = data.arguments;
    const summary = summarizeArguments(name, args);
    const detail = argumentDetail(name, args);
    const item = addActivity("tool_call", id, (body) => {
      const line = el("span", "activity-line");
      line.append(el("span", "activity-label", "Calling"), " ", el("code", "tool-name", name));
      if (summary) {
        const a = el("span", "tool-args", truncate(summary, ARGS_SUMMARY_CHARS));
        line.append(" ", a);
      }
      if (detail) {
        const details = el("details", "tool-details");
        const head = el("summary", "tool-summary");
        head.appendChild(line);
        details.appendChild(head);
        if (detail.note) details.appendChild(el("div", "activity-detail", detail.note));
        const pre = el("pre", "tool-args-full", detail.text);
        pre.tabIndex = 0;
        details.appendChild(pre);
        body.appendChild(details);
      } else {
        body.appendChild(line);
      }
    });
    item.dataset.tool = name;
    item.dataset.status = "running";
    let view = null;
    if (views && name === "submit_review" && args && typeof args === "object") view = views.reviewSubmitted(args);
    if (views && (name === "write_file" || name === "delete_file")) views.fileTouched(name, args);
    pendingCalls.set(item, view);
  }

  function onToolResult(data, id) {
    const name = typeof data.name === "string" ? data.name : "tool";
    const summary = typeof data.summary === "string" ? data.summary : "";
    // Attach the result to the oldest call of that tool still waiting for one.
    const pending = Array.from(document.querySelectorAll('#activity li[data-kind="tool_call"][data-status="running"]'))
      .find((li) => li.dataset.tool === name);
    const view = pending ? pendingCalls.get(pending) : null;
    if (pending) {
      pendingCalls.delete(pending);
      pending.dataset.status = "done";
      const result = el("div", "activity-result", summary || "done");
      result.dataset.kind = "tool_result";
      pending.querySelector(".activity-body").appendChild(result);
    } else {
      addActivity("tool_result", id, (body) => {
        const line = el("div", "activity-line");
        line.append(el("code", "tool-name", name), " ", el("span", "activity-text", summary || "done"));
        body.appendChild(line);
      });
    }
    if (!views) return;
    if (name === "submit_review") views.reviewPosted(data, view);
    else if (name === "write_file" || name === "delete_file") views.fileChanged(name, data);
    else if (name === "finish") views.resolveFinished(data);
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
      if (data.code === "cancelled" && /^Cancelled /.test(message)) cancelledBy = message;
      if (!data.recoverable) failedBecause = message;
      item.dataset.recoverable = data.recoverable ? "true" : "false";
    });
  }

  // ---------------------------------------------------------------- outcome

  // The state line names the outcome; the box says what it means (never the word again), in
  // the words of the workflow: what it made, and what Livebot did.
  const WORK = {
    answer: { done: "The answer is complete.", posted: "The answer is posted on GitHub.", caption: "answered" },
    review: { done: "The review is complete.", posted: "The review is posted on GitHub.", caption: "reviewed" },
    goal: {
      done: "The pull request's goal is written.",
      posted: "The pull request's goal is posted on GitHub.",
      caption: "wrote the goal",
    },
    resolve: { done: "The fix is complete.", posted: "The fix is posted on GitHub.", caption: "resolved the issue" },
  };
  const OTHER_WORK = { done: "The run is complete.", posted: "The result is posted on GitHub.", caption: "finished" };
  const FAILED_TEXT = "The run did not finish.";
  const RETRY_TEXT = " The comment on GitHub says how to try again.";
  const CANCELLED_TEXT = "The run was stopped before it finished.";

  function work() {
    return WORK[workflowKey(config.workflow)] || OTHER_WORK;
  }

  // What the outcome box says: the work done, why the run failed, or who stopped it.
  function outcomeSentence(status, commentUrl) {
    if (status === "succeeded") return commentUrl ? work().posted : work().done;
    // "Cancelled by @login" or "Cancelled from the run page": the page says who.
    if (status === "cancelled") return cancelledBy ? "The run was c" + cancelledBy.slice(1) + "." : CANCELLED_TEXT;
    const cause = failedBecause ? FAILED_TEXT + " " + failedBecause.replace(/\.$/, "") + "." : FAILED_TEXT;
    // A demo has no comment on GitHub.
    return config.demo ? cause : cause + RETRY_TEXT;
  }

  // The run is over (or gone): no more stream, no reconnect, no ticking clock.
  function stopStreaming() {
    complete = true;
    clearTimeout(reconnectTimer);
    clearInterval(elapsedTimer);
    if (source) {
      source.close();
      source = null;
    }
    setConnection("closed");
    setViewers(null);
    $("cancel").hidden = true;
  }

  // ---------------------------------------------------------------- cancel

  function showCancel() {
    // A finished run has nothing left to stop (a demo's player stops as a worker does).
    const stoppable = !TERMINAL.has(config.status);
    $("cancel").hidden = complete || !stoppable || !config.cancel_url || !config.cancel_token;
  }

  async function requestCancel() {
    const button = $("cancel");
    if (button.dataset.state === "cancelling") return;
    button.dataset.state = "cancelling";
    button.disabled = true;
    button.textContent = "Cancelling…";
    let message = "";
    try {
      const response = await fetch(config.cancel_url, {
        method: "POST",
        credentials: "same-origin",
        headers: { "X-Livebot-CSRF": config.cancel_token },
      });
      if (response.status === 202) {
        announce("Cancelling the run.");
        return; // the stream's `complete` event ends the page
      }
      const body = await response.json().catch(() => ({}));
      message = typeof body.error === "string" ? body.error : "The server refused (" + response.status + ").";
    } catch (e) {
      message = "The server could not be reached.";
    }
    delete button.dataset.state;
    button.disabled = false;
    button.textContent = "Cancel run";
    button.title = message;
    announce("Could not cancel: " + message);
  }

  function finish(status, info, endMs) {
    if (!TERMINAL.has(status)) status = "failed";
    stopStreaming();

    // Final render now, not on the next frame (a long answer: its first slice now).
    $("answer").classList.remove("streaming");
    renderedText = null;
    renderNow();
    if (!answer) $("answer-section").hidden = status !== "succeeded" && !thinking;
    stopThinking(endMs || null);

    for (const item of document.querySelectorAll('#activity li[data-step="current"]')) {
      item.dataset.step = status === "failed" ? "failed" : "done";
      item.removeAttribute("aria-current");
    }
    for (const item of document.querySelectorAll('#activity li[data-status="running"]')) {
      item.dataset.status = status === "succeeded" ? "done" : "stopped";
    }

    const commentUrl = safeHttpUrl(info && info.comment_url);
    const sentence = outcomeSentence(status, commentUrl);
    setStateLabel(status);
    setStatus("");
    const elapsed = $("elapsed");
    if (startMs !== null && endMs && endMs >= startMs) {
      elapsed.textContent = "took " + formatDuration(endMs - startMs);
      elapsed.hidden = false;
    } else {
      elapsed.hidden = true;
    }
    $("answer-caption").textContent = status === "succeeded" ? work().caption : status === "failed" ? "stopped" : "was stopped";
    announce((answer ? "Answer finished. " : "") + "Run " + status + ".");

    const box = $("outcome");
    box.replaceChildren();
    box.dataset.status = status;
    const head = el("div", "outcome-head");
    head.append(svg("icon icon-" + status, ICON_PATHS[status]), el("span", "outcome-text", sentence));
    box.appendChild(head);

    const facts = el("div", "outcome-facts");
    if (commentUrl) {
      const a = el("a", "outcome-link", "View the comment on GitHub");
      a.href = commentUrl;
      a.target = "_blank";
      a.rel = "noopener noreferrer";
      facts.appendChild(a);
    }
    const usage = info && info.usage;
    if (usage && typeof usage === "object") {
      const p = usage.prompt_tokens, c = usage.completion_tokens;
      const total = (typeof p === "number" ? p : 0) + (typeof c === "number" ? c : 0);
      if (total > 0) {
        facts.appendChild(el("span", "outcome-usage",
          "Tokens used: " + formatNumber(total) + " (" + (formatNumber(p) || "0") + " prompt + " +
          (formatNumber(c) || "0") + " completion)"));
      }
    }
    const cost = info && info.cost_usd;
    if (typeof cost === "number" && isFinite(cost) && cost > 0) {
      facts.appendChild(el("span", "outcome-cost", "Estimated cost: $" + cost.toFixed(cost < 0.01 ? 4 : 2)));
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
    $("elapsed").hidden = true;
    $("expired").hidden = false;
    for (const id of ["answer-section", "activity-section", "review-section", "changes-section"]) $(id).hidden = true;
  }

  // ---------------------------------------------------------------- the stream

  const HANDLERS = {
    status: onStatus,
    token: onToken,
    thinking: onThinking,
    tool_call: onToolCall,
    tool_result: onToolResult,
    error: onError,
    complete: onComplete,
  };

  // This tab's name for the server's count of watchers: a reload is the same viewer again,
  // never a second one while the old stream is being noticed gone.
  function viewerId() {
    const KEY = "livebot-viewer";
    const fresh = () => Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, "0")).join("");
    try {
      let id = sessionStorage.getItem(KEY);
      if (!id || !/^[0-9a-f]{32}$/.test(id)) {
        id = fresh();
        sessionStorage.setItem(KEY, id);
      }
      return id;
    } catch (e) {
      return fresh(); // storage refused: this page load is a viewer of its own
    }
  }

  let viewer = "";

  function eventsUrl() {
    const url = new URL(config.events_url, location.href);
    if (viewer) url.searchParams.set("viewer", viewer);
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
        if (type !== "thinking") stopThinking(timeOf(ev.lastEventId).getTime());
        handler(data, ev.lastEventId);
      });
    }

    // No id: not a run event, and it must not move the resume point.
    es.addEventListener("viewers", (ev) => {
      if (es !== source || complete || !(ev instanceof MessageEvent)) return;
      try {
        setViewers(JSON.parse(ev.data).viewers);
      } catch (e) {
        // a malformed count is not worth breaking the page for
      }
    });

    es.onopen = () => {
      if (es !== source || complete) return;
      backoffMs = BACKOFF_MIN_MS;
      setConnection("open");
      setRunState("streaming");
      // Connected but nothing has happened yet: the run waits for a worker.
      if (runState === "connecting") enterState(config.status === "running" ? "running" : "queued", "");
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
        if (typeof state.text === "string" && state.text !== answer) {
          answer = state.text;
          answerReplaced = true;
        }
        if (typeof state.thinking === "string" && state.thinking !== thinking) replaceThinking(state.thinking);
        const end = typeof state.finished_at === "number" ? state.finished_at * 1000 : null;
        finish(state.status, state, end);
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
    const hasNumber = typeof config.number === "number";
    const ref = config.repository ? config.repository + (hasNumber ? "#" + config.number : "") : "";
    const heading = $("run-heading");
    heading.replaceChildren();
    const title = typeof config.title === "string" && config.title ? config.title : "";
    // A demo's repository is made up: nothing links to it.
    const link = config.demo ? null : safeHttpUrl(config.issue_url);
    const name = el(link ? "a" : "span", "run-title-text", title || (ref ? "Livebot run on " + ref : "Livebot run"));
    if (link) {
      name.href = link;
      name.target = "_blank";
      name.rel = "noopener noreferrer";
    }
    heading.appendChild(name);
    if (title && hasNumber) heading.append(" ", el("span", "run-ref", "#" + config.number));
    $("run-repo").textContent = ref;
    $("run-repo").hidden = !ref;
    if (config.demo && ref) {
      $("run-repo").append(" ", el("span", "run-example", "(an example)"));
      $("run-repo").title = "A made-up repository: the demo's runs are recorded";
    }
    $("run-workflow").textContent = workflowLabel(config.workflow);
    const learnings = Number(config.learnings) || 0;
    if (learnings > 0) {
      const noun = learnings === 1 ? "learning" : "learnings";
      const chip = el("span", "run-learnings", `· ${learnings} ${noun} applied`);
      chip.title = "Rules this repository's maintainers taught (@livebot learnings lists them)";
      $("run-repo").after(" ", chip);
    }
    $("run-id").textContent = config.run_id || "";
    if (typeof config.history_url === "string" && config.history_url.startsWith("/repos/")) {
      $("history-link").href = config.history_url;
      $("history-link").hidden = false;
      $("history-sep").hidden = false;
    }
  }

  const WORKFLOWS = {
    answer: "Answer",
    review: "Review pull request",
    goal: "Identify PR goal",
    resolve: "Resolve issue",
    demo: "Demo",
  };

  function workflowKey(name) {
    return typeof name === "string" ? name.toLowerCase().replace(/[\s-]+/g, "_") : "";
  }

  function workflowLabel(name) {
    if (typeof name !== "string" || !name) return "Run";
    const key = workflowKey(name);
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
    const M = window.LivebotMarkdown;
    md = M ? M.create() : null;
    renderer = md ? new M.Incremental(md, $("answer")) : null;
    views = window.LivebotViews ? window.LivebotViews.create(md) : null;
    window.livebot = {
      answerText: () => answer,
      thinkingText: () => thinking,
      lastEventId: () => lastId,
      renderFull: () => (md ? md.render(answer) : null),
    };
    pageTitle = document.title;
    viewer = viewerId();
    fillHeader();
    $("demo-banner").hidden = !config.demo;
    setConnection("closed");
    runState = null;
    setStateLabel("connecting");

    if (!config.events_url) {
      setStatus("This page is missing its run configuration.");
      return;
    }
    setRunState("connecting");
    $("cancel").addEventListener("click", requestCancel);
    showCancel();
    connect();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
