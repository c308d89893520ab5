DROP INDEX benefit_transactions_time; DROP TABLE idempotency_keys;
