"""Repository settings from `.github/livebot.yml`, checked key by key; none loosens security."""

from __future__ import annotations

import asyncio
import base64
import binascii
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any

import aiohttp
import gidgethub
import yaml
from cachetools import TTLCache

from livebot.code.protected_paths import DEFAULT_PROTECTED_PATHS
from livebot.core.settings import RunLimits
from livebot.github.client import InstallationAPI
from livebot.github.paths import repo_path
from livebot.workflows.catalog import WORKFLOW_NAMES

CONFIG_PATH = ".github/livebot.yml"
ORG_SETTINGS_REPO = ".github"
MAX_CONFIG_BYTES = 64 * 1024
MAX_NODES = 5_000  # a settings file has a few dozen; more is a mistake or an attack
MAX_DEPTH = 10
MAX_NOTES = 20
MAX_INSTRUCTIONS_CHARS = 4_000
MAX_LIST_ITEMS = 50
MAX_GLOB_CHARS = 200
MAX_ALLOWED_USERS = 100
MAX_SHOWN_CHARS = 60  # of text from the file quoted back in a note
PARSED_CACHE_SIZE = 1024
PARSED_CACHE_SECONDS = 3600.0
LOOKUP_CACHE_SIZE = 1024
LOOKUP_CACHE_SECONDS = 60.0

COMMAND_NAMES = WORKFLOW_NAMES
ON_PUSH_CHOICES = ("incremental", "full", "off")
SEVERITIES = ("blocker", "major", "minor", "nit")
# GitHub logins: letters, digits and single hyphens, at most 39 characters.
LOGIN_PATTERN = re.compile(r"[a-z0-9](?:-?[a-z0-9]){0,38}", re.IGNORECASE)
MODEL_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/@+-]{0,99}")

NOTES_TEMPLATE = "\n\n---\n⚠️ Some settings in `.github/livebot.yml` were not used:\n{items}"
NOTE_ITEM = "- {note}"
MORE_NOTES = "… and {count} more problems"

BOOL_TAG = "tag:yaml.org,2002:bool"
INT_TAG = "tag:yaml.org,2002:int"
STR_TAG = "tag:yaml.org,2002:str"
NULL_TAG = "tag:yaml.org,2002:null"


@dataclass(frozen=True)
class OperatorLimits:
    """The operator's maxima: a repository may ask for less, never more."""

    max_tool_calls: int = 100
    max_tokens: int = 1_000_000
    max_seconds: int = 1800
    max_comments: int = 50
    max_files: int = 100
    max_bytes: int = 2_000_000

    @classmethod
    def from_run_limits(cls, run: RunLimits) -> OperatorLimits:
        """The operator's maxima, taking the per-run ones from the server's settings."""
        return cls(
            max_tool_calls=run.max_tool_calls,
            max_tokens=run.max_tokens,
            max_seconds=max(1, int(run.max_seconds)),
        )


@dataclass(frozen=True)
class AutoReview:
    """When pull requests are reviewed without being asked."""

    enabled: bool = False
    drafts: bool = False
    on_push: str = "incremental"


@dataclass(frozen=True)
class ReviewSettings:
    """How `review` works in this repository."""

    ignore: tuple[str, ...] = ()
    path_instructions: tuple[tuple[str, str], ...] = ()
    max_comments: int = 10
    min_severity: str = "minor"
    # Livebot resolves its own threads whose finding a re-review verified fixed.
    resolve_fixed: bool = True
    # A `blocker` finding makes the review's check `action_required` (branch protection can
    # then hold the merge); otherwise the check is always `neutral`.
    blocking: bool = False


@dataclass(frozen=True)
class ResolveSettings:
    """How much `resolve` may change, and which files it never writes."""

    max_files: int = 20
    max_bytes: int = 200_000
    protected_paths: tuple[str, ...] = DEFAULT_PROTECTED_PATHS
    # Defaults the repository named to drop them: every reply and pull request lists them.
    dropped: tuple[str, ...] = ()


def _all_commands_on() -> Mapping[str, bool]:
    return MappingProxyType(dict.fromkeys(COMMAND_NAMES, True))


