DROP TABLE interactions;
DROP TABLE contacts;
