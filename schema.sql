-- Schema of the rooms store in MariaDB (MARIADB_URL). The server applies it at
-- every start, idempotently, through src/persistence/schema.ts:
--
-- * The file is a list of numbered steps ("-- @step N: what it does"), N = 1, 2, 3...
-- * schema_version holds one row per step applied. At start the server takes a
--   named lock (GET_LOCK, so two servers starting together do not race), reads
--   MAX(version), runs every step above it in order, recording each one.
-- * A later change is a NEW step appended at the end; a released step is never
--   edited. MariaDB commits DDL at once, so a step that dies half-way runs again
--   from its start: write steps that can run twice (CREATE ... IF NOT EXISTS,
--   ALTER TABLE ... ADD COLUMN IF NOT EXISTS, CREATE INDEX IF NOT EXISTS), and
--   keep them additive so a server one version older still works with the table.
--   For example:
--     -- @step 2: room topic
--     ALTER TABLE rooms ADD COLUMN IF NOT EXISTS topic VARCHAR(200) CHARACTER SET utf8mb4 NULL;
-- * Statements end with ";" at the end of a line; lines starting with "--" are
--   comments. No ";" inside a statement.
--
-- The account in MARIADB_URL needs SELECT, INSERT, UPDATE, DELETE, CREATE, ALTER
-- and INDEX on its database (and CREATE on the server if the database does not
-- exist yet, which the server then creates).

-- @step 1: rooms and schema_version
CREATE TABLE IF NOT EXISTS schema_version (
  version INT NOT NULL PRIMARY KEY,
  description VARCHAR(200) NOT NULL,
  applied_at TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- room_key: the contract allows only A-Z a-z 0-9 _ - . ~ and compares exactly,
--   so ascii_bin: "Ops" and "ops" are two keys, and no collation folds them.
-- owner: up to 64 characters of any Unicode, so utf8mb4 (emoji included).
-- created_at, last_activity: ms since the epoch as BIGINT, not DATETIME, so the
--   value is the same whatever the session time zone and keeps its milliseconds.
--   Read them with FROM_UNIXTIME(created_at / 1000).
-- status: 'live' (had members when last written) or 'idle' (empty, kept until
--   the retention period ends, then deleted).
CREATE TABLE IF NOT EXISTS rooms (
  room_key VARCHAR(128) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  owner VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
  created_at BIGINT NOT NULL,
  status ENUM('live', 'idle') NOT NULL,
  last_activity BIGINT NOT NULL,
  updated_at TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3),
  PRIMARY KEY (room_key),
  KEY rooms_status_activity (status, last_activity)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- @step 2: room access control (src/access)
-- secret_hash: "scrypt$N$r$p$SALT$HASH" of the room secret (NULL: not protected);
--   never the secret itself.
-- owner_token_hash: hex SHA-256 of the owner token handed to the creator once.
-- locked: 1 while the owner has locked the room against new joins.
ALTER TABLE rooms ADD COLUMN IF NOT EXISTS secret_hash VARCHAR(255) CHARACTER SET ascii COLLATE ascii_bin NULL;
ALTER TABLE rooms ADD COLUMN IF NOT EXISTS owner_token_hash CHAR(64) CHARACTER SET ascii COLLATE ascii_bin NULL;
ALTER TABLE rooms ADD COLUMN IF NOT EXISTS locked TINYINT(1) NOT NULL DEFAULT 0;
-- @step 3: message history (HISTORY_SIZE, HISTORY_TTL; src/history/mariadb-history-store.ts)
-- history_rooms: one row per room with history. epoch names the room's unbroken
--   history; last_seq is the latest seq given out in it (messages may have been
--   pruned since); clean = 1 only between a clean stop and the next start, which
--   sets it back to 0: a row found with clean = 0 after a crash gets a new epoch.
-- history_messages: the latest messages per room, keyed by (room_key, seq);
--   a row counts only under its room's current epoch. Pruned by count at each
--   write and by age (ts, ms since the epoch) in small batches.
CREATE TABLE IF NOT EXISTS history_rooms (
  room_key VARCHAR(128) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  epoch VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  last_seq BIGINT NOT NULL,
  clean TINYINT NOT NULL DEFAULT 0,
  PRIMARY KEY (room_key)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE IF NOT EXISTS history_messages (
  room_key VARCHAR(128) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  seq BIGINT NOT NULL,
  epoch VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  opcode TINYINT NOT NULL,
  sender VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
  ts BIGINT NOT NULL,
  payload LONGBLOB NOT NULL,
  PRIMARY KEY (room_key, seq),
  KEY history_messages_ts (ts)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
