DROP TABLE attendances;
DROP TABLE events;