@dataclass(frozen=True)
class RepoConfig:
    """A repository's settings, with the problems found while reading them."""

    commands: Mapping[str, bool] = field(default_factory=_all_commands_on)
    auto_review: AutoReview = AutoReview()
    allowed_users: frozenset[str] = frozenset()
    model: str | None = None
    limits: RunLimits = field(default_factory=RunLimits)
    instructions: str = ""
    # Whether the repository's learnings (`@livebot learn`) are kept and followed.
    learnings_enabled: bool = True
    review: ReviewSettings = ReviewSettings()
    resolve: ResolveSettings = ResolveSettings()
    notes: tuple[str, ...] = ()


def default_config(limits: OperatorLimits = OperatorLimits()) -> RepoConfig:
    """The defaults, lowered where the operator's maxima are lower."""
    base = RepoConfig()
    return replace(
        base,
        limits=RunLimits(
            max_tool_calls=min(base.limits.max_tool_calls, limits.max_tool_calls),
            max_tokens=min(base.limits.max_tokens, limits.max_tokens),
            max_seconds=int(min(base.limits.max_seconds, limits.max_seconds)),
        ),
        review=replace(
            base.review, max_comments=min(base.review.max_comments, limits.max_comments)
        ),
        resolve=replace(
            base.resolve,
            max_files=min(base.resolve.max_files, limits.max_files),
            max_bytes=min(base.resolve.max_bytes, limits.max_bytes),
        ),
    )


def _show(text: str) -> str:
    """Text from the file made safe to quote inside backticks in a note."""
    flat = re.sub(r"[`\s]+", " ", text).strip()
    return flat if len(flat) <= MAX_SHOWN_CHARS else flat[: MAX_SHOWN_CHARS - 1] + "…"


