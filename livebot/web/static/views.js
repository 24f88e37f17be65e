// Livebot: the structured views of workflows on the live page.
//
// Defines window.LivebotViews = { create(md), safeHttpUrl(value) }. Event shapes (the workflows write them):
//   review:  tool_call   {name: "submit_review", arguments: {summary, findings: [Finding]}}
//            tool_result {name: "submit_review", summary, review_url?, findings: [Finding + url?, placement]}
//            Finding = {path, line, start_line?, side?, severity: blocker|major|minor|nit, title, body, suggestion?,
//                       replaced? (in the result: the lines the suggestion replaces, as the diff shows them)}
//            a re-review's result also has earlier: [{fingerprint, title, path, state: settled|disputed|open|resolved, url}],
//            resolved: [fingerprint] (resolved by this review), not_resolved: [fingerprint] (fixed, GitHub refused)
//   resolve: tool_call   {name: "write_file", arguments: {path, content}} / {name: "delete_file", arguments: {path}}
//            tool_result {name: "write_file" | "delete_file", summary, path, additions, deletions}
//            tool_result {name: "finish", summary, diff, files: [{path, status, additions, deletions}], pull_request_url?}
// Everything in them is untrusted: text goes in as text, Markdown through markdown-it without HTML.
(function () {
  "use strict";

  const SEVERITIES = ["blocker", "major", "minor", "nit"];
  // An earlier finding's label: its state, or what this review did with it.
  const EARLIER_LABELS = {
    "resolved-now": "Resolved now",
    "not-resolved": "Fixed, not resolved",
    settled: "Settled",
    disputed: "Disputed",
    open: "Open",
    resolved: "Resolved",
  };
  const MAX_FINDINGS = 200;
  const MAX_FILES = 500;
  const MAX_DIFF_LINES = 5000;
  const MAX_LINE_CHARS = 2000;
  const DIFFSTAT_BOXES = 5;

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = text;
    return node;
  }

  function str(value) {
    return typeof value === "string" ? value : "";
  }

  function count(value) {
    return typeof value === "number" && isFinite(value) && value >= 0 ? Math.floor(value) : 0;
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

  function externalLink(href, text, className) {
    const a = el("a", className, text);
    a.href = href;
    a.target = "_blank";
    a.rel = "noopener noreferrer";
    return a;
  }

  function plural(n, one, many) {
    return n + " " + (n === 1 ? one : many);
  }

  // "+3 −1" and GitHub's five boxes, green for additions and red for deletions.
  function diffstat(additions, deletions) {
    const wrap = el("span", "diffstat");
    wrap.append(el("span", "diffstat-add", "+" + additions), " ", el("span", "diffstat-del", "−" + deletions));
    const total = additions + deletions;
    const boxes = el("span", "diffstat-boxes");
    boxes.setAttribute("aria-hidden", "true");
    const green = total ? Math.round((additions / total) * DIFFSTAT_BOXES) : 0;
    const red = total ? Math.min(DIFFSTAT_BOXES - green, Math.round((deletions / total) * DIFFSTAT_BOXES)) : 0;
    for (let i = 0; i < DIFFSTAT_BOXES; i++) {
      boxes.appendChild(el("span", "diffstat-box " + (i < green ? "box-add" : i < green + red ? "box-del" : "box-neutral")));
    }
    wrap.appendChild(boxes);
    wrap.title = plural(additions, "addition", "additions") + " and " + plural(deletions, "deletion", "deletions");
    return wrap;
  }

  // Unified diff lines, coloured by their first character; bounded in lines and width.
  function diffBlock(lines, className) {
    const pre = el("pre", "diff " + (className || ""));
    pre.tabIndex = 0;
    const shown = lines.slice(0, MAX_DIFF_LINES);
    for (const raw of shown) {
      const line = raw.length > MAX_LINE_CHARS ? raw.slice(0, MAX_LINE_CHARS) + "…" : raw;
      let kind = "ctx";
      if (/^(diff |index |--- |\+\+\+ |new file|deleted file|similarity|rename |old mode|new mode)/.test(line)) kind = "meta";
      else if (line.startsWith("@@")) kind = "hunk";
      else if (line.startsWith("+")) kind = "add";
      else if (line.startsWith("-")) kind = "del";
      pre.appendChild(el("span", "diff-line diff-" + kind, line));
    }
    if (lines.length > shown.length) {
      pre.appendChild(el("span", "diff-line diff-meta", "… " + plural(lines.length - shown.length, "more line", "more lines")));
    }
    return pre;
  }

  // A one-line title as GitHub shows it: `code` spans as code, the rest as plain text.
  function inlineCode(target, text) {
    const parts = text.split(/(`[^`\n]+`)/);
    for (const part of parts) {
      if (/^`[^`\n]+`$/.test(part)) target.appendChild(el("code", null, part.slice(1, -1)));
      else if (part) target.appendChild(document.createTextNode(part));
    }
    return target;
  }

  // Lines of text as diff lines with one mark ("+" or "-"); none for no text at all.
  function marked(text, mark) {
    return typeof text === "string" && text ? text.replace(/\n$/, "").split("\n").map((l) => mark + l) : [];
  }

  function create(md) {
    const $ = (id) => document.getElementById(id);

    function renderMarkdown(target, text) {
      if (md) target.innerHTML = md.render(text);
      else target.textContent = text;
    }

    // ------------------------------------------------------------ review

    function findingLocation(f) {
      const line = count(f.line);
      const start = count(f.start_line);
      const where = start && line && start < line ? start + "–" + line : line ? String(line) : "";
      return str(f.path) + (where ? ":" + where : "");
    }

    function findingItem(f) {
      const severity = SEVERITIES.includes(f.severity) ? f.severity : "minor";
      const item = el("li", "finding");
      item.dataset.severity = severity;
      const head = el("div", "finding-head");
      head.appendChild(el("span", "severity severity-" + severity, severity.charAt(0).toUpperCase() + severity.slice(1)));
      const loc = el("code", "finding-loc-text", findingLocation(f));
      const url = safeHttpUrl(f.url);
      if (url) {
        const a = externalLink(url, "", "finding-loc");
        a.appendChild(loc);
        head.appendChild(a);
      } else {
        head.appendChild(loc);
      }
      if (f.placement === "inline" || f.placement === "body") {
        head.appendChild(el("span", "finding-placement", f.placement === "inline" ? "inline comment" : "in the review"));
      }
      item.appendChild(head);
      if (str(f.title)) item.appendChild(inlineCode(el("div", "finding-title"), str(f.title)));
      if (str(f.body)) {
        const body = el("div", "finding-body markdown-body");
        renderMarkdown(body, str(f.body));
        item.appendChild(body);
      }
      if (typeof f.suggestion === "string") {
        const box = el("div", "suggestion");
        box.appendChild(el("div", "suggestion-head", "Suggested change"));
        // As GitHub shows it: the lines it replaces in red (once the review says which), the new in green.
        const lines = marked(f.replaced, "-").concat(marked(f.suggestion, "+"));
        box.appendChild(diffBlock(lines, "suggestion-diff"));
        item.appendChild(box);
      }
      return item;
    }

    function fillFindings(list, findings) {
      list.replaceChildren();
      const valid = Array.isArray(findings) ? findings.filter((f) => f && typeof f === "object") : [];
      for (const f of valid.slice(0, MAX_FINDINGS)) list.appendChild(findingItem(f));
      if (valid.length > MAX_FINDINGS) {
        list.appendChild(el("li", "finding finding-more", plural(valid.length - MAX_FINDINGS, "more finding", "more findings")));
      }
    }

    function updateReviewCount() {
      const n = $("findings").querySelectorAll(".finding:not(.finding-more)").length;
      $("review-count").textContent = plural(n, "finding", "findings");
    }

    // A review was submitted: show its findings now, as a group that its result replaces.
    function reviewSubmitted(args) {
      $("review-section").hidden = false;
      const group = el("ol", "finding-group");
      fillFindings(group, args && args.findings);
      $("findings").appendChild(group);
      updateReviewCount();
      return group;
    }

    // A re-review: one line per earlier finding, with its state.
    function showEarlier(earlier, resolvedNow, notResolved) {
      const list = $("earlier-list");
      list.replaceChildren();
      const now = new Set(Array.isArray(resolvedNow) ? resolvedNow : []);
      const refused = new Set(Array.isArray(notResolved) ? notResolved : []);
      for (const f of earlier.filter((f) => f && typeof f === "object").slice(0, MAX_FINDINGS)) {
        let state = EARLIER_LABELS[f.state] ? f.state : "open";
        if (now.has(f.fingerprint)) state = "resolved-now";
        else if (refused.has(f.fingerprint)) state = "not-resolved";
        const item = el("li", "earlier-item");
        item.dataset.state = state;
        item.appendChild(el("span", "earlier-state earlier-" + state, EARLIER_LABELS[state]));
        const url = safeHttpUrl(f.url);
        const title = str(f.title) || str(f.path);
        item.appendChild(url ? externalLink(url, title, "earlier-title") : el("span", "earlier-title", title));
        item.appendChild(el("code", "finding-loc-text", str(f.path)));
        list.appendChild(item);
      }
      $("earlier").hidden = !list.childNodes.length;
    }

    function reviewPosted(data, group) {
      $("review-section").hidden = false;
      if (!group) {
        group = el("ol", "finding-group");
        $("findings").appendChild(group);
      }
      if (Array.isArray(data.findings)) fillFindings(group, data.findings);
      updateReviewCount();
      if (Array.isArray(data.earlier)) showEarlier(data.earlier, data.resolved, data.not_resolved);
      const foot = $("review-foot");
      foot.replaceChildren();
      if (str(data.summary)) foot.appendChild(el("span", "review-summary", str(data.summary)));
      const url = safeHttpUrl(data.review_url);
      if (url) foot.appendChild(externalLink(url, "View the review on GitHub", "outcome-link"));
      foot.hidden = !foot.childNodes.length;
    }

    // ------------------------------------------------------------ resolve

    const files = new Map(); // path -> row

    function fileRow(path) {
      let row = files.get(path);
      if (!row && files.size < MAX_FILES) {
        row = el("li", "file-row");
        row.append(el("span", "file-status"), el("code", "file-path", path), el("span", "file-stat"));
        files.set(path, row);
        $("files").appendChild(row);
      }
      return row;
    }

    function setFile(path, status, additions, deletions) {
      $("changes-section").hidden = false;
      const row = fileRow(path);
      if (!row) return;
      row.dataset.status = status;
      row.querySelector(".file-status").textContent = status;
      const stat = row.querySelector(".file-stat");
      stat.replaceChildren();
      if (additions !== null) stat.appendChild(diffstat(additions, deletions));
      $("changes-count").textContent = plural(files.size, "file", "files") + " changed";
    }

    function fileTouched(name, args) {
      const path = str(args && args.path);
      if (!path) return;
      const row = files.get(path);
      if (!row || row.dataset.status === "writing") setFile(path, "writing", null, null);
    }

    function fileChanged(name, data) {
      const path = str(data.path);
      if (!path) return;
      setFile(path, name === "delete_file" ? "deleted" : "changed", count(data.additions), count(data.deletions));
    }

    function splitDiff(diff) {
      const parts = [];
      let current = null;
      for (const line of diff.replace(/\n$/, "").split("\n")) {
        if (line.startsWith("diff --git ") || !current) {
          current = { header: line, lines: [] };
          parts.push(current);
        }
        current.lines.push(line);
      }
      return parts;
    }

    function diffPath(part) {
      const m = /^diff --git a\/(.+?) b\/(.+)$/.exec(part.header);
      if (m) return m[2];
      const plus = part.lines.find((l) => l.startsWith("+++ "));
      return plus ? plus.slice(4).replace(/^b\//, "") : "";
    }

    function resolveFinished(data) {
      $("changes-section").hidden = false;
      if (Array.isArray(data.files)) {
        files.clear();
        $("files").replaceChildren();
        for (const f of data.files) {
          if (!f || typeof f !== "object" || !str(f.path)) continue;
          setFile(str(f.path), str(f.status) || "modified", count(f.additions), count(f.deletions));
        }
      }
      const foot = $("changes-foot");
      foot.replaceChildren();
      if (str(data.summary)) foot.appendChild(el("span", "review-summary", str(data.summary)));
      const url = safeHttpUrl(data.pull_request_url);
      if (url) foot.appendChild(externalLink(url, "View the pull request on GitHub", "outcome-link"));
      foot.hidden = !foot.childNodes.length;

      const target = $("diff");
      target.replaceChildren();
      const diff = str(data.diff);
      if (!diff) return;
      let lines = 0;
      for (const part of splitDiff(diff)) {
        if (lines >= MAX_DIFF_LINES) break;
        const details = el("details", "diff-file");
        details.open = true;
        const summary = el("summary", "diff-file-head");
        const path = diffPath(part);
        summary.appendChild(el("code", "file-path", path || "diff"));
        const added = part.lines.filter((l) => l.startsWith("+") && !l.startsWith("+++ ")).length;
        const deleted = part.lines.filter((l) => l.startsWith("-") && !l.startsWith("--- ")).length;
        summary.appendChild(diffstat(added, deleted));
        details.append(summary, diffBlock(part.lines.slice(0, MAX_DIFF_LINES - lines)));
        lines += part.lines.length;
        target.appendChild(details);
      }
      target.hidden = false;
    }

    return { reviewSubmitted, reviewPosted, fileTouched, fileChanged, resolveFinished };
  }

  window.LivebotViews = { create, safeHttpUrl };
})();
