/**
 * Versioned schema of the PostgreSQL store. Append new steps; never edit an
 * applied one. Each step receives the quoted schema name. `migrate()` runs
 * them under `pg_advisory_xact_lock`, so many instances starting together
 * apply each step once.
 */
export interface PgMigration {
  version: number
  name: string
  sql: (schema: string) => string
}

export const migrations: readonly PgMigration[] = [
  {
    version: 1,
    name: 'initial',
    sql: (s) => `
      CREATE TABLE ${s}.users (
        id            text PRIMARY KEY,
        username      text NOT NULL UNIQUE,
        password_hash text NOT NULL,
        created_at    bigint NOT NULL
      );

      CREATE TABLE ${s}.sessions (
        id                 text PRIMARY KEY,
        user_id            text NOT NULL,
        kind               text NOT NULL CHECK (kind IN ('cookie', 'bearer')),
        created_at         bigint NOT NULL,
        last_used_at       bigint NOT NULL,
        expires_at         bigint NOT NULL,
        refresh_expires_at bigint NOT NULL,
        user_agent         text,
        ip                 text,
        revoked_at         bigint,
        revoked_reason     text,
        generation         integer NOT NULL DEFAULT 0
      );
      CREATE INDEX sessions_user_id ON ${s}.sessions (user_id);
      CREATE INDEX sessions_revoked_at ON ${s}.sessions (revoked_at) WHERE revoked_at IS NOT NULL;

      -- Every refresh token ever issued for a session stays here until the
      -- session is pruned, so a replay of ANY older token is recognised.
      CREATE TABLE ${s}.refresh_tokens (
        hash       text PRIMARY KEY,
        session_id text NOT NULL REFERENCES ${s}.sessions (id) ON DELETE CASCADE,
        generation integer NOT NULL,
        issued_at  bigint NOT NULL,
        rotated_at bigint
      );
      CREATE INDEX refresh_tokens_session_id ON ${s}.refresh_tokens (session_id);

      CREATE TABLE ${s}.keys (
        kid                text PRIMARY KEY,
        alg                text NOT NULL,
        public_jwk         text NOT NULL,
        sealed_private_jwk text NOT NULL,
        created_at         bigint NOT NULL,
        retired_at         bigint
      );

      -- window_ms lets prune() drop a window once it has ended, whatever its length.
      CREATE TABLE ${s}.rate_limits (
        key          text PRIMARY KEY,
        window_start bigint NOT NULL,
        window_ms    bigint NOT NULL,
        count        integer NOT NULL
      );
    `,
  },
  {
    version: 2,
    name: 'refresh-generations',
    // See the SQLite migration of the same name: no per-token rows from now on, and "everyone out" as one row.
    sql: (s) => `
      ALTER TABLE ${s}.sessions ADD COLUMN token_salt text, ADD COLUMN rotated_at bigint;
      CREATE INDEX sessions_expires_at ON ${s}.sessions (expires_at);
      CREATE TABLE ${s}.revocation_epoch (
        id                  integer PRIMARY KEY CHECK (id = 1),
        sessions_not_before bigint NOT NULL
      );
      INSERT INTO ${s}.revocation_epoch (id, sessions_not_before) VALUES (1, 0);
    `,
  },
  {
    version: 3,
    name: 'session device binding',
    // Additive: existing sessions stay unbound (NULL) and refresh as before.
    sql: (s) => `ALTER TABLE ${s}.sessions ADD COLUMN dpop_jkt text;`,
  },
  {
    version: 4,
    name: 'identities and sign-in method',
    sql: (s) => `
      -- A provider account (provider id + its stable subject) belongs to one user.
      CREATE TABLE ${s}.identities (
        provider       text NOT NULL,
        subject        text NOT NULL,
        user_id        text NOT NULL REFERENCES ${s}.users (id) ON DELETE CASCADE,
        email          text,
        email_verified boolean NOT NULL DEFAULT false,
        created_at     bigint NOT NULL,
        PRIMARY KEY (provider, subject)
      );
      CREATE INDEX identities_user_id ON ${s}.identities (user_id);

      -- 'password' or 'oauth:<provider>'; sessions made before this step signed in with a password.
      ALTER TABLE ${s}.sessions ADD COLUMN method text NOT NULL DEFAULT 'password';
    `,
  },
]
