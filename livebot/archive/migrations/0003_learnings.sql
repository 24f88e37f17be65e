-- What maintainers taught Livebot, per repository (`@livebot learn`), kept until forgotten.
-- `learning_numbers` gives each repository its own numbers, never reused: `forget 3` always
-- means the learning that was shown as 3. Its row is also the lock that serialises adds.
CREATE TABLE learning_numbers (
    repository text PRIMARY KEY,
    last_number integer NOT NULL
);

CREATE TABLE learnings (
    repository text NOT NULL,
    number integer NOT NULL,
    text text NOT NULL,
    author text NOT NULL,
    source_url text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (repository, number),
    UNIQUE (repository, text)
);
