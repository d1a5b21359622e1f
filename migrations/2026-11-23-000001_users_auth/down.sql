DROP TABLE profile_cards;
DROP TABLE devices;
DROP TABLE login_failures;
DROP TABLE refresh_tokens;
DROP TABLE sessions;
DROP TABLE users;
