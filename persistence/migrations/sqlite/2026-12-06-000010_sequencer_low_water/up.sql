-- SQLite numbers each audit line as it writes it (one writer): no sequencer, nothing to change.
SELECT 1;
