-- The PostgreSQL roles of a deployment: one that owns the schema (migrations run as it) and one
-- the app connects as, which owns nothing, so that it cannot ALTER a table, drop or disable a
-- trigger, or TRUNCATE: the audit trail stays append-only whatever SQL reaches the database.
--
-- Run once, as a superuser (or a role with CREATEROLE and CREATEDB), with psql:
--
--   psql -v ON_ERROR_STOP=1 -v database=registry \
--        -v owner=registry_owner -v owner_password='...' \
--        -v app=registry_app -v app_password='...' -f bin/postgres-roles.sql
--
-- then run `flask init-db` with FLASK_DATABASE_OWNER_URL (the owner) and
-- FLASK_SQLALCHEMY_DATABASE_URI (the app) set: it migrates as the owner and grants the app's
-- role what it needs (registry.database.grant_app_role), again on every deploy. The web
-- processes and the scheduler get only the app's URL.
--
-- A database that already exists, made by the role the app connects as: create the two roles
-- only, then, connected to that database as a superuser, `REASSIGN OWNED BY <old role> TO
-- <owner>` (init-db refuses to go on while the app's role owns a table).

CREATE ROLE :"owner" LOGIN PASSWORD :'owner_password' NOSUPERUSER NOCREATEDB NOCREATEROLE;
-- NOINHERIT, and a member of no role: it cannot borrow the owner's rights.
CREATE ROLE :"app" LOGIN PASSWORD :'app_password' NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT;
CREATE DATABASE :"database" OWNER :"owner";
REVOKE ALL ON DATABASE :"database" FROM PUBLIC;
GRANT CONNECT, TEMPORARY ON DATABASE :"database" TO :"app";

\connect :"database"
-- The owner owns the schema too (PostgreSQL before 15 gives it to the superuser), so that it can
-- keep everyone else from creating objects in it.
ALTER SCHEMA public OWNER TO :"owner";
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO :"app";
