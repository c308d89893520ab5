-- SQLite numbers each audit line as it is written (one writer): nothing to change.
SELECT 1;
