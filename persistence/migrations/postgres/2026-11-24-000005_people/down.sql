DROP TABLE product_keys; DROP TABLE benefit_users;
