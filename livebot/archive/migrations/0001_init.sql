-- Finished runs and their events, as the run log held them when they ended.
CREATE TABLE runs (
    run_id            text PRIMARY KEY,
    repository        text,
    number            integer,
    title             text NOT NULL DEFAULT '',
    workflow          text NOT NULL,
    status            text NOT NULL,
    author            text NOT NULL DEFAULT '',
    private           boolean NOT NULL DEFAULT false,
    model             text NOT NULL DEFAULT '',
    created_at        timestamptz NOT NULL,
    started_at        timestamptz,
    finished_at       timestamptz,
    prompt_tokens     bigint NOT NULL DEFAULT 0,
    completion_tokens bigint NOT NULL DEFAULT 0,
    cost_usd          double precision,
    comment_url       text,
    text              text NOT NULL DEFAULT '',
    meta              jsonb NOT NULL,
    archived_at       timestamptz NOT NULL DEFAULT now()
);

-- The history page: one repository's runs, newest first, keyset-paginated.
CREATE INDEX runs_by_repository ON runs (lower(repository), created_at DESC, run_id DESC);
-- The retention clean-up.
CREATE INDEX runs_by_created_at ON runs (created_at);

-- The events exactly as the run's stream held them: `data` is the JSON text, byte for byte.
CREATE TABLE run_events (
    run_id   text NOT NULL REFERENCES runs ON DELETE CASCADE,
    seq      integer NOT NULL,
    event_id text NOT NULL,
    event    text NOT NULL,
    data     text NOT NULL,
    PRIMARY KEY (run_id, seq)
);
