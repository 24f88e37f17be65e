# The part of google-re2's API Livebot uses (the package ships no types).

class error(Exception): ...

class Options:
    max_mem: int
    never_nl: bool
    never_capture: bool
    literal: bool
    log_errors: bool

class _Match:
    def start(self, group: int = 0) -> int: ...

class _Regexp:
    def __init__(self, pattern: str | bytes, options: Options) -> None: ...
    def search(
        self, text: bytes, pos: int | None = None, endpos: int | None = None
    ) -> _Match | None: ...
