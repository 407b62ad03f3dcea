-- SQLite's migration 0020 keeps each case's history lines together (a table without a rowid).
-- PostgreSQL reads a case's lines through the primary key's index already; nothing to change,
-- and the numbering stays the same on both backends.
SELECT 1;
