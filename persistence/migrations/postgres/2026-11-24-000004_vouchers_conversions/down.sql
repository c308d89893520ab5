DROP TABLE conversions; DROP TABLE vouchers;
