// Livebot: Markdown for the live page, rendered incrementally and highlighted.
//
// Loaded after the vendored markdown-it (window.markdownit) and highlight.js (window.hljs);
// defines window.LivebotMarkdown = { create(), Incremental }. Both libraries are optional:
// without markdown-it the caller shows plain text, without highlight.js code stays plain.
(function () {
  "use strict";

  // Code longer than this is shown plain: highlighting it each frame could stall the page.
  const HIGHLIGHT_MAX_CHARS = 100000;
  // Highlighted blocks kept by content, so a finished block is never highlighted twice.
  const HIGHLIGHT_CACHE_MAX = 256;
  // A reference definition ("[x]: https://…") can change blocks before it: render all again.
  const REFERENCE_DEFINITION = /^ {0,3}\[[^\]\n]+\]:/m;
  const LINE_BREAK = /\r\n?|\n/g;
  // Finished blocks are kept in chunks of this many, each laid out only when near the view:
  // a long answer then costs the same per frame as a short one.
  const CHUNK_BLOCKS = 48;
  // Text taken per update when much arrived at once (a replayed run): the page stays responsive
  // and shows the start at once.
  const SLICE_CHARS = 65536;
  // Height a chunk not yet laid out is guessed to have, per line of Markdown (for the scrollbar).
  const CHUNK_PX_PER_LINE = 24;

  // The one image host the page's CSP allows.
  const AVATAR_HOST = "avatars.githubusercontent.com";

  function isAvatar(src) {
    try {
      const url = new URL(src);
      return url.protocol === "https:" && url.hostname === AVATAR_HOST && url.port === "";
    } catch (e) {
      return false;
    }
  }

  function escapeHtml(text) {
    return text.replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]);
  }

  const highlightCache = new Map();

  function highlightCode(code, langName) {
    const lang = (langName || "").toLowerCase();
    const key = lang + "\u0000" + code;
    const hit = highlightCache.get(key);
    if (hit !== undefined) return hit;
    let inner = null;
    const hljs = window.hljs;
    if (hljs && lang && code.length <= HIGHLIGHT_MAX_CHARS && hljs.getLanguage(lang)) {
      try {
        inner = hljs.highlight(code, { language: lang, ignoreIllegals: true }).value;
      } catch (e) {
        inner = null;
      }
    }
    const cls = inner === null
      ? (lang ? ' class="language-' + escapeHtml(lang) + '"' : "")
      : ' class="hljs language-' + escapeHtml(lang) + '"';
    // tabindex: a block that scrolls sideways must be reachable with the keyboard.
    const html = '<pre tabindex="0"><code' + cls + ">" + (inner === null ? escapeHtml(code) : inner) + "</code></pre>";
    if (highlightCache.size >= HIGHLIGHT_CACHE_MAX) highlightCache.delete(highlightCache.keys().next().value);
    highlightCache.set(key, html);
    return html;
  }

  function create() {
    if (typeof window.markdownit !== "function") return null;
    const m = window.markdownit({
      html: false,
      linkify: true,
      typographer: false,
      breaks: false,
      highlight: highlightCode,
    });

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

    // Tables scroll sideways (as on GitHub): keyboard users need to reach them too.
    m.renderer.rules.table_open = () => '<table tabindex="0">\n';

    // Images: only GitHub's avatars load, as the page's CSP (web/pages.py) allows; an image
    // from anywhere else would tell its host who reads the answer, and its URL could carry the
    // answer out. Any other web image is shown as a link to it, anything else (data: included)
    // as its text, so none trips the CSP.
    const defaultImage = m.renderer.rules.image;
    m.renderer.rules.image = (tokens, idx, options, env, self) => {
      const token = tokens[idx];
      const src = token.attrGet("src") || "";
      if (isAvatar(src)) {
        token.attrSet("loading", "lazy");
        token.attrSet("referrerpolicy", "no-referrer");
        return defaultImage(tokens, idx, options, env, self);
      }
      const alt = self.renderInlineAsText(token.children || [], options, env) || src;
      if (!/^https?:/i.test(src)) return escapeHtml(alt);
      return '<a href="' + escapeHtml(src) + '" target="_blank" rel="noopener noreferrer nofollow">' +
        escapeHtml(alt) + "</a>";
    };
    return m;
  }

  // Offset in `text` of the start of line `line` (0-based, line breaks as markdown-it counts
  // them), or -1 when the text has fewer complete lines.
  function lineOffset(text, line) {
    if (line === 0) return 0;
    LINE_BREAK.lastIndex = 0;
    let seen = 0;
    let match;
    while ((match = LINE_BREAK.exec(text)) !== null) {
      seen += 1;
      if (seen === line) return match.index + match[0].length;
    }
    return -1;
  }

  function fragment(html) {
    const template = document.createElement("template");
    template.innerHTML = html;
    return template.content;
  }

  // Renders a growing Markdown text into `target`, keeping the DOM of finished top-level
  // blocks: each update parses and renders only the text after the last finished block.
  // A block is finished once markdown-it starts another top-level block after it on a
  // complete line (from then on nothing later can change how it renders, references aside).
  class Incremental {
    constructor(md, target) {
      this.md = md;
      this.target = target;
      this.reset();
    }

    reset() {
      this.target.replaceChildren();
      this.chunk = null;    // the chunk that finished blocks go into
      this.chunkBlocks = 0;
      this.chunkLines = 0;
      this.frozen = 0;      // characters of the text rendered as finished blocks
      this.referencesChecked = false;
      this.tailNodes = [];  // the nodes of the last, unfinished part
      this.tailHtml = "";
      this.text = "";
    }

    // Show `text`, which extends the text of the previous call (else call reset() first).
    // A long new part is taken a slice at a time: false means call again for the rest.
    update(text, final) {
      if (final && !this.referencesChecked) {
        this.referencesChecked = true;
        if (this.frozen > 0 && REFERENCE_DEFINITION.test(text)) this.reset();
      }
      this.text = text;
      const rest = text.slice(this.frozen);
      const sliceEnd = rest.length > SLICE_CHARS ? rest.indexOf("\n", SLICE_CHARS) + 1 : 0;
      if (sliceEnd > 0 && sliceEnd < rest.length && this.step(rest.slice(0, sliceEnd), false, true)) return false;
      this.step(rest, final, false);
      return true;
    }

    // Render `tail` (the text after the finished blocks); true if some blocks were finished.
    step(tail, final, onlyIfFrozen) {
      const env = {};
      const tokens = this.md.parse(tail, env);
      let cut = -1;
      for (let i = tokens.length - 1; i > 0; i--) {
        const t = tokens[i];
        if (t.level === 0 && t.map && t.nesting !== -1) {
          cut = i;
          break;
        }
      }
      // The last block's first line must be complete: "#tag" may still be a paragraph line.
      const offset = cut > 0 ? lineOffset(tail, tokens[cut].map[0]) : -1;
      const firstLineDone = offset >= 0 && lineOffset(tail, tokens[cut].map[0] + 1) >= 0;
      if (cut > 0 && offset > 0 && (firstLineDone || final)) {
        this.removeTail();
        this.freeze(tokens.slice(0, cut), env);
        this.frozen += offset;
        this.setTail(this.md.renderer.render(tokens.slice(cut), this.md.options, env));
        return true;
      }
      if (onlyIfFrozen) return false; // one block longer than a slice: take the whole text
      this.setTail(this.md.renderer.render(tokens, this.md.options, env));
      return false;
    }

    // Append finished blocks' tokens, CHUNK_BLOCKS top-level blocks to a chunk at most.
    freeze(tokens, env) {
      let from = 0;
      while (from < tokens.length) {
        if (!this.chunk || this.chunkBlocks >= CHUNK_BLOCKS) this.newChunk();
        let to = from;
        let blocks = 0;
        let lines = 0;
        for (; to < tokens.length; to++) {
          const t = tokens[to];
          if (t.level === 0 && t.nesting !== -1 && t.map) {
            if (this.chunkBlocks + blocks >= CHUNK_BLOCKS) break;
            blocks += 1;
            lines += t.map[1] - t.map[0];
          }
        }
        this.chunk.insertAdjacentHTML("beforeend", this.md.renderer.render(tokens.slice(from, to), this.md.options, env));
        this.chunkBlocks += blocks;
        this.chunkLines += lines;
        // CSSOM, not a style attribute: the page's CSP allows the one and not the other.
        this.chunk.style.containIntrinsicSize = "auto " + (this.chunkLines * CHUNK_PX_PER_LINE + this.chunkBlocks * 16) + "px";
        from = to;
      }
    }

    newChunk() {
      this.chunk = document.createElement("div");
      this.chunk.className = "md-chunk";
      this.chunkBlocks = 0;
      this.chunkLines = 0;
      this.target.insertBefore(this.chunk, this.tailNodes[0] || null);
    }

    removeTail() {
      for (const node of this.tailNodes) node.remove();
      this.tailNodes = [];
      this.tailHtml = "";
    }

    setTail(html) {
      if (html === this.tailHtml && this.tailNodes.length) return;
      this.removeTail();
      const content = fragment(html);
      this.tailNodes = Array.from(content.childNodes);
      this.tailHtml = html;
      this.target.appendChild(content);
    }
  }

  window.LivebotMarkdown = { create, Incremental };
})();