def _yaml_value(value: object) -> str:
    """A default as it would be written in the file."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, str):
        return f'"{value}"'
    return str(value)


class _Reader:
    """Walks the composed YAML, collecting values and notes that name key and line."""

    def __init__(self, source: str, limits: OperatorLimits, commands: tuple[str, ...]) -> None:
        self.source = source
        self.limits = limits
        # The keys `commands:` takes: the catalog's workflows.
        self.command_names = commands
        self.notes: list[str] = []

    def note(self, at: yaml.Node | yaml.Event | None, message: str) -> None:
        mark = at.start_mark if at is not None else None
        where = f"line {mark.line + 1}: " if mark is not None else ""
        self.notes.append(f"`{self.source}` {where}{message}")

    def mapping(
        self, node: yaml.Node, key: str, allowed: tuple[str, ...]
    ) -> dict[str, yaml.Node] | None:
        """The known keys of a mapping node; None (with a note) when it is not a mapping."""
        if not isinstance(node, yaml.MappingNode):
            what = f"`{key}` must be" if key else "the file must be"
            self.note(node, f"{what} a mapping (key: value); using the defaults for it")
            return None
        found: dict[str, yaml.Node] = {}
        for key_node, value_node in node.value:
            name = key_node.value if isinstance(key_node, yaml.ScalarNode) else ""
            full = f"{key}.{name}" if key else name
            if not name or name not in allowed:
                self.note(key_node, f"unknown setting `{_show(full) or '?'}`, ignored")
            elif name in found:
                self.note(key_node, f"`{full}` is set twice; using the last one")
                found[name] = value_node
            else:
                found[name] = value_node
        return found

    def boolean(self, nodes: Mapping[str, yaml.Node], key: str, name: str, default: bool) -> bool:
        node = nodes.get(name)
        if node is None:
            return default
        if isinstance(node, yaml.ScalarNode) and node.tag == BOOL_TAG:
            return node.value.lower() in ("true", "yes", "on")
        self.note(node, f"`{key}.{name}` must be true or false; using {_yaml_value(default)}")
        return default

    def whole(
        self, nodes: Mapping[str, yaml.Node], key: str, name: str, default: int, maximum: int
    ) -> int:
        node = nodes.get(name)
        if node is None:
            return default
        value: int | None = None
        if isinstance(node, yaml.ScalarNode) and node.tag == INT_TAG:
            try:
                value = int(node.value.replace("_", ""), 0)
            except ValueError:
                value = None
        if value is None or value < 1:
            self.note(
                node,
                f"`{key}.{name}` must be a whole number from 1 to {maximum}; using {default}",
            )
            return default
        if value > maximum:
            self.note(
                node,
                f"`{key}.{name}` is {_show(str(value))}, above this server's maximum;"
                f" using {maximum}",
            )
            return maximum
        return value

    def choice(
        self,
        nodes: Mapping[str, yaml.Node],
        key: str,
        name: str,
        default: str,
        choices: tuple[str, ...],
    ) -> str:
        node = nodes.get(name)
        if node is None:
            return default
        # YAML 1.1 reads a bare `off` as false: the word written is what counts.
        plain = (STR_TAG, BOOL_TAG)
        if isinstance(node, yaml.ScalarNode) and node.tag in plain and node.value in choices:
            return str(node.value)
        self.note(node, f"`{key}.{name}` must be one of {', '.join(choices)}; using {default}")
        return default

    def text(self, node: yaml.Node, key: str, limit: int) -> str | None:
        """A string scalar, cut to `limit` characters; None (with a note) otherwise."""
        if not isinstance(node, yaml.ScalarNode) or node.tag != STR_TAG:
            self.note(node, f"`{key}` must be text")
            return None
        value = str(node.value)
        if len(value) > limit:
            self.note(node, f"`{key}` is longer than {limit} characters; only the start is used")
            return value[:limit]
        return value

    def sequence(self, node: yaml.Node, key: str, limit: int) -> list[yaml.Node] | None:
        """The items of a list node, at most `limit`; None (with a note) when not a list."""
        if not isinstance(node, yaml.SequenceNode):
            self.note(node, f"`{key}` must be a list; using the default")
            return None
        items: list[yaml.Node] = node.value
        if len(items) > limit:
            self.note(node, f"`{key}` has more than {limit} entries; only the first are used")
        return items[:limit]

    def read(self, root: yaml.Node, base: RepoConfig) -> RepoConfig:
        top = self.mapping(
            root,
            "",
            (
                "commands",
                "auto_review",
                "allowed_users",
                "model",
                "limits",
                "instructions",
                "learnings",
                "review",
                "resolve",
            ),
        )
        if top is None:
            return base
        config = base
        if "commands" in top:
            config = replace(config, commands=self.commands(top["commands"], base.commands))
        if "auto_review" in top:
            config = replace(config, auto_review=self.auto_review(top["auto_review"]))
        if "allowed_users" in top:
            config = replace(config, allowed_users=self.allowed_users(top["allowed_users"]))
        if "model" in top:
            config = replace(config, model=self.model(top["model"]))
        if "limits" in top:
            config = replace(config, limits=self.run_limits(top["limits"], base.limits))
        if "instructions" in top:
            instructions = self.text(top["instructions"], "instructions", MAX_INSTRUCTIONS_CHARS)
            config = replace(config, instructions=instructions or "")
        if "learnings" in top:
            nodes = self.mapping(top["learnings"], "learnings", ("enabled",))
            if nodes is not None:
                enabled = self.boolean(nodes, "learnings", "enabled", base.learnings_enabled)
                config = replace(config, learnings_enabled=enabled)
        if "review" in top:
            config = replace(config, review=self.review(top["review"], base.review))
        if "resolve" in top:
            config = replace(config, resolve=self.resolve(top["resolve"], base.resolve))
        return config

    def commands(self, node: yaml.Node, default: Mapping[str, bool]) -> Mapping[str, bool]:
        names = self.command_names
        nodes = self.mapping(node, "commands", names)
        if nodes is None:
            return default
        return MappingProxyType(
            {name: self.boolean(nodes, "commands", name, default.get(name, True)) for name in names}
        )

    def auto_review(self, node: yaml.Node) -> AutoReview:
        default = AutoReview()
        nodes = self.mapping(node, "auto_review", ("enabled", "drafts", "on_push"))
        if nodes is None:
            return default
        return AutoReview(
            enabled=self.boolean(nodes, "auto_review", "enabled", default.enabled),
            drafts=self.boolean(nodes, "auto_review", "drafts", default.drafts),
            on_push=self.choice(nodes, "auto_review", "on_push", default.on_push, ON_PUSH_CHOICES),
        )

    def allowed_users(self, node: yaml.Node) -> frozenset[str]:
        items = self.sequence(node, "allowed_users", MAX_ALLOWED_USERS)
        logins: set[str] = set()
        for item in items or ():
            if (
                isinstance(item, yaml.ScalarNode)
                and item.tag == STR_TAG
                and LOGIN_PATTERN.fullmatch(item.value)
            ):
                logins.add(item.value.lower())
            else:
                shown = _show(str(item.value)) if isinstance(item, yaml.ScalarNode) else "?"
                self.note(item, f"`allowed_users`: `{shown}` is not a GitHub login, ignored")
        return frozenset(logins)

    def model(self, node: yaml.Node) -> str | None:
        if isinstance(node, yaml.ScalarNode) and node.tag == NULL_TAG:
            return None
        if (
            isinstance(node, yaml.ScalarNode)
            and node.tag == STR_TAG
            and MODEL_PATTERN.fullmatch(node.value)
            and "://" not in node.value
        ):
            return str(node.value)
        self.note(node, "`model` must be a model name (or null); using the server's model")
        return None

    def run_limits(self, node: yaml.Node, default: RunLimits) -> RunLimits:
        nodes = self.mapping(node, "limits", ("max_tool_calls", "max_tokens", "max_seconds"))
        if nodes is None:
            return default
        op = self.limits
        return RunLimits(
            max_tool_calls=self.whole(
                nodes, "limits", "max_tool_calls", default.max_tool_calls, op.max_tool_calls
            ),
            max_tokens=self.whole(nodes, "limits", "max_tokens", default.max_tokens, op.max_tokens),
            max_seconds=self.whole(
                nodes, "limits", "max_seconds", int(default.max_seconds), op.max_seconds
            ),
        )

    def review(self, node: yaml.Node, default: ReviewSettings) -> ReviewSettings:
        nodes = self.mapping(
            node,
            "review",
            (
                "ignore",
                "path_instructions",
                "max_comments",
                "min_severity",
                "resolve_fixed",
                "blocking",
            ),
        )
        if nodes is None:
            return default
        ignore = default.ignore
        if "ignore" in nodes:
            items = self.sequence(nodes["ignore"], "review.ignore", MAX_LIST_ITEMS)
            if items is not None:
                texts = (self.text(item, "review.ignore", MAX_GLOB_CHARS) for item in items)
                ignore = tuple(t for t in texts if t)
        path_instructions = default.path_instructions
        if "path_instructions" in nodes:
            path_instructions = self.path_instructions(nodes["path_instructions"], default)
        return ReviewSettings(
            ignore=ignore,
            path_instructions=path_instructions,
            max_comments=self.whole(
                nodes, "review", "max_comments", default.max_comments, self.limits.max_comments
            ),
            min_severity=self.choice(
                nodes, "review", "min_severity", default.min_severity, SEVERITIES
            ),
            resolve_fixed=self.boolean(nodes, "review", "resolve_fixed", default.resolve_fixed),
            blocking=self.boolean(nodes, "review", "blocking", default.blocking),
        )

    def path_instructions(
        self, node: yaml.Node, default: ReviewSettings
    ) -> tuple[tuple[str, str], ...]:
        key = "review.path_instructions"
        items = self.sequence(node, key, MAX_LIST_ITEMS)
        if items is None:
            return default.path_instructions
        pairs: list[tuple[str, str]] = []
        for item in items:
            nodes = self.mapping(item, key, ("path", "instructions"))
            if nodes is None:
                continue
            if "path" not in nodes or "instructions" not in nodes:
                self.note(item, f"`{key}` entries need both `path` and `instructions`, ignored")
                continue
            path = self.text(nodes["path"], f"{key}.path", MAX_GLOB_CHARS)
            text = self.text(nodes["instructions"], f"{key}.instructions", MAX_INSTRUCTIONS_CHARS)
            if path and text:
                pairs.append((path, text))
        return tuple(pairs)

    def resolve(self, node: yaml.Node, default: ResolveSettings) -> ResolveSettings:
        nodes = self.mapping(node, "resolve", ("max_files", "max_bytes", "protected_paths"))
        if nodes is None:
            return default
        op = self.limits
        protected, dropped = default.protected_paths, default.dropped
        if "protected_paths" in nodes:
            protected, dropped = self.protected_paths(nodes["protected_paths"], default)
        return ResolveSettings(
            max_files=self.whole(nodes, "resolve", "max_files", default.max_files, op.max_files),
            max_bytes=self.whole(nodes, "resolve", "max_bytes", default.max_bytes, op.max_bytes),
            protected_paths=protected,
            dropped=dropped,
        )

    def protected_paths(
        self, node: yaml.Node, default: ResolveSettings
    ) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """(protected globs, dropped defaults): entries add globs to the defaults; `!<glob>`
        drops a default, which must be named exactly as it is written in the list."""
        key = "resolve.protected_paths"
        items = self.sequence(node, key, MAX_LIST_ITEMS)
        if items is None:
            return default.protected_paths, default.dropped
        added: list[str] = []
        dropped: list[str] = []
        for item in items:
            text = self.text(item, key, MAX_GLOB_CHARS)
            glob = (text or "").strip()
            if not glob.startswith("!"):
                if glob and glob not in added:
                    added.append(glob)
                continue
            name = glob[1:].strip()
            if name in DEFAULT_PROTECTED_PATHS:
                dropped.append(name)
            else:
                self.note(
                    item,
                    f"`{key}`: `{_show(glob)}` drops nothing: only a default, named exactly "
                    "as it is listed, can be dropped; ignored",
                )
        # A default both dropped and listed stays protected.
        gone = tuple(g for g in DEFAULT_PROTECTED_PATHS if g in dropped and g not in added)
        kept = [glob for glob in DEFAULT_PROTECTED_PATHS if glob not in gone]
        return tuple(kept + [glob for glob in added if glob not in kept]), gone


def _check_events(text: str, reader: _Reader) -> bool:
    """Refuse aliases, deep nesting and huge node counts before anything is built."""
    depth = count = 0
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        count += 1
        if isinstance(event, yaml.AliasEvent):
            reader.note(
                event, "anchors and aliases (`*name`) are not supported; using the defaults"
            )
            return False
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1
        if depth > MAX_DEPTH or count > MAX_NODES:
            reader.note(event, "the file is nested too deeply or too long; using the defaults")
            return False
    return True


def parse_config(
    text: str,
    limits: OperatorLimits,
    *,
    source: str = CONFIG_PATH,
    commands: tuple[str, ...] = COMMAND_NAMES,
) -> RepoConfig:
    """Settings from the file's text: each bad key falls back to its default, with a note;
    `commands:` takes the names in `commands` (the catalog's workflows)."""
    base = default_config(limits)
    reader = _Reader(source, limits, commands)
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > MAX_CONFIG_BYTES:
        reader.note(
            None,
            f"is {size // 1024} KiB, larger than the {MAX_CONFIG_BYTES // 1024} KiB limit; "
            "using the defaults",
        )
        return replace(base, notes=tuple(reader.notes))
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader) if _check_events(text, reader) else None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        where = f"line {mark.line + 1}: " if mark is not None else ""
        problem = getattr(exc, "problem", None) or "unreadable characters"
        reader.notes.append(f"`{source}` {where}not valid YAML ({problem}); using the defaults")
        return replace(base, notes=tuple(reader.notes))
    # An empty document (or one of only comments, or `---`) means "all defaults".
    if root is None or (isinstance(root, yaml.ScalarNode) and root.tag == NULL_TAG):
        return replace(base, notes=tuple(reader.notes))
    return replace(reader.read(root, base), notes=tuple(reader.notes))


