-- Who may see an archived run, decided once for the rows written before runs said so.
--
-- Until now a run's metadata carried `private` ("1" or "0"), and the archive copied "1" into the
-- `private` column. Mentions wrote it from the delivery, so their "0" means public. Automatic
-- reviews never set it: their "0" (they carry a `trigger`) says nothing, nor does a run without
-- the field at all. The rule, the same as bot/visibility.py applies to metadata: a run is public
-- only when it was known to be (`private` "0" and no `trigger`); every other run is private.
-- Each row now says so in its metadata (`visibility`) as well as in the column, and a row that
-- does not say is private by default.
UPDATE runs AS r
SET private = NOT known.public,
    meta = r.meta || jsonb_build_object(
        'visibility', CASE WHEN known.public THEN 'public' ELSE 'private' END)
FROM (
    SELECT run_id,
           (meta->>'private' = '0' AND coalesce(meta->>'trigger', '') = '') IS TRUE AS public
    FROM runs
    WHERE meta->'visibility' IS NULL
) AS known
WHERE r.run_id = known.run_id;

ALTER TABLE runs ALTER COLUMN private SET DEFAULT true;
