/**
 * Versioned schema of the SQLite store. Append new steps; never edit an
 * applied one. `migrate()` applies every step whose version is not yet in
 * `schema_migrations`, all in one `BEGIN IMMEDIATE` transaction, so two
 * processes starting at once apply each step exactly once (the second waits
 * on the write lock, then finds nothing to do).
 */
export interface Migration {
  version: number
  name: string
  sql: string
}

export const migrations: readonly Migration[] = [
  {
    version: 1,
    name: 'initial',
    sql: `
      CREATE TABLE users (
        id            TEXT PRIMARY KEY,
        username      TEXT NOT NULL UNIQUE,
        password_hash TEXT NOT NULL,
        created_at    INTEGER NOT NULL
      );

      CREATE TABLE sessions (
        id                 TEXT PRIMARY KEY,
        user_id            TEXT NOT NULL,
        kind               TEXT NOT NULL CHECK (kind IN ('cookie', 'bearer')),
        created_at         INTEGER NOT NULL,
        last_used_at       INTEGER NOT NULL,
        expires_at         INTEGER NOT NULL,
        refresh_expires_at INTEGER NOT NULL,
        user_agent         TEXT,
        ip                 TEXT,
        revoked_at         INTEGER,
        revoked_reason     TEXT,
        generation         INTEGER NOT NULL DEFAULT 0
      );
      CREATE INDEX sessions_user_id ON sessions (user_id);
      CREATE INDEX sessions_revoked_at ON sessions (revoked_at) WHERE revoked_at IS NOT NULL;

      -- Every refresh token ever issued for a session stays here until the
      -- session is pruned, so a replay of ANY older token is recognised.
      CREATE TABLE refresh_tokens (
        hash       TEXT PRIMARY KEY,
        session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
        generation INTEGER NOT NULL,
        issued_at  INTEGER NOT NULL,
        rotated_at INTEGER
      );
      CREATE INDEX refresh_tokens_session_id ON refresh_tokens (session_id);

      CREATE TABLE keys (
        kid                TEXT PRIMARY KEY,
        alg                TEXT NOT NULL,
        public_jwk         TEXT NOT NULL,
        sealed_private_jwk TEXT NOT NULL,
        created_at         INTEGER NOT NULL,
        retired_at         INTEGER
      );

      -- window_ms lets prune() drop a window once it has ended, whatever its length.
      CREATE TABLE rate_limits (
        key          TEXT PRIMARY KEY,
        window_start INTEGER NOT NULL,
        window_ms    INTEGER NOT NULL,
        count        INTEGER NOT NULL
      );
    `,
  },
  {
    version: 2,
    name: 'refresh-generations',
    sql: `
      -- Refresh tokens carry their generation under a MAC salted per session
      -- (sessions.ts): nothing per token is stored from now on. Sessions made
      -- before keep their refresh_tokens rows (no more are written) until
      -- their next refresh moves them, or prune deletes them.
      ALTER TABLE sessions ADD COLUMN token_salt TEXT;
      ALTER TABLE sessions ADD COLUMN rotated_at INTEGER;
      CREATE INDEX sessions_expires_at ON sessions (expires_at);

      -- "Everyone out" is one row, not a write per session.
      CREATE TABLE revocation_epoch (
        id                  INTEGER PRIMARY KEY CHECK (id = 1),
        sessions_not_before INTEGER NOT NULL
      );
      INSERT INTO revocation_epoch (id, sessions_not_before) VALUES (1, 0);
    `,
  },
  {
    version: 3,
    name: 'session device binding',
    // Additive: existing sessions stay unbound (NULL) and refresh as before.
    sql: `ALTER TABLE sessions ADD COLUMN dpop_jkt TEXT;`,
  },
  {
    version: 4,
    name: 'identities and sign-in method',
    sql: `
      -- A provider account (provider id + its stable subject) belongs to one user.
      CREATE TABLE identities (
        provider       TEXT NOT NULL,
        subject        TEXT NOT NULL,
        user_id        TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
        email          TEXT,
        email_verified INTEGER NOT NULL DEFAULT 0,
        created_at     INTEGER NOT NULL,
        PRIMARY KEY (provider, subject)
      );
      CREATE INDEX identities_user_id ON identities (user_id);

      -- 'password' or 'oauth:<provider>'; sessions made before this step signed in with a password.
      ALTER TABLE sessions ADD COLUMN method TEXT NOT NULL DEFAULT 'password';
    `,
  },
]