def notes_markdown(config: RepoConfig) -> str:
    """The notes to append at the end of a reply, or "" when there are none."""
    if not config.notes:
        return ""
    items = [NOTE_ITEM.format(note=note) for note in config.notes[:MAX_NOTES]]
    if len(config.notes) > MAX_NOTES:
        items.append(NOTE_ITEM.format(note=MORE_NOTES.format(count=len(config.notes) - MAX_NOTES)))
    return NOTES_TEMPLATE.format(items="\n".join(items))


@dataclass
class ConfigCache:
    """Parsed files by (repository, blob sha, limits), and recent lookups for about a minute."""

    parsed: TTLCache[tuple[str, str, OperatorLimits], RepoConfig] = field(
        default_factory=lambda: TTLCache(PARSED_CACHE_SIZE, PARSED_CACHE_SECONDS)
    )
    lookups: TTLCache[tuple[str, str | None, OperatorLimits], RepoConfig] = field(
        default_factory=lambda: TTLCache(LOOKUP_CACHE_SIZE, LOOKUP_CACHE_SECONDS)
    )
    pending: dict[tuple[str, str | None, OperatorLimits], asyncio.Future[RepoConfig]] = field(
        default_factory=dict
    )


class _Unreadable(Exception):
    """The file exists but could not be read; the message says why."""


