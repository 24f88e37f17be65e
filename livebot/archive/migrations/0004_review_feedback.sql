-- What became of each finding Livebot posted inline on a pull request: one row per finding (its
-- fingerprint), rewritten with the thread's latest state each time the pull request is read
-- again (after a review, when it closes). `observed_at` is when the threads were read: a job
-- that read them earlier never overwrites what a later one saw.
CREATE TABLE review_feedback (
    repository text NOT NULL,
    number integer NOT NULL,
    fingerprint text NOT NULL,
    severity text NOT NULL,
    outcome text NOT NULL CHECK (outcome IN ('posted', 'accepted', 'rejected')),
    posted_at timestamptz NOT NULL,
    observed_at timestamptz NOT NULL,
    PRIMARY KEY (repository, number, fingerprint)
);

CREATE INDEX review_feedback_by_week ON review_feedback (repository, posted_at);
