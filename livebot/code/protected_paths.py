"""Files CI runs from a checkout: `resolve` never writes them unless the repository says so.

A branch Livebot pushes to its own repository runs that repository's `push` and `pull_request`
workflows, with its secrets, before anyone reviews it; an issue's text steers the model. These
files execute on the runner even when the change looks like documentation: build and task
runners, test hooks, package scripts, local actions and other CI systems' pipelines.
"""

from __future__ import annotations

from typing import Final

from livebot.code.git_paths import HFS_IGNORED
from livebot.core.globs import first_match

# Globs as `.github/livebot.yml` writes them: a name without `/` matches in any folder.
DEFAULT_PROTECTED_PATHS: Final = (
    # GitHub Actions: local actions (`uses: ./…`) run inside the workflow, with its secrets.
    ".github/actions/**",
    "action.yml",
    "action.yaml",
    # Other CI systems read their pipelines from the pushed branch.
    ".gitlab-ci.yml",
    ".travis.yml",
    ".circleci/**",
    ".buildkite/**",
    "azure-pipelines.yml",
    "bitbucket-pipelines.yml",
    ".drone.yml",
    "appveyor.yml",
    "Jenkinsfile",
    # Build and task runners a CI step calls.
    "Makefile",
    "GNUmakefile",
    "*.mk",
    "justfile",
    "Taskfile.yml",
    "Rakefile",
    "Gemfile",
    "Dockerfile",
    "Dockerfile.*",
    "*.dockerfile",
    "Containerfile",
    # Python: code pytest, pip, tox and nox run before any test of the change.
    "conftest.py",
    "setup.py",
    "setup.cfg",
    "pyproject.toml",
    "pytest.ini",
    "tox.ini",
    "noxfile.py",
    # JavaScript: package scripts and the package managers' own hooks.
    "package.json",
    ".npmrc",
    ".yarnrc",
    ".yarnrc.yml",
    ".pnpmfile.cjs",
    # JVM and Rust builds are code too, and wrappers download what they run.
    "build.gradle",
    "build.gradle.kts",
    "settings.gradle",
    "settings.gradle.kts",
    "gradlew",
    "gradle/wrapper/**",
    "pom.xml",
    "mvnw",
    ".mvn/**",
    "build.rs",
    ".cargo/**",
    # Hooks and environments that run commands on their own.
    ".pre-commit-config.yaml",
    ".pre-commit-hooks.yaml",
    ".devcontainer/**",
    ".envrc",
)
REFUSED: Final = (
    "`{path}` is a file CI may run (it matches `{glob}` in `resolve.protected_paths`): the "
    "branch's checks would run it with the repository's secrets before anyone reviews it, so "
    "Livebot does not change it. Leave it unchanged and say in your summary what a maintainer "
    "should change."
)
DROPPED: Final = (
    "This repository's `.github/livebot.yml` lets Livebot change files CI may run that are "
    "protected by default: {globs}."
)
IGNORED: Final = frozenset(chr(code) for code in HFS_IGNORED)


def _folded(path: str) -> str:
    """The path as a case-insensitive checkout may see it: letters folded, HFS+-ignored code
    points dropped and, as NTFS does, trailing dots and spaces of each name."""
    names = ("".join(c for c in name if c not in IGNORED) for name in path.split("/"))
    return "/".join(name.rstrip(". ") for name in names).lower()


def protecting_glob(path: str, globs: tuple[str, ...]) -> str | None:
    """The first of `globs` that protects `path` (compared case-insensitively), if any."""
    lowered = tuple(glob.lower() for glob in globs)
    found = first_match(_folded(path), lowered)
    return None if found is None else globs[lowered.index(found)]


def dropped_note(dropped: tuple[str, ...]) -> str:
    """The sentence naming the defaults a repository dropped, or "" when it dropped none."""
    return DROPPED.format(globs=", ".join(f"`{g}`" for g in dropped)) if dropped else ""