def _settings_path(repository: str, ref: str | None) -> str:
    """The contents API path of the settings file (at `ref`, else the default branch)."""
    query = {"ref": ref} if ref is not None else None
    return repo_path(repository, "contents", *CONFIG_PATH.split("/"), query=query)


async def _get_file(gh: InstallationAPI, path: str) -> tuple[str, str] | None:
    """(text, blob sha) of the file, or None when GitHub says it does not exist."""
    try:
        data: Any = await gh.getitem(path)
    except gidgethub.GitHubException as exc:
        status = getattr(exc, "status_code", None)
        if status is not None and int(status) == 404:
            return None
        raise _Unreadable(f"GitHub answered {int(status) if status else '?'} ({exc})") from exc
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise _Unreadable(f"network error ({type(exc).__name__})") from exc
    if not isinstance(data, dict) or data.get("type") != "file":
        raise _Unreadable("it is not a file")
    size = data.get("size")
    if not isinstance(size, int) or size > MAX_CONFIG_BYTES:
        raise _Unreadable(f"it is larger than the {MAX_CONFIG_BYTES // 1024} KiB limit")
    try:
        text = base64.b64decode(str(data.get("content", "")), validate=False).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise _Unreadable("it is not UTF-8 text") from exc
    return text, str(data.get("sha", ""))


async def _fetch_config(
    gh: InstallationAPI,
    repository: str,
    default_branch: str | None,
    limits: OperatorLimits,
    cache: ConfigCache,
) -> RepoConfig:
    """Read and parse the repository's file, else its owner's `.github` one, else the defaults."""
    owner, _, name = repository.partition("/")
    org = f"{owner}/{ORG_SETTINGS_REPO}"
    attempts = [_settings_path(repository, default_branch)]
    if name != ORG_SETTINGS_REPO:
        attempts.append(_settings_path(org, None))
    for number, path in enumerate(attempts):
        source = CONFIG_PATH if number == 0 else f"{org}: {CONFIG_PATH}"
        try:
            found = await _get_file(gh, path)
        except _Unreadable as exc:
            note = f"could not read `{source}`: {exc}; using the defaults"
            return replace(default_config(limits), notes=(note,))
        if found is None:
            continue
        text, sha = found
        key = (org if number else repository, sha, limits)
        config = cache.parsed.get(key)
        if config is None:
            config = cache.parsed[key] = parse_config(text, limits, source=source)
        cache.lookups[(repository, default_branch, limits)] = config
        return config
    config = default_config(limits)
    cache.lookups[(repository, default_branch, limits)] = config
    return config


async def load_repo_config(
    gh: InstallationAPI,
    repository: str,
    default_branch: str | None,
    limits: OperatorLimits,
    cache: ConfigCache,
) -> RepoConfig:
    """The repository's settings from its default branch (None: whichever GitHub says it is,
    without asking first); concurrent callers share one lookup."""
    key = (repository, default_branch, limits)
    config = cache.lookups.get(key)
    if config is not None:
        return config
    pending = cache.pending.get(key)
    if pending is None:
        pending = asyncio.ensure_future(
            _fetch_config(gh, repository, default_branch, limits, cache)
        )
        cache.pending[key] = pending
        pending.add_done_callback(lambda _: cache.pending.pop(key, None))
    # One caller cancelled must not cancel the lookup the others wait for.
    return await asyncio.shield(pending)
